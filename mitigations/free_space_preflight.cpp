// Before each checkpoint write: the file-size limit and the free space must hold it, otherwise
// the run stops with both numbers instead of failing half-way through a write.
#include "backend/registry.h"

namespace tw {
namespace {
struct FreeSpacePreflight : Mitigation {
  void apply(Recipe& r, const nlohmann::json&) const override { r.checks.disk_preflight = true; }
};
}  // namespace
TW_REGISTER_MITIGATION(FreeSpacePreflight,
                       {"free_space_preflight", "check the room left before writing a checkpoint", "hardware", {}, {}});
}  // namespace tw
