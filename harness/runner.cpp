// Runner::run (runner.h): the cells' supervision. Starts cells as jobs allow, reads their events
// and output, runs the watchdog and classifies each cell once its ranks are gone. The records and
// series are in runner_records.cpp, what the machine offers in runner_machine.cpp.
#include "harness/runner.h"

#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstring>
#include <memory>

#include "harness/errors.h"
#include "harness/process.h"
#include "harness/store.h"
#include "protocol/events.h"

namespace tw {
using nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

constexpr std::size_t kMaxEventLine = 1u << 20;  // longer lines are protocol errors
constexpr std::size_t kReadChunk = 64u << 10;
constexpr int kMaxChunksPerPoll = 16;  // so one chatty cell cannot starve the rest
constexpr int kKeptBadLines = 3;
constexpr int kMaxDrainChunks = 1024;  // after exit, what escaped processes write is not awaited

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

struct RankProc {
  pid_t pid = -1;
  int event_fd = -1;
  int output_fd = -1;
  std::string partial;      // incomplete event line
  bool discarding = false;  // inside an over-long line
  bool exited = false;
  RankExit exit;
};

struct Running {
  std::size_t index = 0;
  CellSpec spec;
  std::vector<RankProc> ranks;
  pid_t pgid = -1;
  Clock::time_point start, last_event;
  std::string watchdog;
  double silence = 0;
  bool term_sent = false, kill_sent = false;
  Clock::time_point term_at, peer_exit_at;
  bool peer_exit = false;
  Observation obs;
  std::size_t event_bytes = 0;
  std::size_t events_dropped = 0;
  std::unique_ptr<PartialFile> events_file, log_file;
  std::size_t log_bytes = 0, log_dropped = 0;
  std::string tail;
  bool lingering = false;    // processes were still in the group after every rank exited
  int64_t requested_mb = 0;  // limits.memory_mb as the scenario asked; spec has the budget used
};

void close_fd(int& fd) {
  if (fd >= 0) close(fd);
  fd = -1;
}

}  // namespace

Runner::Runner(RunnerOptions options) : options_(std::move(options)) {
  TW_CHECK(options_.jobs >= 1, "jobs must be positive");
}

namespace {

// Reads what a descriptor has, a bounded number of chunks (many more when draining after exit),
// handing each chunk to `on_data`; at EOF calls `on_eof` and closes it. Stops when a read would
// block.
template <class OnData, class OnEof>
void read_chunks(int& fd, bool drain, OnData on_data, OnEof on_eof) {
  char buf[kReadChunk];
  for (int chunk = 0; fd >= 0 && chunk < (drain ? kMaxDrainChunks : kMaxChunksPerPoll); ++chunk) {
    const ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      if (n == 0) {
        on_eof();
        close_fd(fd);
      }
      return;
    }
    on_data(buf, static_cast<std::size_t>(n));
  }
}

// One call of Runner::run: the cells, their records and the ones running now. Starts cells as
// jobs allow, reads their events and output, watches them (wall clock, heartbeat, a rank that
// died) and classifies each once every rank is gone.
class Supervision {
 public:
  Supervision(const RunnerOptions& options, const std::vector<CellSpec>& cells, const Runner::DoneCallback& on_done,
              const Runner::StartCallback& on_start)
      : options_(options),
        cells_(cells),
        on_done_(on_done),
        on_start_(on_start),
        records_(cells.size()),
        machine_mb_(options.machine_memory_mb > 0 ? options.machine_memory_mb : machine_memory_mb()) {}

  std::vector<CellRecord> run();

 private:
  std::vector<std::size_t> start_order() const;
  void start_due(const std::vector<std::size_t>& order, std::size_t& next);
  bool exclusive_running() const;
  void wait_for_activity();
  void start_cell(std::size_t index);
  void start_ranks(Running& r);
  void finish(Running& r);
  void handle_line(Running& r, int rank, const std::string& line);
  void read_events(Running& r, int rank, bool drain);
  void read_output(Running& r, int rank, bool drain);
  bool all_ranks_exited(Running& r);
  void watch(Running& r);
  void reap(Running& r);

  const RunnerOptions& options_;
  const std::vector<CellSpec>& cells_;
  const Runner::DoneCallback& on_done_;
  const Runner::StartCallback& on_start_;
  std::vector<CellRecord> records_;
  const long long machine_mb_;
  std::vector<std::unique_ptr<Running>> running_;
};

