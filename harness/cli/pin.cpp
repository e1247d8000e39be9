// `trainwreck pin DIR`: write a finished run's outcomes into the scenarios as expectations.
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "harness/cli/commands.h"
#include "harness/cli/flags.h"
#include "harness/errors.h"
#include "harness/scenario.h"
#include "harness/store.h"

namespace tw::cli {

// Writes the outcomes of a finished run into the scenario files as expectations for the
// run's device classes. Only cells that ran are pinned; unsupported cells are not.
int cmd_pin(int argc, char** argv, const Backend& backend) {
  const Flags f = parse_flags("pin", argc, argv, 2, {"--scenarios", "--filter"}, {"--dry-run"}, 1);
  if (f.positional.empty()) throw InputError("command line", "pin", "needs a results directory (trainwreck pin DIR)");
  const Matrix matrix = load_matrix(f.positional.front());
  const Catalog catalog = full_catalog(backend);
  const std::vector<Scenario> scenarios = load_scenarios(scenario_paths(f), catalog);
  int changed = 0;
  std::vector<std::string> skipped;
  for (const auto& s : scenarios) {
    nlohmann::ordered_json doc = nlohmann::ordered_json::parse(read_file(s.file));
    const int n = pin_expectations(doc, s.name, matrix, std::cout, skipped, f.all("--filter"));
    changed += n;
    if (n > 0 && !f.has("--dry-run")) write_file_atomic(s.file, doc.dump(2) + "\n");
  }
  std::cout << changed << " expectation(s) " << (f.has("--dry-run") ? "would change" : "changed") << "\n";
  if (skipped.empty()) return kExitAsExpected;
  std::cerr << "trainwreck: " << skipped.size() << " cell(s) not pinned: their seeds disagree (seed-dependent)\n";
  for (const auto& id : skipped) std::cerr << "  " << id << "\n";
  return kExitUnexpected;
}

}  // namespace tw::cli
