#pragma once
// The numerics environment of a run (LibTorch version, device, threads, determinism, TF32, the
// precision its matmuls run in),
// recorded as plain JSON so that it can travel with the run's results and be diffed against
// the environment a baseline was recorded in.
#include <c10/core/Device.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace tw {

nlohmann::json record_run_context(c10::Device device);

// Sets what a recorded context says about threads, deterministic algorithms, TF32 and the matmul
// precision ("matmul_dtype": "Float", or "BFloat16": autocast on the context's device, as a stack
// that lowered a default precision would run).
void apply_run_context(const nlohmann::json& context);

// "key: before -> after" for every key whose value differs (missing keys included), sorted.
std::vector<std::string> diff_run_context(const nlohmann::json& baseline, const nlohmann::json& run);

// CPUs this process may run on (its affinity mask), at least 1.
int usable_cores();

}  // namespace tw
