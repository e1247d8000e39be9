// After the first backward every trainable parameter must have a non-zero gradient.
#include "backend/registry.h"
#include "trainwreck/guards.h"

namespace tw {
namespace {
struct GradientFlowAudit : Mitigation {
  void apply(Recipe& r, const nlohmann::json&) const override {
    r.guards.push_back(std::make_shared<trainwreck::GradientFlowAudit>());
  }
};
}  // namespace
TW_REGISTER_MITIGATION(GradientFlowAudit, {"gradient_flow_audit", "gradient-flow audit", "code", {}, {}});
}  // namespace tw
