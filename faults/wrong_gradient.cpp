// The hidden activation is a custom autograd function whose hand-written backward has a sign
// error: the forward pass is right, every gradient through it points the wrong way.
#include "backend/registry.h"

namespace tw {
namespace {
struct WrongGradient : Fault {
  void apply(Recipe& r, const nlohmann::json&) const override { r.model.activation = Activation::kCustomTanhWrong; }
};
}  // namespace
TW_REGISTER_FAULT(WrongGradient, {"wrong_gradient", "a custom autograd function with a wrong backward", "code", {}});
}  // namespace tw
