#pragma once
// A scenario: one fault, the baseline recipe, the mitigations to apply in turn, the expected
// outcome for each (mitigation, device class), and limits. Plain data that round-trips to JSON.
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "harness/catalog.h"
#include "harness/matrix_records.h"
#include "harness/outcome.h"

namespace tw {

struct Limits {
  double wall_seconds = 120;      // whole cell, then it is killed (hang)
  double heartbeat_seconds = 30;  // longest silence on the event pipe, then it is killed (hang)
  int64_t memory_mb = 4096;       // the cell's memory budget (on CUDA, at least the card's memory = the whole card)
  bool exclusive = false;         // runs alone: no other cell at the same time (whole-card cells, timings)
  nlohmann::json to_json() const;
};

// One remedy of a stack, with its own parameters.
struct StackMember {
  std::string name;  // registered mitigation
  nlohmann::json params = nlohmann::json::object();
  bool operator==(const StackMember& o) const { return name == o.name && params == o.params; }
};

// Most stacks a scenario entry may apply at once ("apply": [...]).
constexpr std::size_t kMaxStackMembers = 8;

struct MitigationEntry {
  std::string name;   // registered mitigation; for a stack its members joined with "+"
  std::string label;  // column name in the matrix; defaults to name (required for a stack)
  nlohmann::json params = nlohmann::json::object();  // a single mitigation's; {} for a stack
  // The remedies in application order: one for a single mitigation, none for "none", and for
  // "apply": [...] every member (practice applies remedies together, e.g. residual + BatchNorm).
  std::vector<StackMember> stack;
  std::map<std::string, Outcome> expect;  // device class ("cpu", "cuda") -> outcome

  bool is_stack() const { return stack.size() > 1; }
  // `stack`, or for an entry built in code with only a name, that name as a stack of one.
  std::vector<StackMember> members() const;
};

// "residual+batchnorm+he_init": how a stack is named where one mitigation name is expected.
std::string stack_name(const std::vector<StackMember>& stack);

struct Scenario {
  std::string file;  // where it was loaded from
  std::string name;
  std::string fault;
  std::string description;
  nlohmann::json params = nlohmann::json::object();  // fault parameters
  nlohmann::json recipe = nlohmann::json::object();  // overrides of the healthy recipe
  Limits limits;
  std::vector<std::string> devices = {"cpu", "cuda"};  // device classes it applies to
  std::vector<std::string> requirements;
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

// `trainwreck pin`: writes the outcomes of a finished run's cells of scenario `scenario` into
// its file's document `doc` (as read, so its form and key order stay) as expectations. Cells
// that are unsupported are left alone; cells whose seeds disagree are left unpinned and their
// ids added to `skipped`. Only cells whose id passes `filters` (as run's --filter: globs, a
// leading '-' excludes; none: every cell) are pinned. Each change is described on `log`; returns
// the number of changes.
int pin_expectations(nlohmann::ordered_json& doc, const std::string& scenario, const Matrix& matrix, std::ostream& log,
                     std::vector<std::string>& skipped, const std::vector<std::string>& filters = {});

}  // namespace tw
