#pragma once
// What LibTorch was built with and what this process really loaded: recorded in context.json so
// that an upgrade's diff can tell a LibTorch change from a host or runtime change.
#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace tw {

// LibTorch's build configuration (at::show_config and friends): its compiler, C++ standard,
// CUDA and cuDNN versions, CPU capability (built and picked on this CPU), BLAS, oneDNN, MKL,
// OpenMP, C++ ABI.
nlohmann::json libtorch_build_info();

// The CUDA runtime, NCCL, cuDNN, cuBLAS, LibTorch and OpenMP libraries mapped into this
// process, by family, from /proc/self/maps.
nlohmann::json loaded_runtime_libraries();

// What does not fit: two copies of one runtime, or a CUDA runtime other than LibTorch's.
std::vector<std::string> runtime_mismatches(const nlohmann::json& build, const nlohmann::json& loaded,
                                            const std::string& cuda_runtime);

}  // namespace tw
