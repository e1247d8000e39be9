#include "harness/selftest.h"

#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <new>
#include <stdexcept>
#include <thread>
#include <vector>

namespace tw {
using nlohmann::json;

namespace {

void step(const EventWriter& ev, long long k, double loss, long long mem = -1) {
  json e = {{"step", k}, {"loss", loss}};
  if (mem >= 0) e["mem"] = mem;
  ev.emit(EventType::kStep, e);
}

void end_ok(const EventWriter& ev, double loss) {
  ev.emit(EventType::kEnd, {{"reached_target", true}, {"target_loss", 0.1}, {"final_loss", loss}});
}

// The segfault must reach the kernel as SIGSEGV in every build: UBSan would report the null
// store and exit, and a sanitizer's SIGSEGV handler would turn the signal into exit code 1.
__attribute__((no_sanitize("undefined"))) void write_through_null() {
  signal(SIGSEGV, SIG_DFL);
  volatile int* p = nullptr;
  *p = 1;
}

long long vm_data_bytes() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmData:", 0) == 0) return std::atoll(line.c_str() + 7) * 1024;
  return 0;
}

// What each self-test cell does, by fault.
void run_ok(const json& cell, const EventWriter& ev) {
  // The seed it was given: evidence that each seed of --seeds reaches its cell.
  ev.emit(EventType::kEvidence, {{"seed", cell.value("seed", json(0))}});
  for (int k = 1; k <= 5; ++k) step(ev, k, 1.0 / k);
  end_ok(ev, 0.2);
}

void run_segfault(const json&, const EventWriter& ev) {
  step(ev, 1, 1.0);
  write_through_null();
}

void run_abort(const json&, const EventWriter& ev) {
  step(ev, 1, 1.0);
  std::abort();
}

void run_sigkill(const json&, const EventWriter& ev) {
  step(ev, 1, 1.0);
  raise(SIGKILL);
}

void run_uncaught_exception(const json&, const EventWriter& ev) {
  step(ev, 1, 1.0);
  std::thread([] { throw std::runtime_error("selftest: nobody catches this"); }).join();
}

void run_exit_nonzero(const json&, const EventWriter&) { _exit(7); }

void run_exception(const json&, const EventWriter& ev) {
  ev.error(ErrorKind::kException, "selftest: a caught exception", {{"step", 0}});
}

void run_hang(const json&, const EventWriter& ev) {
  step(ev, 1, 1.0);
  for (;;) pause();
}

void run_syscall_hang(const json&, const EventWriter&) {
  int fds[2];
  if (pipe(fds) == 0) {
    char c;
    ssize_t ignored = read(fds[0], &c, 1);
    (void)ignored;
  }
}

void run_busy_loop(const json&, const EventWriter&) {
  volatile unsigned long long x = 0;
  for (;;) x = x + 1;
}

void run_ignore_sigterm(const json&, const EventWriter& ev) {
  signal(SIGTERM, SIG_IGN);
  step(ev, 1, 1.0);
  for (;;) pause();
}

void run_oom(const json& cell, const EventWriter& ev) {
  const long long budget = cell.at("limits").at("memory_mb").get<long long>() << 20;
  limit_data_growth(budget);
  std::vector<char*> blocks;
  long long total = 0;
  constexpr std::size_t kBlock = 8u << 20;
  for (;;) {
    char* p = static_cast<char*>(std::malloc(kBlock));
    if (!p) {
      ev.error(ErrorKind::kOom, "malloc failed after " + std::to_string(total >> 20) + " MiB (budget " +
                                    std::to_string(budget >> 20) + " MiB)");
      break;
    }
    std::memset(p, 1, kBlock);
    blocks.push_back(p);
    total += kBlock;
    step(ev, static_cast<long long>(blocks.size()), 1.0, total);
  }
  for (char* p : blocks) std::free(p);
}

void run_garbage_events(const json&, const EventWriter& ev) {
  const char garbage[] = "this is not json\n{\"no_event_field\": 1}\n\x01\x02\xff\xfe binary\n[1,2,3]\n";
  ssize_t ignored = write(ev.fd(), garbage, sizeof garbage - 1);
  (void)ignored;
}

void run_truncated_event(const json&, const EventWriter& ev) {
  step(ev, 1, 1.0);
  const char half[] = "{\"event\": \"step\", \"step\": 2, \"lo";
  ssize_t ignored = write(ev.fd(), half, sizeof half - 1);
  (void)ignored;
  _exit(0);
}

void run_no_end(const json&, const EventWriter& ev) { step(ev, 1, 1.0); }

void run_grandchild(const json&, const EventWriter& ev) {
  const pid_t pid = fork();  // no LibTorch or CUDA in this process: forking is safe here
  if (pid == 0) {
    for (;;) pause();
  }
  ev.emit(EventType::kEvidence, {{"grandchild_pid", pid}});
  step(ev, 1, 0.05);
  end_ok(ev, 0.05);
}

void run_flood_output(const json&, const EventWriter& ev) {
  std::vector<char> line(1 << 16, 'x');
  line.back() = '\n';
  for (int i = 0; i < (1 << 14); ++i) {  // 16384 * 64 KiB = 1 GiB
    if (fwrite(line.data(), 1, line.size(), stdout) != line.size()) break;
    if (i % 1024 == 0) step(ev, i / 1024 + 1, 1.0);
  }
  fflush(stdout);
  end_ok(ev, 0.05);
}

void run_diverge(const json&, const EventWriter& ev) {
  step(ev, 1, 1.0);
  step(ev, 2, 30.0);
  ev.emit(EventType::kStep, {{"step", 3}, {"loss", "nan"}});
  ev.emit(EventType::kEnd, {{"reached_target", false}, {"target_loss", 0.1}, {"final_loss", "nan"}});
}

void run_leak(const json&, const EventWriter& ev) {
  std::vector<std::vector<char>> kept;
  for (int k = 1; k <= 40; ++k) {
    kept.emplace_back(4u << 20, static_cast<char>(k));
    step(ev, k, 1.0 / k, static_cast<long long>(kept.size()) * (4 << 20));
  }
  end_ok(ev, 0.05);
}

struct SelftestFault {
  const char* name;
  const char* summary;
  Outcome expected;
  void (*run)(const json& cell, const EventWriter& ev);  // what the cell process does
};

constexpr SelftestFault kFaults[] = {
    {"selftest_ok", "trains a fake loss to its target", Outcome::kHealthy, run_ok},
    {"selftest_segfault", "writes through a null pointer (SIGSEGV)", Outcome::kCrash, run_segfault},
    {"selftest_abort", "calls abort() (SIGABRT)", Outcome::kCrash, run_abort},
    {"selftest_sigkill", "kills itself with SIGKILL", Outcome::kCrash, run_sigkill},
    {"selftest_uncaught_exception", "throws an exception nobody catches (std::terminate)", Outcome::kCrash,
     run_uncaught_exception},
    {"selftest_exit_nonzero", "exits with code 7 and no event", Outcome::kError, run_exit_nonzero},
    {"selftest_exception", "reports a caught exception as an error event", Outcome::kError, run_exception},
    {"selftest_hang", "sleeps forever after one step", Outcome::kHang, run_hang},
    {"selftest_syscall_hang", "blocks forever in read(2) on a pipe nobody writes", Outcome::kHang, run_syscall_hang},
    {"selftest_busy_loop", "spins on the CPU forever", Outcome::kHang, run_busy_loop},
    {"selftest_ignore_sigterm", "ignores SIGTERM and sleeps", Outcome::kHang, run_ignore_sigterm},
    {"selftest_oom", "allocates past its memory budget", Outcome::kOom, run_oom},
    {"selftest_garbage_events", "writes garbage on the event pipe, then exits", Outcome::kError, run_garbage_events},
    {"selftest_truncated_event", "writes half an event line, then exits", Outcome::kError, run_truncated_event},
    {"selftest_no_end", "exits 0 without an end event", Outcome::kError, run_no_end},
    {"selftest_grandchild", "leaves a grandchild process running and ends normally", Outcome::kHealthy, run_grandchild},
    {"selftest_flood_output", "writes a gigabyte to stdout, then ends normally", Outcome::kHealthy, run_flood_output},
    {"selftest_diverge", "reports a NaN loss at step 3", Outcome::kDiverged, run_diverge},
    {"selftest_leak", "keeps every step's allocation alive", Outcome::kLeak, run_leak},
};

}  // namespace

