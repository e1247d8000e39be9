// Gradient clipping with a threshold that defeats its purpose: so tight nothing learns, or so
// loose (with a high LR) that it never acts.
#include "backend/registry.h"

namespace tw {
namespace {
struct BadClipThreshold : Fault {
  void apply(Recipe& r, const nlohmann::json& p) const override {
    r.optim.clip_norm = param(p, "max_norm", 1e-4);
    r.optim.lr = param(p, "lr", r.optim.lr);
  }
};
}  // namespace
TW_REGISTER_FAULT(BadClipThreshold, {"bad_clip_threshold", "clip_grad_norm_ with an absurd threshold", "hyper-parameters",
                                     {{"max_norm", ParamSpec::Type::kNumber, 0, 1e12, true, {}, "the clipping threshold"},
                                      {"lr", ParamSpec::Type::kNumber, 0, 1e6, true, {}, "the learning rate"}}});
}  // namespace tw
