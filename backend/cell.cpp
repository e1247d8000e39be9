#include "backend/cell.h"

#include <ATen/Context.h>
#include <ATen/Parallel.h>
#include <c10/util/Exception.h>
#include <torch/cuda.h>
#include <torch/version.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <string>

#include "harness/plan.h"
#include "harness/stack_rule.h"
#include "backend/errors.h"
#include "backend/memory.h"
#include "backend/op_trace.h"
#include "backend/process_group.h"
#include "backend/registry.h"
#include "backend/torch_build.h"
#include "backend/workloads.h"

#ifdef TRAINWRECK_WITH_CUDA
#include <ATen/cuda/CUDAContext.h>
#include <ATen/detail/CUDAHooksInterface.h>
#include <cuda_runtime_api.h>
#endif
#ifdef TRAINWRECK_WITH_NCCL
#ifndef USE_C10D_NCCL
#define USE_C10D_NCCL  // as in backend/nccl_collective.cpp: torch_cuda's interface definition
#endif
#include <torch/csrc/distributed/c10d/NCCLUtils.hpp>
#endif

namespace tw {
using nlohmann::json;

namespace {

int env_int(const char* name, int fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::atoi(v) : fallback;
}

// cuBLASLt shares cuBLAS's workspace (CUBLAS_WORKSPACE_CONFIG, ":SIZE_KiB:COUNT" pairs) and asks for
// 1 MiB of its own by default; with a smaller cuBLAS workspace every cell's log would carry
// "Requested unified CUBLASLT workspace size ... exceeds CUBLAS workspace size" and cuBLASLt gets
// the smaller size anyway. Asking for exactly that size says the same without the warning.
void match_cublaslt_workspace() {
  const char* lt = std::getenv("CUBLASLT_WORKSPACE_SIZE");
  const char* config = std::getenv("CUBLAS_WORKSPACE_CONFIG");
  if ((lt && *lt) || !config) return;
  long long kib = 0;
  const char* p = config;
  while (*p == ':') {
    char* end = nullptr;
    const long long size = std::strtoll(p + 1, &end, 10);
    if (end == p + 1 || *end != ':') return;
    p = end;
    const long long count = std::strtoll(p + 1, &end, 10);
    if (end == p + 1) return;
    p = end;
    kib += size * count;  // cuBLAS adds the pairs up
  }
  if (*p != '\0' || kib <= 0) return;
  setenv("CUBLASLT_WORKSPACE_SIZE", std::to_string(kib).c_str(), /*overwrite=*/0);
}

}  // namespace

void run_training_cell(const json& cell, const EventWriter& events) {
  const std::string device_class = cell.value("device", "cpu");
  const int rank = env_int("RANK", 0);
  const int world = env_int("WORLD_SIZE", 1);
  const int64_t budget = cell.at("limits").value("memory_mb", 4096LL) << 20;
  // Every mitigation of a scenario sees the same data and initial weights.
  const uint64_t seed = (cell.value("seed", 0ULL) ^ fnv1a(cell.value("scenario", ""))) & ((1ULL << 53) - 1);

  const Fault* fault = find_fault(cell.at("fault").get<std::string>());
  if (!fault) throw std::runtime_error("unknown fault " + cell.at("fault").get<std::string>());
  const std::string mitigation = cell.value("mitigation", "none");
  Recipe recipe;
  recipe.apply_json(cell.value("recipe", json::object()));
  const Recipe base = recipe;
  fault->apply(recipe, cell.value("fault_params", json::object()));
  // A stack applies its remedies in order, each to the recipe the one before it left (the
  // harness sends every cell's as "stack": empty for none, one member for a single remedy).
  for (const json& member : cell.value("stack", json::array())) {
    const std::string name = member.at("name").get<std::string>();
    const Mitigation* remedy = find_mitigation(name);
    if (!remedy) throw std::runtime_error("unknown mitigation " + name);
    remedy->apply(recipe, member.value("params", json::object()));
  }
  // `trainwreck bisect`: the losses and a window of ops, traced first (backend/op_trace.h).
  if (cell.contains("trace")) recipe.hooks.insert(recipe.hooks.begin(), make_op_trace(OpTraceSpec::from_json(cell["trace"])));
  // --horizon: the same cell trained for a multiple of its steps (warm-up lengths stay; a cosine
  // decay stretches to the new horizon, as it does when a practitioner trains longer).
  if (const double scale = cell.value("horizon_scale", 1.0); scale != 1.0)
    recipe.loop.steps = std::max<int64_t>(1, std::llround(static_cast<double>(recipe.loop.steps) * scale));
  if (const std::string why = workload_unsupported(base, recipe); !why.empty()) {
    events.error(ErrorKind::kUnsupported, why);
    return;
  }
  // cuBLAS needs this before its first handle for deterministic results. ":16:8" rather than
  // ":4096:8": the workspace comes from the caching allocator and counts against the cell's
  // memory fraction, and 32 MiB of a 64 MiB budget would decide the oversized-batch cells.
  setenv("CUBLAS_WORKSPACE_CONFIG", ":16:8", /*overwrite=*/0);
  match_cublaslt_workspace();
  if (!fault->before_device(recipe, cell.value("fault_params", json::object()), events)) return;

  at::set_num_threads(static_cast<int>(recipe.loop.intra_op_threads));
  at::globalContext().setDeterministicAlgorithms(true, /*warn_only=*/true);
  // Host memory is budgeted on every device class: a CUDA cell that materializes too much on the
  // host gets a catchable out-of-memory error too, not the RLIMIT_DATA backstop.
  install_cpu_budget(budget);
  c10::Device device(c10::DeviceType::CPU);
  if (device_class == "cuda") {
    if (!torch::cuda::is_available()) {
      events.error(ErrorKind::kUnsupported, "CUDA is not available in this process");
      return;
    }
    // An ordinal past the device count fails loudly in the first CUDA call, as it would in a job.
    device = c10::Device(c10::DeviceType::CUDA, static_cast<c10::DeviceIndex>(env_int("LOCAL_RANK", 0)));
    // A rank of a multi-process cell limits the device its fault maps it to (train_data_parallel),
    // which may be another one or none at all; touching LOCAL_RANK's ordinal here could fail first.
    if (world == 1) {
      limit_cuda_memory(device, budget);
      set_cell_device(device);
    }
  } else {
    set_cell_device(device);
  }

  CellEnv env{cell, events, device};
  env.seed = seed;
  env.rank = rank;
  env.world_size = world;
  env.memory_budget_bytes = budget;
  env.mitigation = mitigation;
  env.mitigation_params = cell.value("mitigation_params", json::object());
  try {
    fault->run(env, recipe);
  } catch (const c10::Error& e) {
    emit_error(events, e);
  }
}

json probe_environment() {
  json info = {{"libtorch", TORCH_VERSION}, {"cuda_available", false}, {"cuda_device_count", 0}};
  // popen forks: it must come before anything initializes CUDA in this process.
  if (FILE* p = popen("nvidia-smi --query-gpu=driver_version --format=csv,noheader 2>/dev/null | head -1", "r")) {
    char buf[64] = {0};
    if (fgets(buf, sizeof buf, p)) {
      std::string s(buf);
      while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
      if (!s.empty()) info["nvidia_driver"] = s;
    }
    pclose(p);
  }
  info["c10d_gloo"] = gloo_available();
  if (!gloo_available()) info["c10d_gloo_missing"] = gloo_unavailable_reason();
#ifdef TRAINWRECK_WITH_NCCL
  info["c10d_nccl"] = true;
#else
  info["c10d_nccl"] = false;
#endif
#ifdef TRAINWRECK_WITH_CUDA
  info["libtorch_cuda_build"] = true;
  int runtime = 0;
  if (cudaRuntimeGetVersion(&runtime) == cudaSuccess)
    info["cuda_runtime"] = std::to_string(runtime / 1000) + "." + std::to_string((runtime % 1000) / 10);
  int driver = 0;
  if (cudaDriverGetVersion(&driver) == cudaSuccess && driver > 0)
    info["cuda_driver_api"] = std::to_string(driver / 1000) + "." + std::to_string((driver % 1000) / 10);
  if (torch::cuda::is_available()) {
    info["cuda_available"] = true;
    info["cuda_device_count"] = static_cast<int>(torch::cuda::device_count());
    const cudaDeviceProp* prop = at::cuda::getDeviceProperties(0);
    info["gpu_name"] = prop->name;
    info["gpu_memory_mb"] = static_cast<long long>(prop->totalGlobalMem >> 20);
    info["gpu_compute_capability"] = std::to_string(prop->major) + "." + std::to_string(prop->minor);
    const long cudnn = at::detail::getCUDAHooks().versionCuDNN();
    if (cudnn > 0) info["cudnn"] = cudnn;
  }
#else
  info["libtorch_cuda_build"] = false;
#endif
#ifdef TRAINWRECK_WITH_NCCL
  // The NCCL library LibTorch loaded (ncclGetVersion; touches no device).
  info["nccl"] = c10d::getNcclVersion();
#endif
  info["intraop_threads_default"] = at::get_num_threads();
  info["libtorch_build"] = libtorch_build_info();
  info["loaded_libraries"] = loaded_runtime_libraries();
  const auto mismatches =
      runtime_mismatches(info["libtorch_build"], info["loaded_libraries"], info.value("cuda_runtime", ""));
  if (!mismatches.empty()) info["runtime_warnings"] = mismatches;
  return info;
}

json running_stack() {
  json stack = {{"libtorch", TORCH_VERSION}};
#ifdef TRAINWRECK_WITH_NCCL
  stack["nccl"] = c10d::getNcclVersion();
#endif
#ifdef TRAINWRECK_WITH_CUDA
  int runtime = 0;
  if (cudaRuntimeGetVersion(&runtime) == cudaSuccess && runtime > 0)
    stack["cuda_runtime"] = std::to_string(runtime / 1000) + "." + std::to_string((runtime % 1000) / 10);
  if (torch::cuda::is_available()) {
    // The cuDNN library loaded (cudnnGetVersion), not the one LibTorch was built with. cuDNN 9
    // numbers itself major * 10000 + minor * 100 + patch, cuDNN 8 major * 1000 + minor * 100 + patch.
    const long cudnn = at::detail::getCUDAHooks().versionRuntimeCuDNN();
    const long major_unit = cudnn >= 10000 ? 10000 : 1000;
    if (cudnn > 0)
      stack["cudnn"] = std::to_string(cudnn / major_unit) + "." + std::to_string(cudnn % major_unit / 100) + "." +
                       std::to_string(cudnn % 100);
  }
#endif
  std::ifstream proc("/proc/driver/nvidia/version");
  std::string line;
  if (std::getline(proc, line))
    if (const std::string driver = driver_version_from_proc(line); !driver.empty()) stack["nvidia_driver"] = driver;
  return stack;
}

Backend training_backend() {
  Backend b;
  b.catalog = registered_catalog();
  b.run_cell = run_training_cell;
  b.probe = probe_environment;
  return b;
}

}  // namespace tw
