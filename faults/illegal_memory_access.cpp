// A kernel writes far out of bounds mid-training: "an illegal memory access was encountered".
// The error is sticky: every later CUDA call in this process fails too, so the process must
// end; the next cells run in fresh processes.
#include "backend/cuda/kernel_fault.h"
#include "backend/registry.h"
#include "backend/trainer.h"

#include <cstdio>
#include <cstdlib>

#ifdef TRAINWRECK_WITH_CUDA_KERNELS
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAFunctions.h>

#include "backend/cuda/fault_kernels.h"
#endif

namespace tw {
namespace {

struct IllegalMemoryAccess : Fault {
  void apply(Recipe& r, const nlohmann::json& p) const override {
    r.guards.push_back(std::make_shared<StepKernelFault>(
        "illegal_memory_access", param_int(p, "at_step", 5), [](const trainwreck::StepContext& ctx) {
#ifdef TRAINWRECK_WITH_CUDA_KERNELS
          at::Tensor w = ctx.model.parameters().front();
          cuda_faults::launch_out_of_bounds_write(w.data_ptr<float>(), static_cast<std::size_t>(w.numel()),
                                                  at::cuda::getCurrentCUDAStream().stream());
#else
          (void)ctx;
#endif
        }));
  }
  void run(CellEnv& env, Recipe& recipe) const override {
    if (!can_launch_fault_kernel(env)) return;
    train(env, recipe);
#ifdef TRAINWRECK_WITH_CUDA_KERNELS
    // Sticky: even a fresh allocation now fails. Record that as evidence.
    bool sticky = false;
    try {
      at::ones({1}, at::TensorOptions().device(env.device)).sum().item<float>();
      c10::cuda::device_synchronize();
    } catch (const c10::Error&) {
      sticky = true;
    }
    env.events.emit(EventType::kEvidence, {{ "context_unusable_after_error", sticky }});
    // Tearing down a context that holds a sticky error can abort in a destructor, which would
    // read as a crash: end the process now, as a job must after such an error. The events are
    // already written (one write per line); only stdio needs flushing.
    if (sticky) {
      std::fflush(nullptr);
      std::_Exit(0);
    }
#endif
  }
};

}  // namespace
TW_REGISTER_FAULT(IllegalMemoryAccess, {"illegal_memory_access", "a CUDA kernel writes out of bounds (sticky error)",
                                        "hardware",
                                        {{"at_step", ParamSpec::Type::kInteger, 1, 1 << 30, false, {}, "step of the write"}},
                                        {"cuda"}});
}  // namespace tw
