// CUDA_VISIBLE_DEVICES names a GPU that does not exist (by default the ordinal one past the
// last GPU), set in the cell before CUDA starts: CUDA then sees no device, and the first CUDA
// tensor of the run fails.
#include <ATen/ATen.h>
#include <c10/util/Exception.h>

#include <cstdlib>

#include "backend/registry.h"
#include "backend/visible_devices.h"

namespace tw {
namespace {

struct BadVisibleDevices : Fault {
  bool before_device(Recipe& r, const nlohmann::json& p, const EventWriter& events) const override {
    const GpuInventory gpus = probe_gpus();  // forks nvidia-smi: nothing has touched CUDA yet
    std::string value = param_str(p, "value", "");
    if (value.empty()) value = std::to_string(gpus.count);
    setenv("CUDA_VISIBLE_DEVICES", value.c_str(), /*overwrite=*/1);
    events.emit(EventType::kEvidence,
                {{"cuda_visible_devices", value}, {"gpus_present", gpus.count}, {"gpus_source", gpus.source}});
    if (r.checks.device_preflight) {
      const std::string problem = check_visible_devices(value, gpus);
      if (!problem.empty()) {
        events.emit(EventType::kGuard, {{"guard", "device_preflight"},
                                        {"action", to_string(GuardAction::kStop)},
                                        {"step", 0},
                                        {"message", problem}});
        return false;
      }
    }
    // What the training code meets next: its first tensor on the GPU.
    try {
      at::empty({1}, at::TensorOptions().device(at::kCUDA));
    } catch (const c10::Error& e) {
      events.error(ErrorKind::kException, first_line(e.what_without_backtrace()), {{"step", 0}});
      return false;
    }
    return true;
  }
};

}  // namespace
TW_REGISTER_FAULT(
    BadVisibleDevices,
    {"bad_visible_devices",
     "CUDA_VISIBLE_DEVICES names a GPU that does not exist",
     "framework / environment",
     {{"value", ParamSpec::Type::kString, 0, 0, false, {}, "the variable's value (default: one past the last GPU)"}},
     {"cuda"}});
}  // namespace tw
