// Helpers shared by the diff tests: cells and matrices as a run writes them, cells with seeds, loss
// curves, timings and host facts for the diff's tiers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "harness/repeat.h"

namespace tw_test::diff_util {
using nlohmann::json;

inline json cell(const std::string& id, const std::string& outcome, json evidence = json::object()) {
  const auto a = id.find('/'), b = id.rfind('/');
  return {{"id", id},
          {"scenario", id.substr(0, a)},
          {"fault", "f"},
          {"mitigation", id.substr(a + 1, b - a - 1)},
          {"device", id.substr(b + 1)},
          {"outcome", outcome},
          {"expected", outcome},
          {"verdict", "pass"},
          {"evidence", evidence}};
}

inline json context(const std::string& libtorch, const std::string& compiler) {
  return {{"host", {{"compiler", compiler}, {"cpu", "Test CPU"}}},
          {"probe", {{"libtorch", libtorch}, {"nccl", "2.28.3"}}},
          {"seed", 1},
          {"started_at", "2026-01-01T00:00:00Z"}};
}

inline json matrix(const json& ctx, const json& cells) { return {{"context", ctx}, {"cells", cells}}; }

// A cell run with seeds 1, 2, 3 whose outcomes were `outcomes`; the first seed's is the main one.
inline json seeded(const std::string& id, const std::vector<std::string>& outcomes, json values = {1, 2, 3}) {
  json c = cell(id, outcomes.front());
  std::vector<json> results;
  std::vector<uint64_t> seeds;
  for (std::size_t i = 0; i < outcomes.size(); ++i) {
    results.push_back({{"outcome", outcomes[i]}, {"evidence", json::object()}});
    seeds.push_back(values[i].get<uint64_t>());
  }
  c["seeds"] = tw::aggregate_seeds(seeds, results);
  return c;
}

inline json curve(std::vector<double> loss, int first_step = 1, int stride = 10) {
  json steps = json::array();
  for (std::size_t i = 0; i < loss.size(); ++i) steps.push_back(first_step + static_cast<int>(i) * stride);
  return {{"step", steps}, {"loss", loss}};
}

// A healthy cell with a loss curve and the given evidence (seconds, memory, steps to target).
inline json trained(const std::string& id, const json& series, json evidence = json::object()) {
  json c = cell(id, "healthy", std::move(evidence));
  c["series"] = series;
  return c;
}

inline json host_context(const std::string& cpu = "Intel(R) Xeon(R) Processor",
                         json flags = {"sse4_2", "avx", "avx2", "fma", "avx512f", "avx512_bf16", "amx_bf16",
                                       "amx_tile"}) {
  return {{"host",
           {{"compiler", "g++ 12"},
            {"cpu", cpu},
            {"cpu_vendor", "GenuineIntel"},
            {"cpu_family", 6},
            {"cpu_model", 143},
            {"cpu_stepping", 8},
            {"cpu_flags", flags},
            {"cpu_flags_hash", "0123456789ab"},
            {"cpu_cores", 2},
            {"os", "Linux 6.1"}}},
          {"probe", {{"libtorch", "2.11.0"}}},
          {"seed", 1}};
}

inline const json* per_cell(const json& d, const std::string& id) {
  for (const auto& c : d["per_cell"])
    if (c["id"] == id) return &c;
  return nullptr;
}

inline const std::vector<double> kLoss = {1.0, 0.8, 0.6, 0.45, 0.3, 0.2, 0.15, 0.1};

// A cell that trained `steps` steps at `step_ms` per step.
inline json timed(const std::string& id, double step_ms, int steps = 100, const char* how = "step_seconds_median") {
  json ev = {{"steps", steps}, {"train_seconds", step_ms * steps / 1000}};
  if (std::string(how) == "step_seconds_median") ev["step_seconds_median"] = step_ms / 1000;
  return cell(id, "healthy", ev);
}

}  // namespace tw_test::diff_util
