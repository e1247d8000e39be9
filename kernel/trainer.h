#pragma once
// The training loop every ordinary fault plugs into: deterministic data, the recipe's model and
// optimizer, guards, and one event per step (loss, gradient norms, memory).
#include "kernel/model.h"
#include "kernel/registry.h"

namespace tw {

// Runs the recipe to its end, its target, a guard's stop, or the first non-finite loss, and
// reports through env.events. Out-of-memory and other LibTorch errors become error events.
// Returns the trained model (empty when it could not be built).
Net train(CellEnv& env, Recipe& recipe);

// Loss values as JSON: numbers, or "nan" / "inf" / "-inf".
nlohmann::json loss_json(double v);

}  // namespace tw
