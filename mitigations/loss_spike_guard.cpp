// Stops the run when the training loss exceeds a multiple of its first value, finite or not.
#include "backend/registry.h"
#include "trainwreck/guards.h"

namespace tw {
namespace {
struct LossSpikeGuard : Mitigation {
  void apply(Recipe& r, const nlohmann::json& p) const override {
    r.guards.push_back(std::make_shared<trainwreck::LossSpikeGuard>(param(p, "factor", 10.0)));
  }
};
}  // namespace
TW_REGISTER_MITIGATION(LossSpikeGuard, {"loss_spike_guard", "loss-spike guard", "hyper-parameters",
                                        {{"factor", ParamSpec::Type::kNumber, 1, 1e12, true, {},
                                          "multiple of the first loss that stops the run"}},
                                        {}});
}  // namespace tw
