#pragma once
// What the faults that launch a CUDA kernel of their own share: the gate, and the guard that
// launches the kernel once, after a given training step.
#include <functional>
#include <string>
#include <utility>

#include "backend/registry.h"
#include "trainwreck/guards.h"

namespace tw {

// False (and the cell reported unsupported) when this build or this cell cannot launch it.
inline bool can_launch_fault_kernel(CellEnv& env) {
#ifndef TRAINWRECK_WITH_CUDA_KERNELS
  env.events.error(ErrorKind::kUnsupported, "built without the CUDA toolkit");
  return false;
#else
  if (env.device.is_cuda()) return true;
  env.events.error(ErrorKind::kUnsupported, "a CUDA kernel fault needs a CUDA device");
  return false;
#endif
}

// Runs `launch` once, after step `at_step` (a build without the CUDA kernels never calls it).
class StepKernelFault : public trainwreck::Guard {
 public:
  using Launch = std::function<void(const trainwreck::StepContext&)>;
  StepKernelFault(std::string name, int64_t at_step, Launch launch)
      : name_(std::move(name)), at_step_(at_step), launch_(std::move(launch)) {}
  std::string name() const override { return name_; }
  trainwreck::GuardReport after_step(const trainwreck::StepContext& ctx) override {
    if (ctx.step == at_step_) launch_(ctx);
    return {};
  }

 private:
  std::string name_;
  int64_t at_step_;
  Launch launch_;
};

}  // namespace tw
