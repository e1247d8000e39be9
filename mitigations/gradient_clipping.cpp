// clip_grad_norm_ on the global gradient norm before every step.
#include "backend/registry.h"

namespace tw {
namespace {
struct GradientClipping : Mitigation {
  void apply(Recipe& r, const nlohmann::json& p) const override { r.optim.clip_norm = param(p, "max_norm", 1.0); }
};
}  // namespace
TW_REGISTER_MITIGATION(GradientClipping, {"gradient_clipping", "clip_grad_norm_", "hyper-parameters", {{"max_norm", ParamSpec::Type::kNumber, 0, 1000000000000.0, true, {}, "global norm bound"}}, {}});
}  // namespace tw
