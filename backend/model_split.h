#pragma once
// The article's other remedy for a model too large for one process: split it across two ranks
// (naive model parallelism). Rank 0 holds the first half of the MLP's layers, rank 1 the rest;
// activations go forward and their gradients back with c10d send/recv over the cell's process
// group (Gloo on the CPU, NCCL on CUDA). Serving is split the same way: each rank holds only its
// layers' weights within its serving budget.
#include "backend/registry.h"

namespace tw {

// Trains the recipe's plain MLP split across two ranks, then, when the recipe has a serving
// phase, serves the evaluation set through both halves (fp32). Rank 0 reports the steps, the
// evaluations and the served loss; rank 1 computes the losses.
void train_and_serve_split(CellEnv& env, Recipe& recipe);

}  // namespace tw
