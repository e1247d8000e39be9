#include "harness/cli/sides.h"

#include <unistd.h>

#include <filesystem>

#include "harness/cli/commands.h"
#include "harness/context.h"
#include "harness/errors.h"
#include "harness/process.h"
#include "harness/runner.h"
#include "harness/scenario.h"

namespace tw::cli {
namespace fs = std::filesystem;

Side side_of(const Flags& f, const std::string& name) {
  Side s;
  s.name = name;
  const std::string flag = "--" + name;
  s.exe = f.has(flag) ? f.one(flag) : self_executable();
  std::error_code ec;
  if (!fs::is_regular_file(s.exe, ec) || access(s.exe.c_str(), X_OK) != 0)
    throw InputError("command line", flag, "'" + s.exe + "' is not an executable file");
  s.exe = fs::absolute(s.exe).string();
  for (const auto& kv : f.all(flag + "-env")) {
    const auto eq = kv.find('=');
    if (eq == std::string::npos || eq == 0)
      throw InputError("command line", flag + "-env", "must be KEY=VALUE (got '" + kv + "')");
    s.env.push_back(kv);
  }
  return s;
}

std::vector<CellSpec> planned_cells(const Flags& f, const Backend& backend, uint64_t seed) {
  const std::string device = f.one("--device", "cpu");
  check_device(device);
  const Catalog catalog = full_catalog(backend);
  const std::vector<Scenario> scenarios = load_scenarios(scenario_paths(f), catalog);
  ProbeResult probe;
  if (device != "cpu") probe = run_probe(self_executable());
  PlanOptions plan;
  plan.caps = probe.caps;
  plan.filters = f.all("--filter");
  plan.devices = resolve_devices(device, probe.caps);
  std::vector<CellSpec> cells = plan_cells(scenarios, catalog, plan);
  if (cells.empty()) throw InputError("command line", "--filter", "no cell matches (see trainwreck list --cells)");
  for (auto& c : cells) c.seed = seed;
  return cells;
}

}  // namespace tw::cli
