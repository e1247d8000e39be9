// The loop keeps every step's monitoring loss as a tensor (its autograd graph with it), or
// appends activations to a growing list. Its remedies: keep the number, not the tensor
// (item_not_tensor), or run the monitoring pass without autograd (no_grad_eval).
#include <optional>
#include <vector>

#include "backend/data.h"
#include "backend/loop_hooks.h"
#include "backend/model.h"
#include "backend/registry.h"

namespace tw {
namespace {

// A monitoring pass after each step's backward whose result is kept: with autograd on, it keeps
// its whole graph.
class MonitoringPassLeak : public LoopHook {
 public:
  void before_update(const LoopView& v) override {
    const Recipe& r = v.recipe;
    std::optional<torch::NoGradGuard> no_grad;
    if (r.loop.no_grad_eval) no_grad.emplace();
    auto [x, y] = v.data.batch(v.step + 7919, r.loop.leak_batch);
    if (r.data.cast_inputs) x = x.to(at::kFloat);
    if (r.loop.leak == Leak::kEvalLossHistory) {
      at::Tensor monitor = workload_loss(r, v.net.forward(x), y);
      if (r.loop.keep_items_not_tensors) kept_values_.push_back(monitor.item<double>());
      else kept_tensors_.push_back(monitor);
    } else if (r.loop.keep_items_not_tensors) {
      // The statistic a monitor logs, as a number: nothing of the batch stays alive.
      kept_values_.push_back(v.net.first_activation(x).mean().item<double>());
    } else {
      kept_tensors_.push_back(v.net.first_activation(x));
    }
  }
  void after_optimizer_step(const LoopView& v) override {
    if (v.recipe.loop.empty_cache) kept_tensors_.shrink_to_fit();
  }
  void at_end(const LoopView&, nlohmann::json& evidence) override {
    if (!kept_values_.empty()) evidence["kept_loss_values"] = kept_values_.size();
  }

 private:
  std::vector<at::Tensor> kept_tensors_;
  std::vector<double> kept_values_;
};

struct MemoryLeak : Fault {
  void apply(Recipe& r, const nlohmann::json& p) const override {
    r.loop.leak = parse_choice<Leak>(param_str(p, "mode", "eval_loss_history"));
    r.hooks.push_back(std::make_shared<MonitoringPassLeak>());
  }
};
}  // namespace
TW_REGISTER_FAULT(MemoryLeak, {"memory_leak", "keeps loss tensors (and their graphs) or activations alive", "code",
                               {{"mode", ParamSpec::Type::kString, 0, 0, false,
                                 {"eval_loss_history", "activation_history"}, "what is kept"}}});
}  // namespace tw