// Whatever goes wrong in the loop (results unwritable, ...), no cell is left running.
struct KillAll {
  std::vector<std::unique_ptr<Running>>& running;
  ~KillAll() {
    for (auto& r : running) {
      signal_group(r->pgid, SIGKILL);
      for (auto& p : r->ranks) {
        // A rank outside the group (it could not join) is killed on its own, never awaited alive.
        if (p.pid > 0 && !p.exited) kill(p.pid, SIGKILL);
        if (p.pid > 0) waitpid(p.pid, nullptr, 0);
        close_fd(p.event_fd);
        close_fd(p.output_fd);
      }
    }
  }
};

// Exclusive cells (limits.exclusive: the whole GPU, timings) run after the others, one at a
// time with nothing beside them; the rest keep the plan's order.
std::vector<std::size_t> Supervision::start_order() const {
  std::vector<std::size_t> order;
  for (std::size_t i = 0; i < cells_.size(); ++i)
    if (!cells_[i].limits.exclusive) order.push_back(i);
  for (std::size_t i = 0; i < cells_.size(); ++i)
    if (cells_[i].limits.exclusive) order.push_back(i);
  return order;
}

std::vector<CellRecord> Supervision::run() {
  const std::vector<std::size_t> order = start_order();
  std::size_t next = 0;
  KillAll kill_all{running_};
  while (next < order.size() || !running_.empty()) {
    if (options_.interrupt && *options_.interrupt) break;  // kill_all ends the running cells
    start_due(order, next);
    if (running_.empty()) continue;
    wait_for_activity();
    for (std::size_t ri = 0; ri < running_.size();) {
      Running& r = *running_[ri];
      for (std::size_t k = 0; k < r.ranks.size(); ++k) {
        read_events(r, static_cast<int>(k), false);
        read_output(r, static_cast<int>(k), false);
      }
      if (!all_ranks_exited(r)) {
        watch(r);
        ++ri;
        continue;
      }
      reap(r);
      finish(r);
      running_.erase(running_.begin() + static_cast<std::ptrdiff_t>(ri));
    }
  }
  return std::move(records_);
}

void Supervision::start_due(const std::vector<std::size_t>& order, std::size_t& next) {
  while (running_.size() < static_cast<std::size_t>(options_.jobs) && next < order.size()) {
    const CellSpec& spec = cells_[order[next]];
    const bool alone = spec.limits.exclusive && spec.unsupported_reason.empty();
    if (!running_.empty() && (alone || exclusive_running())) break;
    start_cell(order[next++]);
  }
}

bool Supervision::exclusive_running() const {
  for (const auto& r : running_)
    if (r->spec.limits.exclusive) return true;
  return false;
}

// Until a running cell writes something, or 50 ms (20 ms when nothing can be polled).
void Supervision::wait_for_activity() {
  std::vector<pollfd> fds;
  for (auto& r : running_)
    for (auto& p : r->ranks) {
      if (p.event_fd >= 0) fds.push_back({p.event_fd, POLLIN, 0});
      if (p.output_fd >= 0) fds.push_back({p.output_fd, POLLIN, 0});
    }
  if (!fds.empty()) {
    poll(fds.data(), fds.size(), 50);
  } else {
    usleep(20000);
  }
}

void Supervision::finish(Running& r) {
  CellRecord& rec = records_[r.index];
  rec.spec = r.spec;
  r.obs.wall_seconds = seconds_since(r.start);
  r.obs.watchdog = r.watchdog;
  r.obs.silence_seconds = r.silence;
  for (const auto& p : r.ranks) r.obs.ranks.push_back(p.exit);
  Classification c = classify(r.obs);
  rec.outcome = c.outcome;
  rec.evidence = std::move(c.evidence);
  if (r.events_dropped > 0) rec.evidence["events_dropped"] = r.events_dropped;
  if (r.log_dropped > 0) rec.evidence["log_bytes_dropped"] = r.log_dropped;
  if (r.lingering) rec.evidence["lingering_processes_killed"] = true;
  if (r.obs.unsupported_reason.empty()) {
    rec.evidence["memory_budget_mb"] = r.spec.limits.memory_mb;
    if (r.spec.limits.memory_mb != r.requested_mb) rec.evidence["memory_budget_requested_mb"] = r.requested_mb;
  }
  rec.series = extract_series(r.obs.events);
  rec.log_tail = r.tail;
  rec.wall_seconds = r.obs.wall_seconds;
  rec.verdict = verdict_for(r.spec.expected, rec.outcome);
  if (r.events_file) r.events_file->commit();
  if (r.log_file) r.log_file->commit();
  if (on_done_) on_done_(rec);
}

