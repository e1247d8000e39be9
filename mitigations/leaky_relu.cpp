// LeakyReLU (slope 0.01) instead of the recipe's activation.
#include "backend/registry.h"

namespace tw {
namespace {
struct LeakyRelu : Mitigation {
  void apply(Recipe& r, const nlohmann::json&) const override { r.model.activation = Activation::kLeakyRelu; }
};
}  // namespace
TW_REGISTER_MITIGATION(LeakyRelu, {"leaky_relu", "LeakyReLU", "FAQ", {}, {}});
}  // namespace tw
