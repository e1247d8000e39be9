// The recipe's optimizer (SGD with momentum, or Adam/AdamW) at a learning rate far beyond what
// the loss surface tolerates (1.0).
#include "backend/registry.h"

namespace tw {
namespace {
struct LrTooHigh : Fault {
  void apply(Recipe& r, const nlohmann::json& p) const override { r.optim.lr = param(p, "lr", 1.0); }
};
}  // namespace
TW_REGISTER_FAULT(LrTooHigh, {"lr_too_high", "the recipe's optimizer at learning rate 1.0", "hyper-parameters",
                              {{"lr", ParamSpec::Type::kNumber, 0, 1e6, true, {}, "the learning rate"}}});
}  // namespace tw
