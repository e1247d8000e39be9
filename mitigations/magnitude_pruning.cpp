// Magnitude pruning as practised: train, set the smallest weights of every weight matrix to zero
// halfway through the horizon, fine-tune the rest with the pruned weights held at zero to the end,
// then serve the weights sparse. Pruning a trained model without fine-tuning loses what the
// pruned weights carried; the fine-tuning steps give it back.
#include <algorithm>

#include "backend/loop_hooks.h"
#include "backend/model.h"
#include "backend/registry.h"

namespace tw {
namespace {

class PruneAndFineTune : public LoopHook {
 public:
  explicit PruneAndFineTune(double fraction) : fraction_(fraction) {}

  void after_optimizer_step(const LoopView& view) override {
    const int64_t at = prune_step(view.recipe);
    if (view.step < at) return;
    torch::NoGradGuard no_grad;
    if (view.step == at) prune(view.net);
    for (std::size_t i = 0; i < weights_.size(); ++i) weights_[i].mul_(masks_[i]);  // held at zero
  }

  void at_end(const LoopView& view, nlohmann::json& evidence) override {
    evidence["pruned_at_step"] = prune_step(view.recipe);
    evidence["fine_tune_steps"] = view.recipe.loop.steps - prune_step(view.recipe);
  }

 private:
  static int64_t prune_step(const Recipe& r) { return std::max<int64_t>(1, r.loop.steps / 2); }

  // Per matrix, as torch.nn.utils.prune.l1_unstructured does: the `fraction` smallest magnitudes.
  void prune(NetImpl& net) {
    for (auto& p : net.parameters()) {
      if (p.dim() < 2) continue;
      const int64_t k = static_cast<int64_t>(fraction_ * static_cast<double>(p.numel()));
      at::Tensor mask = at::ones_like(p);
      if (k > 0) {
        const at::Tensor cut = std::get<0>(p.abs().flatten().kthvalue(k));
        mask = (p.abs() > cut).to(p.scalar_type());
      }
      weights_.push_back(p);
      masks_.push_back(mask);
    }
  }

  double fraction_;
  std::vector<at::Tensor> weights_, masks_;
};

struct MagnitudePruning : Mitigation {
  void apply(Recipe& r, const nlohmann::json& p) const override {
    r.serving.format = ServingFormat::kPruned;
    r.serving.prune_fraction = param(p, "fraction", 0.9);
    r.hooks.push_back(std::make_shared<PruneAndFineTune>(r.serving.prune_fraction));
  }
};
}  // namespace
TW_REGISTER_MITIGATION(MagnitudePruning, {"magnitude_pruning", "magnitude pruning with fine-tuning", "model too complex", {{"fraction", ParamSpec::Type::kNumber, 0, 1, false, {}, "share of weights pruned"}}, {}});
}  // namespace tw
