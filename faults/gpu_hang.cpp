// A CUDA kernel that never finishes: the next synchronization blocks for good, the cell stops
// sending events, and the watchdog kills it. The driver reclaims the GPU with the process.
#include "backend/cuda/kernel_fault.h"
#include "backend/registry.h"
#include "backend/trainer.h"

#ifdef TRAINWRECK_WITH_CUDA_KERNELS
#include <ATen/cuda/CUDAContext.h>

#include "backend/cuda/fault_kernels.h"
#endif

namespace tw {
namespace {

struct GpuHang : Fault {
  void apply(Recipe& r, const nlohmann::json& p) const override {
    r.guards.push_back(std::make_shared<StepKernelFault>(
        "gpu_hang", param_int(p, "at_step", 5), [flag = at::Tensor()](const trainwreck::StepContext& ctx) mutable {
#ifdef TRAINWRECK_WITH_CUDA_KERNELS
          flag = at::zeros({1}, at::TensorOptions().dtype(at::kInt).device(ctx.loss.device()));
          cuda_faults::launch_spin_forever(flag.data_ptr<int>(), at::cuda::getCurrentCUDAStream().stream());
#else
          (void)ctx;
#endif
        }));
  }
  void run(CellEnv& env, Recipe& recipe) const override {
    if (can_launch_fault_kernel(env)) train(env, recipe);
  }
};

}  // namespace
TW_REGISTER_FAULT(GpuHang, {"gpu_hang", "a CUDA kernel that never finishes", "hardware",
                            {{"at_step", ParamSpec::Type::kInteger, 1, 1 << 30, false, {}, "step of the launch"}},
                            {"cuda"}});
}  // namespace tw
