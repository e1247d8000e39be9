#pragma once
// The training loop every ordinary fault plugs into: deterministic data, the recipe's model and
// optimizer, guards, and one event per step (loss, gradient norms, memory).
#include "backend/model.h"
#include "backend/registry.h"

namespace tw {

// Runs the recipe to its end, its target, a guard's stop, or the first non-finite loss, and
// reports through env.events. Out-of-memory and other LibTorch errors become error events.
// Returns the trained model (empty when it could not be built).
Net train(CellEnv& env, Recipe& recipe);

// Loss values as JSON: numbers, or "nan" / "inf" / "-inf".
nlohmann::json loss_json(double v);

// The recipe's optimizer (SGD with momentum, or Adam) over the model's parameters.
std::unique_ptr<torch::optim::Optimizer> make_optimizer(const Recipe& r, Net& net);

// The "end" event of a training run: the steps it took, its horizon (the recipe's steps), the
// target and the final losses. Every loop trains to its horizon: whether the run reached and held
// the target is the harness's verdict over the "eval" events (harness/classify.cpp), not the
// loop's, so a run is never judged by where it happened to stop.
nlohmann::json end_event(int64_t steps, const Recipe& r, double last_loss, double eval_loss);

}  // namespace tw
