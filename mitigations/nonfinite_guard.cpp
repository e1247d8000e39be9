// Stops (or skips, or rolls back) at the first NaN/Inf in the loss or gradients.
#include "backend/registry.h"
#include "trainwreck/guards.h"

namespace tw {
namespace {
struct NonfiniteGuard : Mitigation {
  void apply(Recipe& r, const nlohmann::json& p) const override {
    const std::string policy = param_str(p, "policy", "stop");
    using P = trainwreck::NonFiniteGuard::Policy;
    r.guards.push_back(std::make_shared<trainwreck::NonFiniteGuard>(
        policy == "skip" ? P::kSkipStep : policy == "rollback" ? P::kRollback : P::kStop));
  }
};
}  // namespace
TW_REGISTER_MITIGATION(NonfiniteGuard, {"nonfinite_guard", "non-finite guard", "hyper-parameters", {{"policy", ParamSpec::Type::kString, 0, 0, false, {"stop", "skip", "rollback"}, "what to do"}}, {}});
}  // namespace tw
