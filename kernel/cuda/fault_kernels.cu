#include <cuda_runtime.h>

#include "kernel/cuda/fault_kernels.h"

namespace tw::cuda_faults {
namespace {

__global__ void out_of_bounds_write(float* data, std::size_t count) {
  // 2^36 floats (256 GiB) past the allocation: unmapped on any card.
  data[count + (std::size_t{1} << 36) + threadIdx.x] = 1.0f;
}

__global__ void spin_forever(volatile int* flag) {
  while (*flag == 0) {
  }
}

}  // namespace

void launch_out_of_bounds_write(float* data, std::size_t count, void* stream) {
  out_of_bounds_write<<<1, 32, 0, static_cast<cudaStream_t>(stream)>>>(data, count);
}

void launch_spin_forever(int* flag, void* stream) {
  spin_forever<<<1, 1, 0, static_cast<cudaStream_t>(stream)>>>(flag);
}

}  // namespace tw::cuda_faults
