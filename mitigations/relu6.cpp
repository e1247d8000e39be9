// ReLU6 instead of the recipe's activation.
#include "backend/registry.h"

namespace tw {
namespace {
struct Relu6 : Mitigation {
  void apply(Recipe& r, const nlohmann::json&) const override { r.model.activation = Activation::kRelu6; }
};
}  // namespace
TW_REGISTER_MITIGATION(Relu6, {"relu6", "ReLU6", "FAQ", {}, {}});
}  // namespace tw
