#include "harness/progress.h"

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <sstream>

namespace tw {

namespace {
constexpr const char* kEraseLine = "\r\033[K";
constexpr auto kRedrawEvery = std::chrono::milliseconds(500);

std::string duration(double seconds) {
  const long s = std::lround(std::max(0.0, seconds));
  std::ostringstream os;
  if (s >= 3600) os << s / 3600 << "h" << (s % 3600) / 60 << "m";
  else if (s >= 60) os << s / 60 << "m" << s % 60 << "s";
  else os << s << "s";
  return os.str();
}
}  // namespace

std::size_t terminal_columns(int fd) {
  winsize ws{};
  if (ioctl(fd, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) return ws.ws_col;
  return 0;
}

Progress::Progress(std::ostream& out, bool terminal, std::size_t total, std::size_t done_already)
    : out_(out),
      terminal_(terminal),
      total_(total),
      done_before_(done_already),
      start_(std::chrono::steady_clock::now()) {
  if (terminal_) thread_ = std::thread([this] { ticker(); });
}

Progress::~Progress() { close(); }

double Progress::estimate_seconds(double elapsed) const {
  if (done_ == 0) return -1;
  const std::size_t left = total_ - std::min(total_, done_before_ + done_);
  return elapsed / static_cast<double>(done_) * static_cast<double>(left);
}

std::string Progress::status_line(double elapsed, std::size_t width) const {
  std::ostringstream os;
  os << "[" << done_before_ + done_ << "/" << total_ << "] " << duration(elapsed) << " elapsed";
  const double left = estimate_seconds(elapsed);
  if (left >= 0) os << ", ~" << duration(left) << " left";
  if (!running_.empty()) {
    os << "; running " << running_.size() << ":";
    for (const auto& id : running_) os << " " << id;
  }
  std::string line = os.str();
  // A line that wraps cannot be redrawn in place.
  if (width > 1 && line.size() > width - 1) line = line.substr(0, width > 4 ? width - 4 : 0) + "...";
  return line;
}

void Progress::redraw_locked() {
  if (!terminal_ || closed_) return;
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  out_ << kEraseLine << status_line(elapsed, terminal_columns(2)) << std::flush;
  drawn_ = true;
}

void Progress::ticker() {
  std::unique_lock<std::mutex> lock(mutex_);
  while (!closed_) {
    redraw_locked();
    wake_.wait_for(lock, kRedrawEvery);
  }
}

void Progress::started(const std::string& id) {
  std::lock_guard<std::mutex> lock(mutex_);
  running_.push_back(id);
  redraw_locked();
}

void Progress::finished(const std::string& id, const std::string& line, bool failure) {
  std::lock_guard<std::mutex> lock(mutex_);
  running_.erase(std::remove(running_.begin(), running_.end(), id), running_.end());
  ++done_;
  std::ostringstream os;
  os << "[" << done_before_ + done_ << "/" << total_ << "] " << line;
  if (terminal_) {
    out_ << kEraseLine << (failure ? "\033[31m" : "") << os.str() << (failure ? "\033[0m" : "") << "\n";
    redraw_locked();
  } else {
    out_ << os.str() << "\n" << std::flush;
  }
}

void Progress::close() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (closed_) return;
    closed_ = true;
    if (drawn_) out_ << kEraseLine << std::flush;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

}  // namespace tw
