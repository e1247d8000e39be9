#pragma once
// Data-parallel training as torch.nn.parallel.DistributedDataParallel does it, from C++: every
// rank holds the recipe's model, DDP's model check runs at construction, DDP's own gradient
// bucketing (c10d::Reducer) averages the gradients during backward over the cell's process group
// (Gloo on the CPU, NCCL on CUDA), and the ranks all-reduce their loss for the log, as training
// scripts do. Faults make one rank deviate from its peers.
#include "backend/registry.h"

namespace tw {

// How one rank departs from what its peers do.
struct RankDeviation {
  bool joins = true;                    // false: never joins the rendezvous
  bool stalls_after_join = false;       // joins the group, then never reaches its first step
  int64_t from_step = 0;                // first step of the per-step deviations below (0: never)
  bool metric_before_backward = false;  // all-reduces its logged loss before backward, not after
  int64_t metric_extra = 0;             // logs this many more values than its peers
  bool skips_branch = false;            // its loss skips the second branch: unused parameters
  int64_t dies_at_step = 0;             // killed (SIGKILL, as the OOM killer does) at this step
  int64_t width_delta = 0;              // builds its model this much wider than its peers
  int device_index = -1;                // CUDA ordinal of this rank (-1: LOCAL_RANK)
  std::string note;                     // what the fault made this rank do, for the start event
};

// Runs the recipe's data, model and optimizer (not its schedules, accumulation, autocast or
// guards) to its target or its end; each rank takes its slice of every batch. Timeouts,
// ProcessGroupWrapper's fingerprint mismatch, a rank absent at a monitored barrier, DDP's
// checks and a failed device preflight become guard "stop" events; other failures error events.
void train_data_parallel(CellEnv& env, Recipe& recipe, const RankDeviation& deviation);

// The "world_size" parameter of the data-parallel faults: how many ranks the harness starts (the
// last one deviates).
inline ParamSpec world_size_param() {
  return {"world_size", ParamSpec::Type::kInteger, 2, 8, false, {}, "ranks of the cell (the last one deviates)"};
}

}  // namespace tw
