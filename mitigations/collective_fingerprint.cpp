// Before each collective the ranks exchange its fingerprint (op, dtype, shape, sequence number)
// through the c10d store and stop on disagreement, naming every rank's fingerprint; the idea of
// TORCH_DISTRIBUTED_DEBUG=DETAIL's ProcessGroupWrapper.
#include "kernel/registry.h"

namespace tw {
namespace {
struct CollectiveFingerprint : Mitigation {
  void apply(Recipe& r, const nlohmann::json&) const override { r.collective_fingerprint = true; }
};
}  // namespace
TW_REGISTER_MITIGATION(CollectiveFingerprint, {"collective_fingerprint", "compare collective fingerprints across ranks",
                                               "framework / environment", {}, {}});
}  // namespace tw
