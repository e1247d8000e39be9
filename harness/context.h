#pragma once
// The environment that travels with the numbers: host, compiler, revision, seed, and what the
// probe process found of LibTorch, CUDA, cuDNN, NCCL and the GPUs.
#include <nlohmann/json.hpp>
#include <string>

#include "harness/plan.h"

namespace tw {

// Host facts gathered in the harness process (no CUDA).
nlohmann::json host_context();

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
