#pragma once
// Trains a recipe through the backend's loop on the CPU, as a cell does, and returns its events.
#include <ATen/Parallel.h>

#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "harness/classify.h"
#include "backend/registry.h"
#include "backend/trainer.h"

namespace tw_test {

inline std::vector<nlohmann::json> train_events(tw::Recipe r, uint64_t seed = 20240611) {
  // As a cell does: the recipe's intra-op threads (one by default; ctest runs tests side by side).
  at::set_num_threads(static_cast<int>(r.loop.intra_op_threads));
  std::FILE* f = std::tmpfile();
  const nlohmann::json cell = nlohmann::json::object();
  tw::EventWriter writer(fileno(f));
  tw::CellEnv env{cell, writer, c10::Device(c10::kCPU)};
  env.seed = seed;
  tw::train(env, r);
  std::fflush(f);
  std::rewind(f);
  std::vector<nlohmann::json> events;
  std::string line;
  for (int c; (c = std::fgetc(f)) != EOF;) {
    if (c != '\n') {
      line.push_back(static_cast<char>(c));
      continue;
    }
    events.push_back(nlohmann::json::parse(line));
    line.clear();
  }
  std::fclose(f);
  return events;
}

// The harness's verdict on one rank's events, as a matrix cell gets it (a clean exit).
inline tw::Classification verdict_of(std::vector<nlohmann::json> events, int64_t memory_mb = 4096) {
  tw::Observation o;
  o.ranks = {tw::RankExit{true, 0, 0}};
  o.events = std::move(events);
  o.limits.memory_mb = memory_mb;
  return tw::classify(o);
}

inline bool healthy(const std::vector<nlohmann::json>& events) {
  return verdict_of(events).outcome == tw::Outcome::kHealthy;
}

}  // namespace tw_test
