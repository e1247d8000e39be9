// Before training: the versions of the stack the run is on (NCCL, LibTorch, CUDA runtime, NVIDIA
// driver, cuDNN) against the ranges vendors tell users to avoid; a known-bad stack stops the run
// with the rule and its source named, before a job depends on it.
#include "backend/registry.h"

namespace tw {
namespace {
struct StackCheck : Mitigation {
  void apply(Recipe& r, const nlohmann::json&) const override { r.checks.stack_check = true; }
};
}  // namespace
TW_REGISTER_MITIGATION(
    StackCheck,
    {"stack_check", "check the running stack's versions against known-bad ones", "framework / environment", {}, {}});
}  // namespace tw
