// ReLU activations: what a residual network (He et al. 2016) uses, in place of a saturating one.
#include "backend/registry.h"

namespace tw {
namespace {
struct Relu : Mitigation {
  void apply(Recipe& r, const nlohmann::json&) const override { r.model.activation = Activation::kRelu; }
};
}  // namespace
TW_REGISTER_MITIGATION(Relu, {"relu", "ReLU activations", "FAQ", {}, {}});
}  // namespace tw
