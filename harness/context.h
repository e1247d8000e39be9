#pragma once
// The environment that travels with the numbers: host, compiler, revision, seed, and what the
// probe process found of LibTorch, CUDA, cuDNN, NCCL and the GPUs.
#include <nlohmann/json.hpp>
#include <string>

#include "harness/plan.h"

namespace tw {

// Host facts gathered in the harness process (no CUDA).
nlohmann::json host_context();

// The CPU as /proc/cpuinfo describes it (the first processor): "cpu" (model name), "cpu_vendor",
// "cpu_family", "cpu_model", "cpu_stepping" (x86; aarch64: architecture, part, revision),
// "cpu_flags" (the instruction sets that matter for speed and rounding
// that the CPU has: sse4_2, avx2, fma, avx512f, avx512_bf16, amx_*, ...), "cpu_flags_hash" (12 hex
// digits over every flag, sorted) and "cpu_flags_count". Keys whose line is missing are left out.
nlohmann::json cpu_info_from(const std::string& cpuinfo);

struct ProbeResult {
  nlohmann::json info = nlohmann::json::object();  // as reported by Backend::probe
  std::string error;                               // why the probe failed, if it did
  Capabilities caps;
};

// Runs `exe probe` in its own process (the harness must not initialize CUDA) with a timeout.
ProbeResult run_probe(const std::string& exe, double timeout_seconds = 120);

// Capabilities from a probe's info block.
Capabilities capabilities_from(const nlohmann::json& info);

std::string utc_timestamp();

}  // namespace tw
