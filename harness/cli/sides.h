#pragma once
// What `trainwreck speed` and `trainwreck bisect` share: the two sides of a comparison (an
// executable and what it adds to its cells' environment) and the cells they run.
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "harness/backend.h"
#include "harness/cli/flags.h"
#include "harness/plan.h"

namespace tw::cli {

struct Side {
  std::string name;  // "a" or "b"
  std::string exe;
  std::vector<std::string> env;
  nlohmann::json to_json() const { return {{"exe", exe}, {"env", env}}; }
};

// --a EXE / --b EXE (default: this executable) and --a-env / --b-env KEY=VALUE, checked.
Side side_of(const Flags& f, const std::string& name);

// The cells --scenarios, --filter and --device plan, with --seed's seed; none is an input error.
std::vector<CellSpec> planned_cells(const Flags& f, const Backend& backend, uint64_t seed);

}  // namespace tw::cli
