// Kaiming (He) normal initialization, zero biases.
#include "backend/registry.h"

namespace tw {
namespace {
struct HeInit : Mitigation {
  void apply(Recipe& r, const nlohmann::json&) const override { r.model.init = Init::kHe; }
};
}  // namespace
TW_REGISTER_MITIGATION(HeInit, {"he_init", "He initialization", "FAQ", {}, {}});
}  // namespace tw
