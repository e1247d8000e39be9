// Pins the run to the environment recorded with the baseline (threads, deterministic
// algorithms, TF32) before it trains, so the comparison is like for like.
#include "backend/registry.h"

namespace tw {
namespace {
struct PinVersions : Mitigation {
  void apply(Recipe& r, const nlohmann::json&) const override { r.checks.pin_environment = true; }
};
}  // namespace
TW_REGISTER_MITIGATION(
    PinVersions,
    {"pin_versions", "run in the environment recorded with the baseline", "framework / environment", {}, {}});
}  // namespace tw