void Supervision::start_cell(std::size_t index) {
  if (on_start_) on_start_(cells_[index]);
  auto r = std::make_unique<Running>();
  r->index = index;
  r->spec = cells_[index];
  const CellSpec& spec = r->spec;
  // On the CPU the budget is the machine's memory; on CUDA it is the card's (the cell takes
  // the whole card when it asks for more), so only a CPU cell's budget is capped here.
  r->requested_mb = spec.limits.memory_mb;
  if (spec.device != "cuda" && machine_mb_ > 0 && spec.limits.memory_mb > machine_mb_)
    r->spec.limits.memory_mb = machine_mb_;
  r->obs.limits = spec.limits;
  if (options_.timeout_override > 0) {
    r->obs.limits.wall_seconds = options_.timeout_override;
    r->obs.limits.heartbeat_seconds = std::min(r->obs.limits.heartbeat_seconds, options_.timeout_override);
  }
  r->start = r->last_event = Clock::now();
  if (!spec.unsupported_reason.empty()) {
    r->obs.unsupported_reason = spec.unsupported_reason;
    finish(*r);
    return;
  }
  if (!options_.cells_dir.empty()) {
    r->events_file = std::make_unique<PartialFile>(options_.cells_dir + "/" + spec.file_stem() + ".jsonl");
    r->log_file = std::make_unique<PartialFile>(options_.cells_dir + "/" + spec.file_stem() + ".log");
  }
  start_ranks(*r);
  running_.push_back(std::move(r));
}

void Supervision::start_ranks(Running& r) {
  const CellSpec& spec = r.spec;
  const int port = spec.ranks > 1 ? free_local_port() : 0;
  const std::string spec_text = spec.to_json().dump();
  for (int rank = 0; rank < spec.ranks; ++rank) {
    ProcessSpec ps;
    ps.exe = options_.exe;
    ps.args = {"cell", spec_text};
    ps.env = options_.env;
    ps.env.push_back("TRAINWRECK_CELL=" + spec.id);
    if (spec.ranks > 1) {
      ps.env.push_back("RANK=" + std::to_string(rank));
      ps.env.push_back("LOCAL_RANK=" + std::to_string(rank));
      ps.env.push_back("WORLD_SIZE=" + std::to_string(spec.ranks));
      ps.env.push_back("MASTER_ADDR=127.0.0.1");
      ps.env.push_back("MASTER_PORT=" + std::to_string(port));
    }
    const long long host_mb =
        machine_mb_ > 0 ? std::min<long long>(spec.limits.memory_mb, machine_mb_) : spec.limits.memory_mb;
    ps.data_limit_bytes = host_mb * (1LL << 20) + options_.data_slack_bytes;
    // The first rank that starts leads the cell's group and the others join it, so the
    // watchdog can always signal every rank, even when rank 0 could not be started.
    ps.process_group = r.pgid > 0 ? r.pgid : 0;
    RankProc p;
    try {
      ChildProcess child = options_.spawn ? options_.spawn(ps) : spawn_process(ps);
      p.pid = child.pid;
      p.event_fd = child.event_fd;
      p.output_fd = child.output_fd;
      if (r.pgid <= 0) r.pgid = p.pid;
    } catch (const std::system_error& e) {
      // Could not start: recorded as an error of this cell, the run goes on. For the peers it
      // is a rank that exited at once: they get the peer grace period, then the group is ended.
      p.exited = true;
      p.exit.exited = true;
      p.exit.exit_code = 127;
      r.obs.events.push_back({{"event", to_string(EventType::kError)},
                              {"kind", to_string(ErrorKind::kException)},
                              {"rank", rank},
                              {"message", std::string("could not start the cell process: ") + e.what()}});
      if (!r.peer_exit) {
        r.peer_exit = true;
        r.peer_exit_at = Clock::now();
      }
    }
    r.ranks.push_back(std::move(p));
  }
}

void Supervision::handle_line(Running& r, int rank, const std::string& line) {
  if (line.empty()) return;
  json e = json::parse(line, nullptr, false);
  if (e.is_discarded() || !e.is_object() || !e.contains("event") || !e["event"].is_string()) {
    ++r.obs.protocol_errors;
    if (static_cast<int>(r.obs.bad_lines.size()) < kKeptBadLines) r.obs.bad_lines.push_back(line.substr(0, 120));
    return;
  }
  r.last_event = Clock::now();
  e["rank"] = rank;
  if (r.event_bytes + line.size() > options_.event_cap_bytes) {
    ++r.events_dropped;
    return;
  }
  r.event_bytes += line.size();
  if (r.events_file) r.events_file->write(e.dump() + "\n");
  r.obs.events.push_back(std::move(e));
}

