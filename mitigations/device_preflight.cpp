// Before CUDA starts, every entry of CUDA_VISIBLE_DEVICES is checked against the GPUs the
// driver lists (nvidia-smi -L, else /proc/driver/nvidia/gpus); a wrong one stops the run with
// the entry and the GPUs present named.
#include "backend/registry.h"

namespace tw {
namespace {
struct DevicePreflight : Mitigation {
  void apply(Recipe& r, const nlohmann::json&) const override { r.checks.device_preflight = true; }
};
}  // namespace
TW_REGISTER_MITIGATION(
    DevicePreflight,
    {"device_preflight", "validate CUDA_VISIBLE_DEVICES against the GPUs present", "framework / environment", {}, {}});
}  // namespace tw
