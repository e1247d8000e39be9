// Detaches the carried state every step (truncated backpropagation through time).
#include "backend/registry.h"

namespace tw {
namespace {
struct DetachState : Mitigation {
  void apply(Recipe& r, const nlohmann::json&) const override { r.loop.detach_state = true; }
};
}  // namespace
TW_REGISTER_MITIGATION(DetachState, {"detach_state", "detach the carried state", "code", {}, {}});
}  // namespace tw
