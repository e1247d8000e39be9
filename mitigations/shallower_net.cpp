// Fewer layers.
#include "backend/registry.h"

namespace tw {
namespace {
struct ShallowerNet : Mitigation {
  void apply(Recipe& r, const nlohmann::json& p) const override { r.model.depth = param_int(p, "depth", 8); }
};
}  // namespace
TW_REGISTER_MITIGATION(ShallowerNet, {"shallower_net", "a shallower model", "model too complex", {{"depth", ParamSpec::Type::kInteger, 1, 10000, false, {}, "Linear layers"}}, {}});
}  // namespace tw
