// Watches the cell's allocated memory per step and stops on steady growth.
#include "kernel/registry.h"
#include "trainwreck/guards.h"
#include "kernel/memory.h"

namespace tw {
namespace {
struct LeakGuard : Mitigation {
  void apply(Recipe& r, const nlohmann::json& p) const override {
    r.guards.push_back(std::make_shared<trainwreck::LeakGuard>(param_int(p, "window", 12), param(p, "mib_per_step", 1.0) * (1 << 20),
                                                               [] { return cell_memory_bytes(); }));
  }
};
}  // namespace
TW_REGISTER_MITIGATION(LeakGuard, {"leak_guard", "leak guard", "code", {{"window", ParamSpec::Type::kInteger, 4, 1048576, false, {}, "steps in the estimate"}, {"mib_per_step", ParamSpec::Type::kNumber, 0, 1000000000.0, true, {}, "growth that counts as a leak"}}, {}});
}  // namespace tw