void Supervision::read_events(Running& r, int rank, bool drain) {
  RankProc& p = r.ranks[rank];
  auto on_data = [&](const char* buf, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) {
      const char c = buf[i];
      if (c == '\n') {
        if (p.discarding) {
          ++r.obs.protocol_errors;
          if (static_cast<int>(r.obs.bad_lines.size()) < kKeptBadLines)
            r.obs.bad_lines.push_back("(line over " + std::to_string(kMaxEventLine) + " bytes)");
        } else {
          handle_line(r, rank, p.partial);
        }
        p.partial.clear();
        p.discarding = false;
      } else if (!p.discarding) {
        p.partial.push_back(c);
        if (p.partial.size() > kMaxEventLine) {
          p.partial.clear();
          p.discarding = true;
        }
      }
    }
  };
  auto on_eof = [&] {
    // A trailing partial line is a truncated event.
    if (!p.partial.empty() || p.discarding) handle_line(r, rank, p.partial + "\x01");
    p.partial.clear();
  };
  read_chunks(p.event_fd, drain, on_data, on_eof);
}

void Supervision::read_output(Running& r, int rank, bool drain) {
  auto on_data = [&](const char* buf, std::size_t len) {
    const std::size_t keep =
        r.log_bytes < options_.log_cap_bytes ? std::min(len, options_.log_cap_bytes - r.log_bytes) : 0;
    if (keep > 0 && r.log_file) r.log_file->write(std::string(buf, keep));
    r.log_bytes += keep;
    r.log_dropped += len - keep;
    r.tail.append(buf, len);
    if (r.tail.size() > options_.log_tail_bytes) r.tail.erase(0, r.tail.size() - options_.log_tail_bytes);
  };
  read_chunks(r.ranks[rank].output_fd, drain, on_data, [] {});
}

// Exit detection without reaping (WNOWAIT): ranks are reaped together once all exited.
bool Supervision::all_ranks_exited(Running& r) {
  bool all_exited = true;
  for (auto& p : r.ranks) {
    if (!p.exited) {
      siginfo_t info{};
      if (waitid(P_PID, static_cast<id_t>(p.pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info.si_pid == p.pid) {
        p.exited = true;
        p.exit.exited = true;
        if (info.si_code == CLD_EXITED) {
          p.exit.exit_code = info.si_status;
        } else {
          p.exit.signal = info.si_status;
        }
        if ((p.exit.signal != 0 || p.exit.exit_code != 0) && !r.peer_exit) {
          r.peer_exit = true;
          r.peer_exit_at = Clock::now();
        }
      }
    }
    all_exited = all_exited && p.exited;
  }
  return all_exited;
}

// The watchdog: over the wall clock, silent past the heartbeat, or a peer rank gone for longer
// than its grace: SIGTERM to the group, then SIGKILL after the grace period.
void Supervision::watch(Running& r) {
  const double quiet = seconds_since(r.last_event);
  if (r.watchdog.empty() && !r.term_sent) {
    if (seconds_since(r.start) > r.obs.limits.wall_seconds) {
      r.watchdog = "wall";
    } else if (quiet > r.obs.limits.heartbeat_seconds) {
      r.watchdog = "heartbeat";
    }
    if (!r.watchdog.empty()) r.silence = quiet;
    if (!r.watchdog.empty() || (r.peer_exit && seconds_since(r.peer_exit_at) > options_.peer_grace_seconds)) {
      signal_group(r.pgid, SIGTERM);
      r.term_sent = true;
      r.term_at = Clock::now();
    }
  } else if (r.term_sent && !r.kill_sent && seconds_since(r.term_at) > options_.term_grace_seconds) {
    signal_group(r.pgid, SIGKILL);
    r.kill_sent = true;
  }
}

// Every rank is gone: grandchildren left in the group go too, then reap and drain.
// Linux does not reuse a pid as a new group id while the old group has members, so
// after reaping the ranks a successful probe of the group means grandchildren were left
// behind. (With no members left the id could in principle be reused between the reap
// and the probe; pids are not recycled that fast in practice.)
void Supervision::reap(Running& r) {
  for (auto& p : r.ranks)
    if (p.pid > 0) waitpid(p.pid, nullptr, 0);
  if (signal_group(r.pgid, 0)) {
    r.lingering = true;
    signal_group(r.pgid, SIGKILL);
  }
  for (std::size_t k = 0; k < r.ranks.size(); ++k) {
    read_events(r, static_cast<int>(k), true);
    read_output(r, static_cast<int>(k), true);
    close_fd(r.ranks[k].event_fd);
    close_fd(r.ranks[k].output_fd);
  }
}

}  // namespace

std::vector<CellRecord> Runner::run(const std::vector<CellSpec>& cells, const DoneCallback& on_done,
                                    const StartCallback& on_start) {
  return Supervision(options_, cells, on_done, on_start).run();
}

}  // namespace tw
