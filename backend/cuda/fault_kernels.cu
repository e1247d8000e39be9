#include <cuda_runtime.h>

#include <stdexcept>
#include <string>

#include "backend/cuda/fault_kernels.h"

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

// A launch that fails (no kernel image for this GPU, a runtime/driver mismatch) would let the
// cell train on unharmed: say so instead.
void check_launch(const char* kernel) {
  const cudaError_t err = cudaGetLastError();
  if (err != cudaSuccess)
    throw std::runtime_error(std::string("launching the ") + kernel + " kernel failed: " + cudaGetErrorString(err));
}

}  // namespace

void launch_out_of_bounds_write(float* data, std::size_t count, void* stream) {
  out_of_bounds_write<<<1, 32, 0, static_cast<cudaStream_t>(stream)>>>(data, count);
  check_launch("out-of-bounds write");
}

void launch_spin_forever(int* flag, void* stream) {
  spin_forever<<<1, 1, 0, static_cast<cudaStream_t>(stream)>>>(flag);
  check_launch("spin-forever");
}

}  // namespace tw::cuda_faults
