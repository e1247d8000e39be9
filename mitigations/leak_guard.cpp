// Watches the cell's allocated memory per step and stops on steady growth that would exhaust the
// cell's memory budget within a million steps: the rule of the harness's leak verdict, one setting
// for every scenario.
#include "backend/memory.h"
#include "backend/registry.h"
#include "trainwreck/guards.h"

namespace tw {
namespace {
struct LeakGuard : Mitigation {
  void apply(Recipe& r, const nlohmann::json& p) const override {
    r.guards.push_back(std::make_shared<trainwreck::LeakGuard>([] { return cell_memory_budget_bytes(); },
                                                               param_int(p, "window", 12),
                                                               [] { return cell_memory_bytes(); }));
  }
};
}  // namespace
TW_REGISTER_MITIGATION(LeakGuard, {"leak_guard", "leak guard", "code",
                                   {{"window", ParamSpec::Type::kInteger, 4, 1048576, false, {}, "steps in the estimate"}},
                                   {}});
}  // namespace tw
