// ReLU units pushed below zero by a negative bias at initialization and a high LR: most of
// them never fire again, and their gradient is exactly zero.
#include "backend/registry.h"

namespace tw {
namespace {
struct DyingRelu : Fault {
  void apply(Recipe& r, const nlohmann::json& p) const override {
    r.model.activation = Activation::kRelu;
    r.model.bias_shift = param(p, "bias_shift", -3.0);
    r.optim.lr = param(p, "lr", 0.3);
  }
};
}  // namespace
TW_REGISTER_FAULT(DyingRelu, {"dying_relu", "ReLU with negative biases and a high LR: dead units", "FAQ",
                              {{"bias_shift", ParamSpec::Type::kNumber, -1e3, 1e3, false, {}, "added to hidden biases"},
                               {"lr", ParamSpec::Type::kNumber, 0, 1e6, true, {}, "the learning rate"}}});
}  // namespace tw
