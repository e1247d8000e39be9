#pragma once
// Hooks into the training loop: how a fault or remedy acts while the model trains, kept in the
// fault's or remedy's own file. A component's apply() adds its hook to Recipe::hooks (as a remedy
// adds a guard to Recipe::guards); the loop calls every hook at each point, in the order added:
//
//   before_step          before the step's batch is drawn (a data source that stops producing)
//   after_forward        each micro-batch's loss, before backward (a term added to the loss)
//   after_backward       after each micro-batch's backward (cutting a carried graph)
//   before_update        after the step's backward, before guards and the optimizer (a monitoring
//                        pass whose results are kept)
//   after_optimizer_step after the optimizer's step
//   on_eval              after each evaluation
//   at_end               the run's evidence, before it is written
//
// Collective faults deviate a rank of the data-parallel loop instead (RankDeviation,
// backend/data_parallel.h), and guards (include/trainwreck/guards.h) watch the same loop.
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "backend/recipe.h"
#include "backend/torch_includes.h"

namespace tw {

class Dataset;
struct NetImpl;

// What a hook sees of the run.
struct LoopView {
  int64_t step;
  const Recipe& recipe;
  NetImpl& net;
  const Dataset& data;
};

// A hook that ends the run says which check stopped it and why (a "guard" event, action stop).
struct HookStop {
  std::string guard;
  std::string message;
};

class LoopHook {
 public:
  virtual ~LoopHook() = default;
  virtual std::optional<HookStop> before_step(const LoopView& /*view*/) { return std::nullopt; }
  virtual at::Tensor after_forward(const LoopView& /*view*/, const at::Tensor& /*x*/, at::Tensor loss) { return loss; }
  virtual void after_backward(const LoopView& /*view*/) {}
  virtual void before_update(const LoopView& /*view*/) {}
  virtual void after_optimizer_step(const LoopView& /*view*/) {}
  virtual void on_eval(const LoopView& /*view*/, double /*eval_loss*/) {}
  virtual void at_end(const LoopView& /*view*/, nlohmann::json& /*evidence*/) {}
};

}  // namespace tw
