#pragma once
// Runs cells, each in its own process group, several at once, under a watchdog; streams their
// events and output to per-cell files and classifies each when it ends.
#include <csignal>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "harness/classify.h"
#include "harness/plan.h"
#include "harness/process.h"
#include "harness/verdict.h"

namespace tw {

struct RunnerOptions {
  std::string exe;  // re-executed with "cell" arguments
  int jobs = 1;
  double timeout_override = 0;              // > 0: replaces every cell's wall-clock limit
  double term_grace_seconds = 2;            // SIGTERM, then this long, then SIGKILL
  double peer_grace_seconds = 3;            // one rank died: the others get this long to follow
  std::size_t log_cap_bytes = 4u << 20;     // per cell; the rest is counted, not kept
  std::size_t log_tail_bytes = 4096;        // kept in the result
  std::size_t event_cap_bytes = 32u << 20;  // per cell; events beyond it are counted, not kept
  long long data_slack_bytes = 2LL << 30;   // RLIMIT_DATA = budget + this (a backstop)
  // What the machine has, in MiB (0: read it, machine_memory_mb()). A CPU cell's budget
  // (limits.memory_mb) is capped at it: a budget the machine cannot give is no budget at all.
  long long machine_memory_mb = 0;
  std::string cells_dir;         // where <cell>.jsonl and <cell>.log go ("" = nowhere)
  std::vector<std::string> env;  // extra "KEY=VALUE" for every cell
  // Starts one rank (spawn_process when empty); tests put a start that fails here.
  std::function<ChildProcess(const ProcessSpec&)> spawn;
  // Set from a signal handler: nonzero stops the run (no cell is started, the running ones are
  // killed with their process groups, run() returns; only the finished cells were reported).
  const volatile std::sig_atomic_t* interrupt = nullptr;
};

struct CellRecord {
  CellSpec spec;
  Outcome outcome = Outcome::kError;
  Verdict verdict = Verdict::kUnpinned;
  nlohmann::json evidence = nlohmann::json::object();
  nlohmann::json series = nlohmann::json::object();  // per-step curves, downsampled
  std::string log_tail;
  double wall_seconds = 0;

  nlohmann::json to_json() const;  // the matrix.json cell record
};

// Per-step curves (loss, gradient norms, memory) of an event stream, at most `points` each.
nlohmann::json extract_series(const std::vector<nlohmann::json>& events, std::size_t points = 200);

class Runner {
 public:
  explicit Runner(RunnerOptions options);
  using DoneCallback = std::function<void(const CellRecord&)>;
  using StartCallback = std::function<void(const CellSpec&)>;
  // Runs every cell; callbacks come from the calling thread, in completion order.
  // Returns the records in the order of `cells`.
  std::vector<CellRecord> run(const std::vector<CellSpec>& cells, const DoneCallback& on_done,
                              const StartCallback& on_start = {});

 private:
  RunnerOptions options_;
};

// Physical memory in MiB, or the memory limit of this process's cgroup (v2) when that is lower.
long long machine_memory_mb();

// A TCP port on 127.0.0.1 that was free a moment ago (for c10d rendezvous).
int free_local_port();

}  // namespace tw
