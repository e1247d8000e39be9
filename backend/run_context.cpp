#include "backend/run_context.h"

#include <ATen/Context.h>
#include <ATen/Parallel.h>
#include <ATen/autocast_mode.h>
#include <torch/version.h>

#include <sched.h>

#include <set>
#include <thread>

namespace tw {
using nlohmann::json;

json record_run_context(c10::Device device) {
  auto& ctx = at::globalContext();
  return {{"libtorch", TORCH_VERSION},
          {"device", device.str()},
          {"intra_op_threads", at::get_num_threads()},
          {"deterministic_algorithms", ctx.deterministicAlgorithms()},
          {"allow_tf32_cublas", ctx.allowTF32CuBLAS()},
          {"allow_tf32_cudnn", ctx.allowTF32CuDNN()},
          {"matmul_dtype", at::autocast::is_autocast_enabled(device.type())
                               ? c10::toString(at::autocast::get_autocast_dtype(device.type()))
                               : "Float"}};
}

void apply_run_context(const json& context) {
  auto& ctx = at::globalContext();
  if (context.contains("intra_op_threads")) at::set_num_threads(context["intra_op_threads"].get<int>());
  if (context.contains("deterministic_algorithms"))
    ctx.setDeterministicAlgorithms(context["deterministic_algorithms"].get<bool>(), /*warn_only=*/true);
  if (context.contains("allow_tf32_cublas")) ctx.setAllowTF32CuBLAS(context["allow_tf32_cublas"].get<bool>());
  if (context.contains("allow_tf32_cudnn")) ctx.setAllowTF32CuDNN(context["allow_tf32_cudnn"].get<bool>());
  if (context.contains("matmul_dtype") && context.contains("device")) {
    const c10::DeviceType type = c10::Device(context["device"].get<std::string>()).type();
    const std::string dtype = context["matmul_dtype"].get<std::string>();
    const bool reduced = dtype != "Float";
    at::autocast::set_autocast_enabled(type, reduced);
    if (reduced) at::autocast::set_autocast_dtype(type, dtype == "Half" ? at::kHalf : at::kBFloat16);
    // Autocast's cache of cast weights is cleared when a scope ends; enabled for a whole run, it
    // would keep the first step's weights, so every op casts afresh.
    at::autocast::set_autocast_cache_enabled(!reduced);
  }
}

std::vector<std::string> diff_run_context(const json& baseline, const json& run) {
  std::set<std::string> keys;
  for (const auto& [k, v] : baseline.items()) keys.insert(k);
  for (const auto& [k, v] : run.items()) keys.insert(k);
  std::vector<std::string> changes;
  for (const auto& k : keys) {
    const json a = baseline.contains(k) ? baseline[k] : json("(absent)");
    const json b = run.contains(k) ? run[k] : json("(absent)");
    if (a != b) changes.push_back(k + ": " + a.dump() + " -> " + b.dump());
  }
  return changes;
}

int usable_cores() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0) return CPU_COUNT(&set);
  const unsigned n = std::thread::hardware_concurrency();
  return n > 0 ? static_cast<int>(n) : 1;
}

}  // namespace tw
