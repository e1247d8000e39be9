#pragma once
// Progress of a run on stderr. On a terminal: finished cells scroll above one status line
// (cells done/total, running cells, elapsed, estimate) that is redrawn in place. Elsewhere
// (CI logs, files): one plain line per finished cell, nothing redrawn.
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <ostream>
#include <string>
#include <thread>
#include <vector>

namespace tw {

class Progress {
 public:
  // `done_already`: cells counted as done before this run started (resumed runs).
  Progress(std::ostream& out, bool terminal, std::size_t total, std::size_t done_already);
  ~Progress();
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  void started(const std::string& id);
  // `line` describes the finished cell; `failure` colours it on a terminal.
  void finished(const std::string& id, const std::string& line, bool failure);
  // Erases the status line and stops redrawing; called before the matrix is printed.
  void close();

  // The status line at `elapsed` seconds, at most `width` columns (0: no limit).
  std::string status_line(double elapsed, std::size_t width) const;
  // Seconds left, from the pace of the cells finished in this run; < 0 while unknown.
  double estimate_seconds(double elapsed) const;

 private:
  void redraw_locked();
  void ticker();

  std::ostream& out_;
  const bool terminal_;
  const std::size_t total_;
  const std::size_t done_before_;
  std::size_t done_ = 0;  // in this run
  std::vector<std::string> running_;
  const std::chrono::steady_clock::time_point start_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  bool closed_ = false;
  bool drawn_ = false;
  std::thread thread_;
};

// Columns of the terminal on `fd`; 0 when it is not one or does not say.
std::size_t terminal_columns(int fd);

}  // namespace tw
