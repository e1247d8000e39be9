// Xavier (Glorot) normal initialization with the activation's gain, zero biases.
#include "backend/registry.h"

namespace tw {
namespace {
struct XavierInit : Mitigation {
  void apply(Recipe& r, const nlohmann::json&) const override { r.model.init = Init::kXavier; }
};
}  // namespace
TW_REGISTER_MITIGATION(XavierInit, {"xavier_init", "Xavier initialization", "FAQ", {}, {}});
}  // namespace tw
