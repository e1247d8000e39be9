// `trainwreck list`: faults, mitigations and scenarios (text or --json), or the cells a run
// would have (--cells).
#include <cmath>
#include <filesystem>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <system_error>
#include <vector>

#include "harness/cli/commands.h"
#include "harness/cli/flags.h"
#include "harness/context.h"
#include "harness/errors.h"
#include "harness/plan.h"
#include "harness/process.h"
#include "harness/scenario.h"
#include "harness/selftest.h"

namespace tw::cli {
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

// `list --cells`: the planned cells, as JSON or as tab-separated lines.
int cmd_list_cells(const Flags& f, const Catalog& catalog, const std::vector<Scenario>& scenarios) {
  const std::string device = f.one("--device", "auto");
  check_device(device);
  ProbeResult probe;
  const bool probed = device != "cpu";
  if (probed) probe = run_probe(self_executable());
  PlanOptions plan;
  plan.caps = probe.caps;
  plan.filters = f.all("--filter");
  plan.devices = resolve_devices(device, probe.caps);
  const std::vector<CellSpec> cells = plan_cells(scenarios, catalog, plan);
  if (f.has("--json")) {
    json out = {{"devices", plan.devices}, {"cells", json::array()}};
    if (probed) out["capabilities"] = probe.caps.to_json();
    for (const auto& c : cells) {
      json cj = {{"id", c.id},
                 {"scenario", c.scenario},
                 {"fault", c.fault},
                 {"mitigation", c.label},
                 {"device", c.device},
                 {"wall_seconds", c.limits.wall_seconds},
                 {"expected", c.expected ? json(to_string(*c.expected)) : json(nullptr)}};
      if (!c.unsupported_reason.empty()) cj["unsupported"] = c.unsupported_reason;
      if (c.limits.exclusive) cj["exclusive"] = true;
      if (c.stack.size() > 1) {
        cj["stack"] = json::array();
        for (const auto& m : c.stack) cj["stack"].push_back(m.name);
      }
      out["cells"].push_back(cj);
    }
    std::cout << out.dump(2) << "\n";
    return kExitAsExpected;
  }
  // Tab-separated, for scripts (cmake/ctest_cells.cmake reads it at ctest time).
  if (probed)
    std::cout << "# capabilities gpus=" << probe.caps.gpus << " nccl=" << probe.caps.nccl << " gloo=" << probe.caps.gloo
              << "\n";
  std::cout << "# id\tscenario\tfault\tmitigation\tdevice\twall_seconds\texpected\tunsupported\texclusive\n";
  for (const auto& c : cells)
    std::cout << c.id << "\t" << c.scenario << "\t" << c.fault << "\t" << c.label << "\t" << c.device << "\t"
              << static_cast<long long>(std::ceil(c.limits.wall_seconds)) << "\t"
              << (c.expected ? to_string(*c.expected) : "-") << "\t" << c.unsupported_reason << "\t"
              << (c.limits.exclusive ? "exclusive" : "-") << "\n";
  return kExitAsExpected;
}

json component_json(const ComponentInfo& c) {
  json params = json::array();
  for (const auto& p : c.params) {
    json pj = {{"name", p.name}, {"type", to_string(p.type)}, {"help", p.help}};
    if (!p.choices.empty()) pj["choices"] = p.choices;
    params.push_back(pj);
  }
  json j = {{"name", c.name}, {"summary", c.summary}, {"article_row", c.article_row}, {"params", params}};
  if (!c.requirements.empty()) j["requires"] = c.requirements;
  if (c.ranks > 1) j["ranks"] = c.ranks;
  return j;
}

// `list --json`: faults, mitigations and scenarios as data.
void print_listing_json(const Catalog& catalog, const std::vector<Scenario>& scenarios, bool show_selftest) {
  json out = {{"faults", json::array()}, {"mitigations", json::array()}, {"scenarios", json::array()}};
  for (const auto& c : catalog.faults)
    if (show_selftest || !is_selftest_fault(c.name)) out["faults"].push_back(component_json(c));
  for (const auto& c : catalog.mitigations) out["mitigations"].push_back(component_json(c));
  for (const auto& s : scenarios) {
    json sj = s.to_json();
    sj["file"] = s.file;
    out["scenarios"].push_back(sj);
  }
  std::cout << out.dump(2) << "\n";
}

// The faults by row of the source article, each with its requirements and the remedies the
// scenarios try on it.
void print_faults_by_row(const Catalog& catalog, const std::vector<Scenario>& scenarios, bool show_selftest) {
  std::map<std::string, std::vector<const ComponentInfo*>> by_row;
  std::vector<std::string> rows;
  for (const auto& c : catalog.faults) {
    if (!show_selftest && is_selftest_fault(c.name)) continue;
    if (!by_row.count(c.article_row)) rows.push_back(c.article_row);
    by_row[c.article_row].push_back(&c);
  }
  std::cout << "Faults, by row of the source article:\n";
  for (const auto& row : rows) {
    std::cout << "  " << row << "\n";
    for (const auto* c : by_row[row]) {
      std::cout << "    " << c->name << " - " << c->summary;
      if (!c->requirements.empty()) {
        std::cout << " [requires";
        for (const auto& r : c->requirements) std::cout << " " << r;
        std::cout << "]";
      }
      std::cout << "\n";
      std::set<std::string> remedies;
      for (const auto& s : scenarios)
        if (s.fault == c->name)
          for (const auto& m : s.mitigations) remedies.insert(m.label);
      if (!remedies.empty()) {
        std::cout << "      remedies in scenarios:";
        for (const auto& r : remedies) std::cout << " " << r;
        std::cout << "\n";
      }
    }
  }
}

// `list`: the faults, the mitigations, and the scenarios with their cells (stacks spelled out).
void print_listing_text(const Catalog& catalog, const std::vector<Scenario>& scenarios, bool show_selftest) {
  print_faults_by_row(catalog, scenarios, show_selftest);
  std::cout << "\nMitigations:\n";
  for (const auto& c : catalog.mitigations) std::cout << "  " << c.name << " - " << c.summary << "\n";
  if (scenarios.empty()) return;
  std::cout << "\nScenarios:\n";
  for (const auto& s : scenarios) {
    std::cout << "  " << s.name << " (" << s.file << "): fault " << s.fault << "; cells:";
    for (const auto& m : s.mitigations) std::cout << " " << m.label;
    std::cout << "\n";
    for (const auto& m : s.mitigations) {
      if (!m.is_stack()) continue;
      std::cout << "    " << m.label << " =";
      for (std::size_t k = 0; k < m.stack.size(); ++k) std::cout << (k ? " + " : " ") << m.stack[k].name;
      std::cout << "\n";
    }
  }
}

}  // namespace

int cmd_list(int argc, char** argv, const Backend& backend) {
  const Flags f = parse_flags("list", argc, argv, 2, {"--scenarios", "--device", "--filter"},
                              {"--json", "--selftest", "--cells"}, 0);
  if (!f.has("--cells") && (f.has("--device") || f.has("--filter")))
    throw InputError("command line", f.has("--device") ? "--device" : "--filter", "only applies to list --cells");
  const Catalog catalog = full_catalog(backend);
  std::vector<Scenario> scenarios;
  std::error_code ec;
  if (f.has("--scenarios") || fs::exists("scenarios", ec)) scenarios = load_scenarios(scenario_paths(f), catalog);
  if (f.has("--selftest")) {
    auto st = selftest_scenarios();
    scenarios.insert(scenarios.end(), st.begin(), st.end());
  }
  if (f.has("--cells")) return cmd_list_cells(f, catalog, scenarios);
  if (f.has("--json")) print_listing_json(catalog, scenarios, f.has("--selftest"));
  else print_listing_text(catalog, scenarios, f.has("--selftest"));
  return kExitAsExpected;
}

}  // namespace tw::cli
