#pragma once
// The common gate of the faults that launch a CUDA kernel of their own.
#include "kernel/registry.h"

namespace tw {

// False (and the cell reported unsupported) when this build or this cell cannot launch it.
inline bool can_launch_fault_kernel(CellEnv& env) {
#ifndef TRAINWRECK_WITH_CUDA_KERNELS
  env.events.emit("error", {{"kind", "unsupported"}, {"message", "built without the CUDA toolkit"}});
  return false;
#else
  if (env.device.is_cuda()) return true;
  env.events.emit("error", {{"kind", "unsupported"}, {"message", "a CUDA kernel fault needs a CUDA device"}});
  return false;
#endif
}

}  // namespace tw
