// Skip connections around every hidden layer.
#include "backend/registry.h"

namespace tw {
namespace {
struct Residual : Mitigation {
  void apply(Recipe& r, const nlohmann::json&) const override { r.model.residual = true; }
};
}  // namespace
TW_REGISTER_MITIGATION(Residual, {"residual", "residual connections", "model too complex", {}, {}});
}  // namespace tw
