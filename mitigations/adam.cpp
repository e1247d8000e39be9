// Adam adapts the step per parameter; its default LR is 1e-3.
#include "backend/registry.h"

namespace tw {
namespace {
struct Adam : Mitigation {
  void apply(Recipe& r, const nlohmann::json& p) const override {
    r.optim.kind = OptimizerKind::kAdam;
    r.optim.lr = param(p, "lr", 1e-3);
  }
};
}  // namespace
TW_REGISTER_MITIGATION(Adam, {"adam", "Adam optimizer", "hyper-parameters", {{"lr", ParamSpec::Type::kNumber, 0, 1000000.0, true, {}, "learning rate"}}, {}});
}  // namespace tw
