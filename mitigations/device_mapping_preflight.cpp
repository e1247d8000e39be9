// Before the process group exists, the ranks publish their rank -> GPU claims (host, ordinal,
// device count, UUID) through the store and stop on duplicates or ordinals past the count.
#include "backend/registry.h"

namespace tw {
namespace {
struct DeviceMappingPreflight : Mitigation {
  void apply(Recipe& r, const nlohmann::json&) const override { r.dist.device_mapping_preflight = true; }
};
}  // namespace
TW_REGISTER_MITIGATION(DeviceMappingPreflight, {"device_mapping_preflight", "validate rank -> GPU before creating the group",
                                                "framework / environment", {}, {"cuda"}});
}  // namespace tw
