// The internal entries: `trainwreck cell` runs one rank of a cell in this process, `trainwreck
// probe` reports versions and devices. Both speak in events, not to the terminal.
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <new>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "harness/cli/commands.h"
#include "harness/cli/flags.h"
#include "harness/errors.h"
#include "harness/event_writer.h"
#include "harness/plan.h"
#include "harness/process.h"
#include "harness/scenario.h"
#include "harness/selftest.h"

namespace tw::cli {
using nlohmann::json;

namespace {

// The events of a cell go to descriptor 3, where the harness reads them; a rank started by
// another launcher (torchrun, srun) has no descriptor 3, and its events go to standard output.
int cell_event_fd() { return fcntl(kEventFd, F_GETFD) != -1 ? kEventFd : STDOUT_FILENO; }

// `trainwreck cell ID [--scenarios PATH]... [--seed N]`: the specification of the planned cell ID,
// as `run` would hand it to its ranks (the rank and world size come from RANK and WORLD_SIZE).
json cell_by_id(int argc, char** argv, const Backend& backend) {
  const Flags f = parse_flags("cell", argc, argv, 3, {"--scenarios", "--seed"}, {}, 0);
  const std::string id = argv[2];
  const Catalog full = full_catalog(backend);
  const std::vector<Scenario> scenarios = load_scenarios(scenario_paths(f), full);
  PlanOptions plan;
  plan.filters = {id};
  plan.devices = {"cpu", "cuda"};
  plan.caps.gpus = 1 << 20;  // planned as on a machine that has what the cell needs: the launcher decides
  plan.caps.gloo = plan.caps.nccl = true;
  const std::vector<CellSpec> cells = plan_cells(scenarios, full, plan);
  if (cells.size() != 1 || cells[0].id != id)
    throw InputError("command line", "cell", "no planned cell is named '" + id + "' (see trainwreck list --cells)");
  CellSpec c = cells[0];
  c.seed = f.has("--seed") ? static_cast<uint64_t>(parse_int(f.one("--seed"), "--seed", 0, (1LL << 53))) : kDefaultSeed;
  return c.to_json();
}

}  // namespace

int cmd_cell(int argc, char** argv, const Backend& backend) {
  const EventWriter events(cell_event_fd());
  if (argc < 3) {
    events.error(ErrorKind::kException, "cell: missing cell specification or id");
    return kExitBadInput;
  }
  json cell;
  if (argv[2][0] == '{') {
    cell = json::parse(argv[2], nullptr, false);
  } else {
    try {
      cell = cell_by_id(argc, argv, backend);
    } catch (const InputError& e) {
      std::cerr << "trainwreck: " << e.describe() << "\n";
      return kExitBadInput;
    }
  }
  if (cell.is_discarded() || !cell.is_object() || !cell.contains("fault")) {
    events.error(ErrorKind::kException, "cell: malformed cell specification");
    return kExitBadInput;
  }
  try {
    if (is_selftest_fault(cell.value("fault", ""))) {
      run_selftest_cell(cell, events);
    } else if (backend.run_cell) {
      backend.run_cell(cell, events);
    } else {
      events.error(ErrorKind::kException, "this executable has no training backend");
    }
  } catch (const std::bad_alloc& e) {
    events.error(ErrorKind::kOom, std::string("std::bad_alloc: ") + e.what());
  } catch (const std::exception& e) {
    events.error(ErrorKind::kException, e.what());
  }
  std::fflush(stdout);
  std::fflush(stderr);
  return 0;
}

int cmd_probe(const Backend& backend) {
  const EventWriter events(kEventFd);
  json info = json::object();
  try {
    if (backend.probe) info = backend.probe();
  } catch (const std::exception& e) {
    info["probe_error"] = e.what();
  }
  events.emit(EventType::kProbe, info);
  return 0;
}

}  // namespace tw::cli
