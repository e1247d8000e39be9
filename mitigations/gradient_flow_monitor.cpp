// Per-layer gradient norms every N steps; stops when the first layers' vanish.
#include "backend/registry.h"
#include "trainwreck/guards.h"

namespace tw {
namespace {
struct GradientFlowMonitor : Mitigation {
  void apply(Recipe& r, const nlohmann::json& p) const override {
    r.guards.push_back(std::make_shared<trainwreck::GradientFlowMonitor>(param_int(p, "every", 10), param(p, "vanishing", 1e-7)));
  }
};
}  // namespace
TW_REGISTER_MITIGATION(GradientFlowMonitor, {"gradient_flow_monitor", "gradient-flow monitor", "FAQ", {{"every", ParamSpec::Type::kInteger, 1, 1073741824, false, {}, "steps between reports"}, {"vanishing", ParamSpec::Type::kNumber, 0, 1, true, {}, "norm counted as vanished"}}, {}});
}  // namespace tw
