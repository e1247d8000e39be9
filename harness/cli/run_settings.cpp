#include "harness/cli/run_settings.h"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <system_error>

#include "harness/errors.h"
#include "harness/store.h"

namespace tw::cli {
using nlohmann::json;
namespace fs = std::filesystem;

std::vector<Round> rounds_of(const RunSettings& rs, const std::string& cells_dir) {
  std::vector<Round> rounds;
  for (int i = 0; i < rs.repeat; ++i) {
    Round r{i == 0 ? cells_dir : cells_dir + "/repeat-" + std::to_string(i + 1), rs.seed, ""};
    if (rs.repeat > 1) r.note = ", repeat " + std::to_string(i + 1) + "/" + std::to_string(rs.repeat);
    rounds.push_back(r);
  }
  if (rs.seeds <= 1) return rounds;
  rounds.clear();
  for (int i = 0; i < rs.seeds; ++i) {
    const uint64_t seed = rs.seed + static_cast<uint64_t>(i);
    rounds.push_back(
        {i == 0 ? cells_dir : cells_dir + "/seed-" + std::to_string(seed), seed,
         ", seed " + std::to_string(seed) + " (" + std::to_string(i + 1) + "/" + std::to_string(rs.seeds) + ")"});
  }
  return rounds;
}

namespace {

// The settings of an interrupted run, from its run.json (--resume DIR).
RunSettings resumed_settings(const std::string& dir) {
  RunSettings rs;
  rs.out = dir;
  const std::string saved = rs.out + "/run.json";
  std::error_code ec;
  if (!fs::exists(saved, ec)) throw InputError(saved, "", "no interrupted run to resume here (run.json missing)");
  json j = json::parse(read_file(saved), nullptr, false);
  if (j.is_discarded() || !j.is_object()) throw InputError(saved, "", "not valid JSON");
  try {
    rs.scenario_paths = j.at("scenarios").get<std::vector<std::string>>();
    rs.filters = j.at("filters").get<std::vector<std::string>>();
    rs.device = j.at("device").get<std::string>();
    rs.timeout = j.at("timeout").get<double>();
    rs.shard.index = j.at("shard_index").get<int>();
    rs.shard.count = j.at("shard_count").get<int>();
    rs.seed = j.at("seed").get<uint64_t>();
    rs.selftest = j.value("selftest", false);
    rs.repeat = j.value("repeat", 1);
    rs.seeds = j.value("seeds", 1);
    rs.horizon = j.value("horizon", 1.0);
  } catch (const json::exception& e) {
    throw InputError(saved, "", std::string("malformed run settings: ") + e.what());
  }
  if (rs.repeat < 1 || rs.repeat > 1000) throw InputError(saved, "repeat", "must be from 1 to 1000");
  if (rs.seeds < 1 || rs.seeds > kMaxSeeds) throw InputError(saved, "seeds", "must be from 1 to 100");
  if (rs.seeds > 1 && rs.repeat > 1) throw InputError(saved, "seeds", "cannot be combined with repeat");
  return rs;
}

// The settings of a new run, from its flags.
RunSettings fresh_settings(const Flags& f, bool selftest) {
  RunSettings rs;
  rs.selftest = selftest;
  if (!selftest) rs.scenario_paths = scenario_paths(f);
  rs.filters = f.all("--filter");
  rs.device = f.one("--device", selftest ? "cpu" : "auto");
  check_device(rs.device);
  if (f.has("--out")) rs.out = f.one("--out");
  if (rs.out.empty()) throw InputError("command line", "--out", "must not be empty");
  if (f.has("--timeout")) rs.timeout = parse_seconds(f.one("--timeout"), "--timeout");
  if (f.has("--shard")) {
    rs.shard = parse_shard(f.one("--shard"), "--shard");
  } else if (const char* idx = getenv("TEST_SHARD_INDEX"); idx && getenv("TEST_TOTAL_SHARDS")) {
    const long long n = parse_int(getenv("TEST_TOTAL_SHARDS"), "TEST_TOTAL_SHARDS", 1, kMaxShards);
    rs.shard = Shard{static_cast<int>(parse_int(idx, "TEST_SHARD_INDEX", 0, n - 1)), static_cast<int>(n)};
  }
  if (f.has("--seed")) rs.seed = static_cast<uint64_t>(parse_int(f.one("--seed"), "--seed", 0, (1LL << 53)));
  if (f.has("--repeat")) rs.repeat = static_cast<int>(parse_int(f.one("--repeat"), "--repeat", 1, 1000));
  if (f.has("--seeds")) rs.seeds = static_cast<int>(parse_int(f.one("--seeds"), "--seeds", 1, kMaxSeeds));
  if (f.has("--horizon")) rs.horizon = parse_horizon(f.one("--horizon"));
  // Repeats ask "same seed, same outcome?", seeds "other seed, same outcome?": one question per run.
  if (f.has("--seeds") && f.has("--repeat"))
    throw InputError("command line", "--seeds", "cannot be combined with --repeat");
  return rs;
}

}  // namespace

RunSettings run_settings(const Flags& f, bool selftest) {
  const long cores = sysconf(_SC_NPROCESSORS_ONLN);
  RunSettings rs;
  if (f.has("--resume")) {
    for (const char* conflicting : {"--scenarios", "--filter", "--device", "--shard", "--seed", "--timeout", "--out",
                                    "--repeat", "--seeds", "--horizon"})
      if (f.has(conflicting))
        throw InputError("command line", conflicting,
                         "cannot be combined with --resume (the run's own settings are used)");
    rs = resumed_settings(f.one("--resume"));
  } else {
    rs = fresh_settings(f, selftest);
  }
  rs.jobs = static_cast<int>(cores > 0 ? cores : 1);
  if (f.has("--jobs")) rs.jobs = static_cast<int>(parse_int(f.one("--jobs"), "--jobs", 1, 256));
  return rs;
}

}  // namespace tw::cli
