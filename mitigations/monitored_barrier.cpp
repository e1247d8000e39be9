// torch.distributed.monitored_barrier before the first step: every rank reports to rank 0 over
// Gloo, and rank 0 names each rank that did not arrive within the timeout instead of waiting
// inside the first collective.
#include "backend/registry.h"

namespace tw {
namespace {
struct MonitoredBarrier : Mitigation {
  void apply(Recipe& r, const nlohmann::json& p) const override {
    r.dist.monitored_barrier_s = param(p, "seconds", 3.0);
  }
};
}  // namespace
TW_REGISTER_MITIGATION(MonitoredBarrier, {"monitored_barrier", "Gloo's monitored barrier names absent ranks",
                                          "framework / environment",
                                          {{"seconds", ParamSpec::Type::kNumber, 0, 1e6, true, {}, "timeout in seconds"}},
                                          {}});
}  // namespace tw
