// The custom autograd function with its backward corrected (d tanh = 1 - y^2), as a fix found
// by gradcheck would leave it.
#include "backend/registry.h"

namespace tw {
namespace {
struct FixedBackward : Mitigation {
  void apply(Recipe& r, const nlohmann::json&) const override {
    if (r.model.activation == Activation::kCustomTanhWrong) r.model.activation = Activation::kCustomTanh;
  }
};
}  // namespace
TW_REGISTER_MITIGATION(FixedBackward, {"fixed_backward", "the custom backward corrected", "code", {}, {}});
}  // namespace tw
