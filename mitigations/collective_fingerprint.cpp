// TORCH_DISTRIBUTED_DEBUG=DETAIL as torch.distributed sets it up: the process group's backend is
// wrapped in c10d's ProcessGroupWrapper, which, before each collective, gathers every rank's
// fingerprint (sequence number, op, shapes, dtypes, devices) over a helper Gloo group and throws
// on all ranks, naming both fingerprints, when they disagree.
#include "backend/registry.h"

namespace tw {
namespace {
struct CollectiveFingerprint : Mitigation {
  void apply(Recipe& r, const nlohmann::json&) const override { r.dist.collective_fingerprint = true; }
};
}  // namespace
TW_REGISTER_MITIGATION(CollectiveFingerprint, {"collective_fingerprint",
                                               "ProcessGroupWrapper (TORCH_DISTRIBUTED_DEBUG=DETAIL) compares collectives",
                                               "framework / environment", {}, {}});
}  // namespace tw
