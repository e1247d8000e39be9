#pragma once
// CUDA kernels that misbehave on purpose. Declared without CUDA types so that plain C++ can
// call them; compiled only when the CUDA toolkit is present (TRAINWRECK_WITH_CUDA_KERNELS).
// Each throws std::runtime_error when the launch itself fails.
#include <cstddef>

namespace tw::cuda_faults {

// Writes far past the end of `data` on `stream`: an illegal memory access, which leaves the
// CUDA context unusable (sticky) for the rest of the process.
void launch_out_of_bounds_write(float* data, std::size_t count, void* stream);

// A kernel that spins until *flag becomes nonzero, which nothing ever sets: the GPU hangs.
void launch_spin_forever(int* flag, void* stream);

}  // namespace tw::cuda_faults
