#pragma once
// Data-parallel training over c10d for the distributed cells: each rank trains the recipe's
// model on its shard of every batch and all-reduces the gradients parameter by parameter (the
// store transport on the CPU, NCCL on CUDA). Faults make one rank deviate from its peers.
#include "kernel/registry.h"

namespace tw {

// How one rank departs from what its peers do.
struct RankDeviation {
  bool joins = true;           // false: the rank never joins the rendezvous
  int64_t from_step = 0;       // first step of the deviations below (0: never)
  bool reverse_order = false;  // all-reduce the gradients in reverse parameter order
  int64_t extra_columns = 0;   // all-reduce the first gradient with this many more columns
  int device_index = -1;       // CUDA ordinal of this rank (-1: LOCAL_RANK)
  std::string note;            // what the fault made this rank do, for the start event
};

// Runs the recipe's data, model and optimizer (not its schedules, accumulation, autocast or
// guards) to its target or its end. Timeouts, a fingerprint mismatch and a failed device
// preflight become guard "stop" events; other failures become error events.
void train_data_parallel(CellEnv& env, Recipe& recipe, const RankDeviation& deviation);

}  // namespace tw
