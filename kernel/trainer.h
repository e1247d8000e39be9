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

// The recipe's optimizer (SGD with momentum, or Adam) over the model's parameters.
std::unique_ptr<torch::optim::Optimizer> make_optimizer(const Recipe& r, Net& net);

// The target rule of every training loop: the evaluation loss at or under the recipe's target
// for target_hold_evals evaluations in a row (a first touch can be noise); the reached step is
// where that streak began.
struct TargetHold {
  int64_t streak = 0, streak_start = -1, reached_step = -1;
  // Counts one evaluation; true when it completes the streak for the first time.
  bool observe(const Recipe& r, int64_t step, double eval_loss);
};

// The "end" event of a training run: steps, target, final losses, whether and when it was reached.
nlohmann::json end_event(int64_t steps, const Recipe& r, double last_loss, double eval_loss, int64_t reached_step);

}  // namespace tw
