// A learning rate orders of magnitude too small: the loss barely moves and the run looks dead.
#include "backend/registry.h"

namespace tw {
namespace {
struct LrTooLow : Fault {
  void apply(Recipe& r, const nlohmann::json& p) const override { r.optim.lr = param(p, "lr", 1e-5); }
};
}  // namespace
TW_REGISTER_FAULT(LrTooLow, {"lr_too_low", "SGD at learning rate 1e-5: looks dead", "hyper-parameters",
                             {{"lr", ParamSpec::Type::kNumber, 0, 1e6, true, {}, "the learning rate"}}});
}  // namespace tw