void limit_data_growth(long long budget_bytes) {
  const long long limit = vm_data_bytes() + budget_bytes;
  struct rlimit rl {};
  getrlimit(RLIMIT_DATA, &rl);
  if (rl.rlim_max != RLIM_INFINITY && static_cast<long long>(rl.rlim_max) < limit) return;
  rl.rlim_cur = static_cast<rlim_t>(limit);
  setrlimit(RLIMIT_DATA, &rl);
}

Catalog selftest_catalog() {
  Catalog c;
  for (const auto& f : kFaults) {
    ComponentInfo info;
    info.name = f.name;
    info.summary = f.summary;
    info.article_row = "harness self-test";
    c.faults.push_back(info);
  }
  ComponentInfo none;
  none.name = "none";
  none.summary = "no remedy: the fault as it is";
  none.article_row = "all";
  c.mitigations.push_back(none);
  return c;
}

bool is_selftest_fault(const std::string& fault) { return fault.rfind("selftest_", 0) == 0; }

void run_selftest_cell(const json& cell, const EventWriter& ev) {
  const std::string fault = cell.at("fault").get<std::string>();
  ev.emit(EventType::kStart, {{"pid", getpid()}});
  for (const auto& f : kFaults)
    if (fault == f.name) return f.run(cell, ev);
  ev.error(ErrorKind::kException, "unknown self-test fault " + fault);
}

std::vector<Scenario> selftest_scenarios() {
  std::vector<Scenario> out;
  for (const auto& f : kFaults) {
    Scenario s;
    s.file = "(built in)";
    s.name = f.name;
    s.fault = f.name;
    s.description = f.summary;
    s.devices = {"cpu"};
    s.limits.wall_seconds = 30;
    s.limits.heartbeat_seconds = 3;
    s.limits.memory_mb = 256;
    // A gigabyte through the log pipe: alone, so its I/O does not stretch its neighbours' time
    // limits (and the runner's exclusive scheduling is exercised by every self-test run).
    s.limits.exclusive = f.name == std::string("selftest_flood_output");
    MitigationEntry none;
    none.name = none.label = "none";
    none.expect["cpu"] = f.expected;
    s.mitigations.push_back(none);
    out.push_back(std::move(s));
  }
  return out;
}

}  // namespace tw
