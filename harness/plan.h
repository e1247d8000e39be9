#pragma once
// Expands scenarios into cells: (scenario, mitigation, device), filtered and sharded.
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "harness/catalog.h"
#include "harness/outcome.h"
#include "harness/scenario.h"

namespace tw {

struct Capabilities {
  int gpus = 0;       // CUDA devices the probe saw
  bool gloo = false;  // c10d Gloo backend compiled in
  bool nccl = false;  // c10d NCCL backend compiled in
  nlohmann::json to_json() const;
};

struct CellSpec {
  std::string id;  // "<scenario>/<label>/<device>"
  std::string scenario;
  std::string fault;
  std::string mitigation;          // registered name; for a stack its members joined with "+"
  std::string label;               // column in the matrix
  std::vector<StackMember> stack;  // remedies in application order (empty for "none")
  std::string device;              // "cpu" or "cuda"
  nlohmann::json fault_params;
  nlohmann::json mitigation_params;
  nlohmann::json recipe;
  Limits limits;
  int ranks = 1;
  std::vector<std::string> requirements;  // scenario's, fault's and every stack member's together
  std::optional<Outcome> expected;
  std::string unsupported_reason;  // set when the machine lacks a requirement
  uint64_t seed = 0;               // the run's seed; the cell derives its own from it and its id
  double horizon_scale = 1;        // the cell trains this many times its recipe's steps (--horizon)
  nlohmann::json trace;            // `trainwreck bisect`'s op trace (backend/op_trace.h); null: none

  std::string file_stem() const;   // id with '/' replaced, safe as a file name
  nlohmann::json to_json() const;  // what the cell process receives
};

struct Shard {
  int index = 0;  // 0-based
  int count = 1;
};

// Most parts a run may be split into (--shard K/N, TEST_TOTAL_SHARDS).
constexpr int kMaxShards = 100000;

// "K/N" (1-based K, as users write it) -> Shard; throws InputError naming the flag.
Shard parse_shard(const std::string& text, const std::string& flag);

struct PlanOptions {
  std::vector<std::string> devices;  // device classes to run on
  std::vector<std::string> filters;  // globs over cell ids; "-glob" excludes
  Shard shard;
  Capabilities caps;
};

std::vector<CellSpec> plan_cells(const std::vector<Scenario>& scenarios, const Catalog& catalog,
                                 const PlanOptions& options);

// FNV-1a: a hash stable across runs and machines (std::hash is not); shards and seeds use it.
uint64_t fnv1a(const std::string& s);

// Glob with '*' and '?' over the whole string.
bool glob_match(const std::string& pattern, const std::string& text);
// Positive patterns (any must match, none given means all) and "-pattern" exclusions.
bool filter_match(const std::vector<std::string>& filters, const std::string& id);

}  // namespace tw
