#pragma once
// What a run is asked to do: its settings, from the flags or from the run.json of the run it
// resumes, and its rounds (the repeats or the seeds of the whole plan).
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "harness/cli/commands.h"
#include "harness/cli/flags.h"
#include "harness/plan.h"

namespace tw::cli {

// The settings of a run. to_json is its run.json (all but --jobs and --out), from which --resume
// finishes the run as it was started.
struct RunSettings {
  std::vector<std::string> scenario_paths;
  std::vector<std::string> filters;
  std::string device = "auto";
  int jobs = 1;
  std::string out = "results/latest";
  double timeout = 0;
  Shard shard;
  uint64_t seed = kDefaultSeed;
  bool selftest = false;
  int repeat = 1;
  int seeds = 1;  // seed, seed + 1, ...: each a round of the whole plan
  double horizon = 1;  // every cell trains this many times its horizon

  nlohmann::json to_json() const {
    return {{"scenarios", scenario_paths},
            {"filters", filters},
            {"device", device},
            {"timeout", timeout},
            {"shard_index", shard.index},
            {"shard_count", shard.count},
            {"seed", seed},
            {"selftest", selftest},
            {"repeat", repeat},
            {"seeds", seeds},
            {"horizon", horizon}};
  }
};

// One pass of the whole plan: a repeat (same seed) or a seed of --seeds.
struct Round {
  std::string dir;  // where its cells' files go
  uint64_t seed = 0;
  std::string note;  // for progress lines: ", repeat 2/3", ", seed 20240612"
};

// The rounds of a run, their files under `cells_dir`; --repeat and --seeds are never both above
// 1 (the flags are exclusive).
std::vector<Round> rounds_of(const RunSettings& rs, const std::string& cells_dir);

// Run settings: a resumed run's own, or the flags'; --jobs in either case (default: the cores).
RunSettings run_settings(const Flags& f, bool selftest);

}  // namespace tw::cli
