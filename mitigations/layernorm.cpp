// LayerNorm after every hidden Linear.
#include "backend/registry.h"

namespace tw {
namespace {
struct Layernorm : Mitigation {
  void apply(Recipe& r, const nlohmann::json&) const override { r.model.norm = Norm::kLayerNorm; }
};
}  // namespace
TW_REGISTER_MITIGATION(Layernorm, {"layernorm", "LayerNorm", "FAQ", {}, {}});
}  // namespace tw
