// Records the run's environment (LibTorch version, device, threads, deterministic algorithms,
// TF32) and diffs it against the one recorded with the baseline before training; any
// difference stops the run with the changed settings named.
#include "backend/registry.h"

namespace tw {
namespace {
struct ContextCheck : Mitigation {
  void apply(Recipe& r, const nlohmann::json&) const override { r.checks.context_check = true; }
};
}  // namespace
TW_REGISTER_MITIGATION(
    ContextCheck,
    {"context_check", "diff the run's environment against the baseline's", "framework / environment", {}, {}});
}  // namespace tw
