#pragma once
// A scenario: one fault, the baseline recipe, the mitigations to apply in turn, the expected
// outcome for each (mitigation, device class), and limits. Plain data that round-trips to JSON.
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "harness/catalog.h"
#include "harness/outcome.h"

namespace tw {

struct Limits {
  double wall_seconds = 120;      // whole cell, then it is killed (hang)
  double heartbeat_seconds = 30;  // longest silence on the event pipe, then it is killed (hang)
  int64_t memory_mb = 4096;       // the cell's memory budget (on CUDA, at least the card's memory = the whole card)
  bool exclusive = false;         // runs alone: no other cell at the same time (whole-card cells, timings)
  nlohmann::json to_json() const;
};

struct MitigationEntry {
  std::string name;    // registered mitigation
  std::string label;   // column name in the matrix; defaults to name
  nlohmann::json params = nlohmann::json::object();
  std::map<std::string, Outcome> expect;  // device class ("cpu", "cuda") -> outcome
};

struct Scenario {
  std::string file;  // where it was loaded from
  std::string name;
  std::string fault;
  std::string description;
  nlohmann::json params = nlohmann::json::object();  // fault parameters
  nlohmann::json recipe = nlohmann::json::object();  // overrides of the healthy recipe
  Limits limits;
  std::vector<std::string> devices = {"cpu", "cuda"};  // device classes it applies to
  std::vector<std::string> requires;
  std::vector<MitigationEntry> mitigations;

  nlohmann::json to_json() const;
};

// Upper bound on a scenario file; larger files are refused unread.
constexpr std::size_t kMaxScenarioBytes = 1 << 20;

// Parses and validates one scenario. Throws InputError naming `where` and the field.
Scenario parse_scenario(const std::string& text, const std::string& where, const Catalog& catalog);
Scenario load_scenario(const std::string& path, const Catalog& catalog);

// Files and directories (every *.json inside, sorted); scenario names must be unique.
std::vector<Scenario> load_scenarios(const std::vector<std::string>& paths, const Catalog& catalog);

// "cuda", "nccl", "gloo", "gpus>=N": returns the GPU count the requirement implies (0 for none),
// or throws InputError for an unknown requirement.
int required_gpus(const std::string& requirement, const std::string& where, const std::string& field);

}  // namespace tw
