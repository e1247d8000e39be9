// A learning rate the loss surface tolerates.
#include "backend/registry.h"

namespace tw {
namespace {
struct LowerLr : Mitigation {
  void apply(Recipe& r, const nlohmann::json& p) const override { r.optim.lr = param(p, "lr", 0.01); }
};
}  // namespace
TW_REGISTER_MITIGATION(LowerLr, {"lower_lr", "a lower learning rate", "hyper-parameters", {{"lr", ParamSpec::Type::kNumber, 0, 1000000.0, true, {}, "learning rate"}}, {}});
}  // namespace tw
