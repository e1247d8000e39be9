// The trainwreck command line: run, selftest, list, diff, merge, report, pin, and the internal
// cell and probe entries.
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <csignal>
#include <filesystem>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <sstream>

#include "harness/backend.h"
#include "harness/context.h"
#include "harness/diff.h"
#include "harness/errors.h"
#include "harness/html_report.h"
#include "harness/merge.h"
#include "harness/process.h"
#include "harness/progress.h"
#include "harness/repeat.h"
#include "harness/report.h"
#include "harness/runner.h"
#include "harness/selftest.h"
#include "harness/store.h"

namespace tw {
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

constexpr uint64_t kDefaultSeed = 20240611;
constexpr int kMaxSeeds = 100;  // --seeds N

const char* kUsage = R"(trainwreck: break deep-learning training on purpose, reproducibly, and show which
remedy fixes which failure. Every (scenario, mitigation, device) cell runs in its own process.

Usage:
  trainwreck run [flags]        run the matrix and write results
  trainwreck selftest [flags]   run the built-in isolation cells (no LibTorch)
  trainwreck list [--json] [--scenarios PATH]...
                                faults, mitigations, scenarios and their cells
  trainwreck list --cells [--json] [--device D] [--filter GLOB]... [--scenarios PATH]...
                                the cells a run would have, one per line (first line: what the
                                probe found when --device is not cpu)
  trainwreck diff A B [--noise A2] [--loss-tolerance X] [--memory-tolerance X] [--growth-tolerance X]
                    [--speed-threshold X] [--min-seconds S] [--fail-on LIST] [--format text|md|json]
                                compare two runs (results directories or matrix.json files): host,
                                outcomes, loss curves (identical / within tolerance / drifted),
                                steps to target, median step time (slower/faster beyond
                                max(--speed-threshold, default 0.07, and the A/A noise of --noise A2,
                                a rerun of A); cells under --min-seconds, default 0.05, are too
                                short), memory (peak and growth per step). Exit 1 on a changed
                                outcome, or on a tier named in --fail-on
                                (speed,memory,numerics,steps,host)
  trainwreck merge DIR... --out DIR
                                join the results of the shards of one run into one matrix
  trainwreck report DIR [--format text|md|html|junit|csv|json] [--out FILE] [--baseline A]
                                [--catalog LIST]
                                render a finished run again; --format md --out DIR (a
                                directory, a path ending in '/' or without an extension)
                                writes an evidence page per article row with its figures
                                (index.md, <row>.md, figures/<scenario>-<device>.svg);
                                --catalog LIST (what trainwreck list --json printed) gives
                                the article rows and descriptions a matrix written before
                                run recorded them lacks
  trainwreck pin DIR [--scenarios PATH]... [--filter GLOB]... [--dry-run]
                                write a finished run's outcomes into the scenarios as
                                expectations for its device classes; a cell whose seeds
                                disagree (--seeds) is not pinned but listed on stderr, and
                                the exit code is then 1 (the other cells are pinned);
                                --filter as run's: pin only the cells it keeps
  trainwreck cell ID [--scenarios PATH]... [--seed N]
                                run one rank of the planned cell ID in this process, as a launcher
                                (torchrun --no-python, srun) starts it: RANK, WORLD_SIZE,
                                LOCAL_RANK, MASTER_ADDR, MASTER_PORT from the environment; its
                                events are JSON lines on standard output
  trainwreck --help | --version

Flags of run (and selftest):
  --scenarios PATH   scenario file or directory (repeatable; default: ./scenarios)
  --filter GLOB      keep cells whose id (scenario/mitigation/device) matches; a leading '-'
                     excludes; repeatable
  --device D         auto (CUDA when present, else cpu), cpu, cuda, or all (default auto)
  --jobs N           cells at once (default: the number of cores)
  --out DIR          results directory (default results/latest)
  --timeout S        wall-clock limit for every cell, replacing the scenarios' limits
  --shard K/N        run the K-th of N deterministic parts of the matrix
                     (TEST_SHARD_INDEX / TEST_TOTAL_SHARDS are honoured when set); join the
                     parts with trainwreck merge
  --seed N           the run's seed (default 20240611); cells derive theirs from it
  --repeat N         run every cell N times; a cell whose outcome is not the same every time
                     is "flaky" (a failure); evidence and the per-step loss are compared too
  --seeds N          run every cell with N seeds (1 to 100, default 1): --seed, --seed + 1, ...,
                     --seed + N - 1; the first seed's files go to cells/, the others' to
                     cells/seed-<seed>/. A cell passes only when every seed has the pinned
                     outcome; seeds that agree on another outcome are "unexpected", seeds that
                     disagree (pinned or not) are "seed-dependent" (a failure). The matrix keeps
                     the first seed's record and adds each seed's outcome and key evidence.
                     Cannot be combined with --repeat.
  --horizon X        every cell trains X times its scenario's steps (0.1 to 100, default 1), its
                     wall-clock limit scaled alike: an outcome that is a property of the fault
                     holds when a healthy cell trains twice as long (--horizon 2)
  --resume DIR       finish an interrupted run in DIR: only cells without a result run
  --baseline A       compare with an earlier run (directory or matrix.json): the diff is
                     printed after the matrix and written to DIR/diff.md and report.html;
                     a changed outcome makes the exit code 1
  --loss-tolerance X, --memory-tolerance X
                     relative change of final loss (default 0.01) and peak memory (default
                     0.10) still counted as the same, for diff and --baseline
  --quiet            no progress on stderr

A run writes DIR/context.json, run.json, cells/<cell>.{jsonl,log,result.json}, then
matrix.json, matrix.md, junit.xml, report.html and figures/<scenario>-<device>.svg once every
cell has a result.

Exit codes: 0 every cell as expected (diff: no outcome changed); 1 at least one unexpected,
flaky or seed-dependent outcome, a changed outcome against the baseline (on any seed, when
both runs have the same seeds) or a diff tier named in --fail-on, shards missing from a merge, or cells pin left unpinned; 2 bad
input or usage (nothing was run or written); 3 internal error; 4 results could not be written
(no matrix.json is left claiming a complete run); 130 / 143 interrupted by SIGINT / SIGTERM (the
running cells are killed, the finished ones kept: --resume DIR finishes the run).
)";

// The signal that interrupted a run (0: none).
volatile std::sig_atomic_t g_interrupt = 0;

struct Flags {
  std::map<std::string, std::vector<std::string>> values;
  std::set<std::string> switches;
  std::vector<std::string> positional;
  bool has(const std::string& f) const { return values.count(f) || switches.count(f); }
  std::string one(const std::string& f, const std::string& fallback = "") const {
    auto it = values.find(f);
    return it == values.end() ? fallback : it->second.back();
  }
  std::vector<std::string> all(const std::string& f) const {
    auto it = values.find(f);
    return it == values.end() ? std::vector<std::string>{} : it->second;
  }
};

Flags parse_flags(const std::string& command, int argc, char** argv, int first, const std::set<std::string>& with_value,
                  const std::set<std::string>& switches, std::size_t max_positional) {
  Flags f;
  for (int i = first; i < argc; ++i) {
    std::string a = argv[i];
    std::string value;
    bool inline_value = false;
    if (a.rfind("--", 0) == 0) {
      const auto eq = a.find('=');
      if (eq != std::string::npos) {
        value = a.substr(eq + 1);
        a = a.substr(0, eq);
        inline_value = true;
      }
      if (with_value.count(a)) {
        if (!inline_value) {
          if (i + 1 >= argc) throw InputError("command line", a, "needs a value (see trainwreck --help)");
          value = argv[++i];
        }
        f.values[a].push_back(value);
      } else if (switches.count(a) && !inline_value) {
        f.switches.insert(a);
      } else {
        throw InputError("command line", a, "unknown flag for '" + command + "' (see trainwreck --help)");
      }
    } else if (a.size() > 1 && a[0] == '-') {
      throw InputError("command line", a, "unknown flag for '" + command + "' (see trainwreck --help)");
    } else {
      if (f.positional.size() >= max_positional)
        throw InputError("command line", a, "unexpected argument for '" + command + "'");
      f.positional.push_back(a);
    }
  }
  return f;
}

long long parse_int(const std::string& text, const std::string& flag, long long min, long long max) {
  std::size_t used = 0;
  long long v = 0;
  try {
    v = std::stoll(text, &used);
  } catch (...) {
    used = 0;
  }
  if (used == 0 || used != text.size() || v < min || v > max)
    throw InputError(
        "command line", flag,
        "must be an integer from " + std::to_string(min) + " to " + std::to_string(max) + " (got '" + text + "')");
  return v;
}

// The whole of `text` as a number; NaN when it is not one.
double parse_number(const std::string& text) {
  std::size_t used = 0;
  double v = 0;
  try {
    v = std::stod(text, &used);
  } catch (...) {
    used = 0;
  }
  return used == 0 || used != text.size() ? std::nan("") : v;
}

double parse_seconds(const std::string& text, const std::string& flag) {
  const double v = parse_number(text);
  if (!(v > 0) || v > 86400)
    throw InputError("command line", flag, "must be a number of seconds in (0, 86400] (got '" + text + "')");
  return v;
}

Catalog full_catalog(const Backend& backend) {
  Catalog c = selftest_catalog();
  c.add(backend.catalog);
  return c;
}

// The events of a cell go to descriptor 3, where the harness reads them; a rank started by
// another launcher (torchrun, srun) has no descriptor 3, and its events go to standard output.
int cell_event_fd() { return fcntl(kEventFd, F_GETFD) != -1 ? kEventFd : STDOUT_FILENO; }

std::vector<std::string> scenario_paths(const Flags& f);

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

int cmd_cell(int argc, char** argv, const Backend& backend) {
  const EventWriter events(cell_event_fd());
  if (argc < 3) {
    events.emit("error", {{"kind", "exception"}, {"message", "cell: missing cell specification or id"}});
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
    events.emit("error", {{"kind", "exception"}, {"message", "cell: malformed cell specification"}});
    return kExitBadInput;
  }
  try {
    if (is_selftest_fault(cell.value("fault", ""))) {
      run_selftest_cell(cell, events);
    } else if (backend.run_cell) {
      backend.run_cell(cell, events);
    } else {
      events.emit("error", {{"kind", "exception"}, {"message", "this executable has no training backend"}});
    }
  } catch (const std::bad_alloc& e) {
    events.emit("error", {{"kind", "oom"}, {"message", std::string("std::bad_alloc: ") + e.what()}});
  } catch (const std::exception& e) {
    events.emit("error", {{"kind", "exception"}, {"message", e.what()}});
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
  events.emit("probe", info);
  return 0;
}

std::vector<std::string> scenario_paths(const Flags& f) {
  auto paths = f.all("--scenarios");
  if (paths.empty()) paths.push_back("scenarios");
  for (const auto& p : paths) {
    std::error_code ec;
    if (!fs::exists(p, ec)) throw InputError(p, "", "no such scenario file or directory (--scenarios)");
  }
  return paths;
}

double parse_fraction(const std::string& text, const std::string& flag) {
  const double v = parse_number(text);
  if (!(v >= 0) || v > 1e6)
    throw InputError("command line", flag, "must be a relative tolerance >= 0, e.g. 0.05 for 5% (got '" + text + "')");
  return v;
}

DiffOptions diff_options(const Flags& f) {
  DiffOptions o;
  if (f.has("--loss-tolerance")) o.loss_tolerance = parse_fraction(f.one("--loss-tolerance"), "--loss-tolerance");
  if (f.has("--memory-tolerance"))
    o.memory_tolerance = parse_fraction(f.one("--memory-tolerance"), "--memory-tolerance");
  return o;
}

// "auto" -> the device classes a run on this machine would use; probes only when it matters.
std::vector<std::string> resolve_devices(const std::string& device, const Capabilities& caps) {
  if (device == "auto") return {caps.gpus > 0 ? "cuda" : "cpu"};
  if (device == "all") return {"cpu", "cuda"};
  return {device};
}

void check_device(const std::string& device) {
  if (device != "auto" && device != "cpu" && device != "cuda" && device != "all")
    throw InputError("command line", "--device", "must be auto, cpu, cuda or all (got '" + device + "')");
}

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

  json to_json() const {
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

// --repeat and --seeds are never both above 1 (the flags are exclusive).
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

// One run per results directory at a time. The lock dies with the process, so a killed run
// leaves nothing to clean up before --resume.
class DirectoryLock {
 public:
  explicit DirectoryLock(const std::string& dir) {
    const std::string path = dir + "/run.lock";
    fd_ = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ < 0) throw ResultsError("cannot create " + path + ": " + strerror(errno));
    if (flock(fd_, LOCK_EX | LOCK_NB) != 0) {
      close(fd_);
      throw InputError(dir, "", "another trainwreck run is using this results directory");
    }
  }
  ~DirectoryLock() {
    if (fd_ >= 0) close(fd_);
  }
  DirectoryLock(const DirectoryLock&) = delete;
  DirectoryLock& operator=(const DirectoryLock&) = delete;

 private:
  int fd_ = -1;
};

// Leftovers of a run that was killed while writing: temporary files that were never renamed.
void remove_half_written(const std::string& dir) {
  std::error_code ec;
  for (auto it = fs::directory_iterator(dir, ec); !ec && it != fs::directory_iterator(); it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (it->is_regular_file(ec) && (name.find(".tmp.") != std::string::npos ||
                                    (name.size() > 8 && name.compare(name.size() - 8, 8, ".partial") == 0)))
      fs::remove(it->path(), ec);
  }
}

std::optional<CellRecord> load_result(const CellSpec& c, const std::string& dir) {
  const std::string path = dir + "/" + c.file_stem() + ".result.json";
  std::error_code ec;
  if (!fs::exists(path, ec)) return std::nullopt;
  json r = json::parse(read_file(path), nullptr, false);
  if (r.is_discarded() || !r.is_object()) return std::nullopt;
  auto o = parse_outcome(r.value("outcome", ""));
  if (!o) return std::nullopt;
  CellRecord rec;
  rec.spec = c;
  rec.outcome = *o;
  rec.verdict = verdict_for(c.expected, rec.outcome);
  rec.evidence = r.value("evidence", json::object());
  rec.series = r.value("series", json::object());
  rec.log_tail = r.value("log_tail", "");
  rec.wall_seconds = rec.evidence.value("wall_seconds", 0.0);
  return rec;
}

// Writes the reports of a complete matrix; matrix.json goes last, so that its presence means
// every other file was written too.
void write_reports(const std::string& dir, const Matrix& matrix, const json& diff) {
  const auto figures = render_figures(matrix);
  if (!figures.empty()) ensure_directory(dir + "/figures");
  for (const auto& [name, svg] : figures) write_file_atomic(dir + "/" + name, svg);
  write_file_atomic(dir + "/matrix.md", render_markdown(matrix));
  write_file_atomic(dir + "/junit.xml", render_junit(matrix));
  write_file_atomic(dir + "/report.html", render_html(matrix, diff));
  if (diff.is_object()) write_file_atomic(dir + "/diff.md", render_diff_markdown(diff));
  write_json_atomic(dir + "/matrix.json", matrix.raw());
}

// A cell run with several seeds: each seed's outcome and key evidence, the other seeds' loss
// curves for figures, and the verdict over all seeds (the first seed's record stays the main one).
void add_seeds(json& cj, const CellSpec& c, const std::vector<Round>& rounds,
               const std::vector<std::map<std::string, CellRecord>>& finished) {
  std::vector<json> results;
  std::vector<uint64_t> values;
  std::vector<Outcome> outcomes;
  json series = json::array();
  for (std::size_t round = 0; round < rounds.size(); ++round) {
    const CellRecord& rec = finished[round].at(c.id);
    results.push_back(rec.to_json());
    values.push_back(rounds[round].seed);
    outcomes.push_back(rec.outcome);
    if (round > 0) series.push_back(seed_series_of(rounds[round].dir + "/" + c.file_stem() + ".jsonl"));
  }
  cj["seeds"] = aggregate_seeds(values, results);
  cj["seed_series"] = series;
  cj["verdict"] = to_string(verdict_for_seeds(c.expected, outcomes));
}

const char* const kReportFiles[] = {"matrix.json", "matrix.md", "junit.xml", "report.html", "diff.md"};

// Removes the reports an earlier run or merge left in DIR: the files above and the figures
// (figures/<scenario>-<device>.svg; any other file in figures/ is left where it is).
void remove_stale_reports(const std::string& dir) {
  std::error_code ec;
  for (const char* stale : kReportFiles) fs::remove(dir + "/" + stale, ec);
  for (auto it = fs::directory_iterator(dir + "/figures", ec); !ec && it != fs::directory_iterator();
       it.increment(ec)) {
    const std::string name = it->path().filename().string();
    for (const char* device : {"-cpu.svg", "-cuda.svg"}) {
      const std::string tail = device;
      if (name.size() > tail.size() && name.compare(name.size() - tail.size(), tail.size(), tail) == 0 &&
          it->is_regular_file(ec)) {
        std::error_code rm;
        fs::remove(it->path(), rm);
      }
    }
  }
}

// --horizon X: from 0.1 to 100 times the scenarios' steps.
double parse_horizon(const std::string& text) {
  char* end = nullptr;
  const double x = std::strtod(text.c_str(), &end);
  if (text.empty() || *end != '\0' || !(x >= 0.1 && x <= 100))
    throw InputError("command line", "--horizon", "must be a number from 0.1 to 100, not '" + text + "'");
  return x;
}

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

// Run settings: a resumed run's own, or the flags'; --jobs in either case (default: the cores).
RunSettings run_settings(const Flags& f, bool selftest) {
  const long cores = sysconf(_SC_NPROCESSORS_ONLN);
  RunSettings rs;
  if (f.has("--resume")) {
    for (const char* conflicting :
         {"--scenarios", "--filter", "--device", "--shard", "--seed", "--timeout", "--out", "--repeat", "--seeds", "--horizon"})
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

// The cells of this run (this shard of it), and where each stands in the whole plan.
struct RunPlan {
  ProbeResult probe;
  PlanOptions options;
  std::vector<CellSpec> cells;
  std::map<std::string, int> plan_index;  // lets merge restore plan order
};

RunPlan plan_run(const RunSettings& rs, const std::vector<Scenario>& scenarios, const Catalog& catalog,
                 const std::string& exe) {
  RunPlan p;
  if (rs.device != "cpu" || !rs.selftest) p.probe = run_probe(exe);
  p.options.caps = p.probe.caps;
  p.options.filters = rs.filters;
  p.options.devices = resolve_devices(rs.device, p.probe.caps);
  const std::vector<CellSpec> whole = plan_cells(scenarios, catalog, p.options);
  for (std::size_t i = 0; i < whole.size(); ++i) p.plan_index[whole[i].id] = static_cast<int>(i);
  p.options.shard = rs.shard;
  p.cells = plan_cells(scenarios, catalog, p.options);
  // A shard may hold no cell of a small matrix; that is a (trivially complete) part of the run.
  if (p.plan_index.empty() || (p.cells.empty() && rs.shard.count == 1))
    throw InputError("command line", rs.filters.empty() ? "--device" : "--filter",
                     "no cell matches (see trainwreck list --cells)");
  for (auto& c : p.cells) {
    c.seed = rs.seed;
    // A longer horizon needs a proportionally longer wall-clock limit; silence stays as it was.
    c.horizon_scale = rs.horizon;
    c.limits.wall_seconds *= rs.horizon;
  }
  return p;
}

// context.json: the machine, what the probe found, the seed(s), written before any cell runs.
json run_context(const RunSettings& rs, const RunPlan& p, const std::vector<Round>& rounds,
                 const std::string& baseline_name) {
  json context = {{"host", host_context()}, {"probe", p.probe.info},        {"capabilities", p.probe.caps.to_json()},
                  {"seed", rs.seed},        {"devices", p.options.devices}, {"started_at", utc_timestamp()}};
  if (!p.probe.error.empty()) context["probe_error"] = p.probe.error;
  // A CUDA runtime other than LibTorch's, or two of them, is said before any cell runs.
  for (const auto& w : p.probe.info.value("runtime_warnings", json::array()))
    std::cerr << "trainwreck: warning: " << (w.is_string() ? w.get<std::string>() : w.dump()) << "\n";
  if (rs.shard.count > 1) context["shard"] = std::to_string(rs.shard.index + 1) + "/" + std::to_string(rs.shard.count);
  if (rs.repeat > 1) context["repeat"] = rs.repeat;
  if (rs.horizon != 1) context["horizon"] = rs.horizon;
  if (rs.seeds > 1) {
    context["seeds"] = json::array();
    for (const auto& round : rounds) context["seeds"].push_back(round.seed);
  }
  if (!baseline_name.empty()) context["baseline"] = baseline_name;
  return context;
}

// Per round, the cells that have a result: none for a new run, those on disk for a resumed one.
using FinishedCells = std::vector<std::map<std::string, CellRecord>>;

FinishedCells prepare_cells_directories(const RunSettings& rs, bool resume, const std::vector<CellSpec>& cells,
                                        const std::vector<Round>& rounds) {
  FinishedCells finished(rounds.size());
  if (resume) {
    remove_half_written(rs.out);
    for (std::size_t round = 0; round < rounds.size(); ++round) {
      remove_half_written(rounds[round].dir);
      for (const auto& c : cells)
        if (auto rec = load_result(c, rounds[round].dir)) finished[round][c.id] = *rec;
    }
  } else {
    remove_cell_files(rs.out + "/cells");
    for (const auto& round : rounds) ensure_directory(round.dir);
  }
  return finished;
}

// Ctrl-C or a CI job's timeout: stop starting cells, end the running ones, keep what finished.
// No SA_RESTART: the runner's poll returns at once.
void stop_on_interrupt() {
  struct sigaction on_interrupt {};
  on_interrupt.sa_handler = [](int signo) { g_interrupt = signo; };
  sigemptyset(&on_interrupt.sa_mask);
  sigaction(SIGINT, &on_interrupt, nullptr);
  sigaction(SIGTERM, &on_interrupt, nullptr);
}

// Runs the cells of every round that have no result yet, writing each result as it comes.
void supervise_rounds(const RunSettings& rs, const std::string& exe, const std::vector<CellSpec>& cells,
                      const std::vector<Round>& rounds, FinishedCells& finished, Progress* progress) {
  for (std::size_t round = 0; round < rounds.size() && !g_interrupt; ++round) {
    std::vector<CellSpec> todo;
    for (const auto& c : cells)
      if (!finished[round].count(c.id)) {
        todo.push_back(c);
        todo.back().seed = rounds[round].seed;
      }
    if (todo.empty()) continue;
    const std::string dir = rounds[round].dir;
    RunnerOptions ro;
    ro.exe = exe;
    ro.jobs = rs.jobs;
    ro.timeout_override = rs.timeout;
    ro.cells_dir = dir;
    ro.interrupt = &g_interrupt;
    Runner runner(ro);
    const std::string& round_note = rounds[round].note;
    runner.run(
        todo,
        [&](const CellRecord& rec) {
          write_json_atomic(dir + "/" + rec.spec.file_stem() + ".result.json", rec.to_json());
          finished[round][rec.spec.id] = rec;
          if (progress) {
            std::ostringstream line;
            line << rec.spec.id << ": " << cell_summary(rec.to_json()) << " (" << to_string(rec.verdict) << ", "
                 << static_cast<int>(rec.wall_seconds * 10) / 10.0 << " s" << round_note << ")";
            progress->finished(rec.spec.id, line.str(), is_failure(rec.verdict));
          }
        },
        [&](const CellSpec& spec) {
          if (progress) progress->started(spec.id);
        });
  }
}

// The matrix, in plan order, once every cell has a result; `differing_evidence` counts the
// cells whose repeats differed in evidence or loss.
json assemble_matrix(const RunSettings& rs, const RunPlan& p, const std::vector<Round>& rounds,
                     const FinishedCells& finished, const json& context, const std::vector<Scenario>& scenarios,
                     const Catalog& catalog, int& differing_evidence) {
  json matrix = {{"context", context}, {"cells", json::array()}};
  matrix["context"]["finished_at"] = utc_timestamp();
  differing_evidence = 0;
  for (const auto& c : p.cells) {
    json cj = finished[0].at(c.id).to_json();
    cj["plan_index"] = p.plan_index.count(c.id) ? p.plan_index.at(c.id) : -1;
    if (rs.repeat > 1) {
      std::vector<json> results;
      std::vector<std::vector<json>> losses;
      for (std::size_t round = 0; round < rounds.size(); ++round) {
        results.push_back(finished[round].at(c.id).to_json());
        losses.push_back(loss_series_of(rounds[round].dir + "/" + c.file_stem() + ".jsonl"));
      }
      cj["repeat"] = compare_repeats(results, losses);
      if (!cj["repeat"]["identical_outcome"].get<bool>()) cj["verdict"] = to_string(Verdict::kFlaky);
      if (!cj["repeat"]["identical_evidence"].get<bool>() || cj["repeat"]["identical_loss"] == false)
        ++differing_evidence;
    }
    if (rs.seeds > 1) add_seeds(cj, c, rounds, finished);
    matrix["cells"].push_back(cj);
  }
  matrix["summary"] = summarize_verdicts(Matrix(matrix));
  // What a reader of the matrix needs to know of each scenario: its article row and description.
  std::vector<Scenario> ran;
  for (const auto& s : scenarios)
    if (std::any_of(p.cells.begin(), p.cells.end(), [&](const CellSpec& c) { return c.scenario == s.name; }))
      ran.push_back(s);
  matrix["scenarios"] = scenario_info_block(ran, catalog);
  return matrix;
}

// "trainwreck: 12 cells x 3 seeds (36 to run) on cpu, 2 at once; results in DIR" (on stderr).
void announce_run(const RunSettings& rs, const RunPlan& p, std::size_t total, std::size_t already) {
  std::cerr << "trainwreck: " << p.cells.size() << " cells" << (rs.repeat > 1 ? " x " + std::to_string(rs.repeat) : "")
            << (rs.seeds > 1 ? " x " + std::to_string(rs.seeds) + " seeds" : "") << " (" << total - already
            << " to run) on " << p.options.devices.front()
            << (p.options.devices.size() > 1 ? " and " + p.options.devices.back() : "") << ", " << rs.jobs
            << " at once; results in " << rs.out << "\n";
}

// A run stopped by SIGINT or SIGTERM keeps its cell results and writes no matrix.
int interrupted(const RunSettings& rs, const FinishedCells& finished, std::size_t total, int signo) {
  std::size_t have = 0;
  for (const auto& round : finished) have += round.size();
  std::cerr << "trainwreck: interrupted by " << (signo == SIGINT ? "SIGINT" : "SIGTERM") << "; " << have << " of "
            << total << " cell results are kept in " << rs.out + "/cells"
            << " and no matrix was written; trainwreck run --resume " << rs.out << " finishes the run\n";
  return 128 + signo;
}

// The reports of a run; when they cannot be written, no matrix.json says the run is complete.
void write_run_reports(const std::string& dir, const Matrix& matrix, const json& diff) {
  try {
    write_reports(dir, matrix, diff);
  } catch (const ResultsError& e) {
    std::error_code ec;
    fs::remove(dir + "/matrix.json", ec);
    throw ResultsError(std::string(e.what()) + "\nevery cell of the run in " + dir +
                       " has a result; trainwreck run --resume " + dir +
                       " writes the reports once the directory can be written again");
  }
}

// What run prints at the end: the matrix, repeats and seeds, the diff, where the results are.
void print_run_results(const RunSettings& rs, const Matrix& matrix, const json& diff, const std::vector<Round>& rounds,
                       int differing_evidence) {
  std::cout << render_console(matrix, isatty(1));
  if (rs.repeat > 1)
    std::cout << "repeats: " << rs.repeat << " runs of every cell; " << matrix.raw()["summary"]["flaky"]
              << " cell(s) with differing outcomes (flaky), " << differing_evidence
              << " with differing evidence or loss\n";
  if (rs.seeds > 1)
    std::cout << "seeds: " << rs.seeds << " per cell (" << rounds.front().seed << " to " << rounds.back().seed << "); "
              << matrix.raw()["summary"]["seed_dependent"] << " cell(s) whose seeds disagree (seed-dependent)\n";
  if (diff.is_object()) std::cout << "\n" << render_diff_text(diff, isatty(1));
  std::cout << render_run_footer(matrix, rs.out, isatty(1));
}

int cmd_run(int argc, char** argv, const Backend& backend, bool selftest) {
  const std::string command = selftest ? "selftest" : "run";
  const Flags f =
      parse_flags(command, argc, argv, 2,
                  {"--scenarios", "--filter", "--device", "--jobs", "--out", "--timeout", "--shard", "--seed",
                   "--resume", "--repeat", "--seeds", "--horizon", "--baseline", "--loss-tolerance", "--memory-tolerance"},
                  {"--quiet"}, 0);
  const bool resume = f.has("--resume");
  const RunSettings rs = run_settings(f, selftest);
  // Before anything runs or is written: never into a folder of the user's own files.
  check_results_directory(rs.out, resume ? "--resume" : "--out");
  const bool quiet = f.has("--quiet");
  DiffOptions diff_opts = diff_options(f);
  Matrix baseline;  // not present: no comparison
  if (f.has("--baseline")) {
    diff_opts.a_name = f.one("--baseline");
    baseline = load_matrix(f.one("--baseline"));
  }

  const Catalog catalog = full_catalog(backend);
  std::vector<Scenario> scenarios = rs.selftest ? selftest_scenarios() : load_scenarios(rs.scenario_paths, catalog);
  const std::string exe = self_executable();
  const RunPlan p = plan_run(rs, scenarios, catalog, exe);

  // Phase 1: settings and context, before any cell runs.
  const std::string cells_dir = rs.out + "/cells";
  ensure_directory(rs.out);
  const DirectoryLock lock(rs.out);
  claim_results_directory(rs.out);
  ensure_directory(cells_dir);
  const std::vector<Round> rounds = rounds_of(rs, cells_dir);
  for (const auto& round : rounds) ensure_directory(round.dir);
  const json context = run_context(rs, p, rounds, baseline.present() ? diff_opts.a_name : "");
  // Whatever an earlier run here left is not the result of this one.
  remove_stale_reports(rs.out);
  FinishedCells finished = prepare_cells_directories(rs, resume, p.cells, rounds);
  write_json_atomic(rs.out + "/run.json", rs.to_json());
  write_json_atomic(rs.out + "/context.json", context);

  std::size_t total = 0, already = 0;
  for (const auto& done : finished) {
    total += p.cells.size();
    already += done.size();
  }
  if (!quiet) announce_run(rs, p, total, already);

  stop_on_interrupt();
  try {
    std::unique_ptr<Progress> progress;
    if (!quiet) progress = std::make_unique<Progress>(std::cerr, isatty(2) != 0, total, already);
    supervise_rounds(rs, exe, p.cells, rounds, finished, progress.get());
  } catch (const ResultsError& e) {
    throw ResultsError(std::string(e.what()) + "\nthe run in " + rs.out +
                       " is incomplete; once the directory can be written again, trainwreck run --resume " + rs.out +
                       " finishes it");
  }
  if (const int signo = g_interrupt) return interrupted(rs, finished, total, signo);

  // Phase 2: the matrix, in plan order, once every cell has a result.
  int differing_evidence = 0;
  const Matrix matrix(assemble_matrix(rs, p, rounds, finished, context, scenarios, catalog, differing_evidence));
  json diff;
  if (baseline.present()) {
    diff_opts.b_name = rs.out;
    diff = diff_matrices(baseline, matrix, diff_opts);
  }
  write_run_reports(rs.out, matrix, diff);
  print_run_results(rs, matrix, diff, rounds, differing_evidence);
  const bool failed = count_failures(matrix) > 0 || outcomes_changed(diff);
  return failed ? kExitUnexpected : kExitAsExpected;
}

// What report (and diff) can write: --format's words.
enum class Format { kText, kMd, kHtml, kJunit, kCsv, kJson };

const char* to_string(Format format) {
  switch (format) {
    case Format::kText: return "text";
    case Format::kMd: return "md";
    case Format::kHtml: return "html";
    case Format::kJunit: return "junit";
    case Format::kCsv: return "csv";
    case Format::kJson: return "json";
  }
  return "text";
}

// --format (default text) among the formats a command writes; `choices` is what the message says.
Format format_flag(const Flags& f, std::initializer_list<Format> allowed, const std::string& choices) {
  const std::string word = f.one("--format", "text");
  for (const Format format : allowed)
    if (word == to_string(format)) return format;
  throw InputError("command line", "--format", "must be " + choices + " (got '" + word + "')");
}

int cmd_diff(int argc, char** argv) {
  const Flags f = parse_flags("diff", argc, argv, 2,
                              {"--loss-tolerance", "--memory-tolerance", "--growth-tolerance", "--speed-threshold",
                               "--min-seconds", "--noise", "--fail-on", "--format"},
                              {}, 2);
  if (f.positional.size() != 2)
    throw InputError("command line", "diff", "needs two runs to compare (trainwreck diff A B)");
  const Format format = format_flag(f, {Format::kText, Format::kMd, Format::kJson}, "text, md or json");
  DiffOptions o = diff_options(f);
  if (f.has("--growth-tolerance"))
    o.growth_tolerance = parse_fraction(f.one("--growth-tolerance"), "--growth-tolerance");
  if (f.has("--speed-threshold")) o.speed_threshold = parse_fraction(f.one("--speed-threshold"), "--speed-threshold");
  if (f.has("--min-seconds")) {
    const std::string text = f.one("--min-seconds");
    const double v = parse_number(text);
    if (!(v >= 0) || v > 86400)
      throw InputError("command line", "--min-seconds",
                       "must be a number of seconds in [0, 86400] (got '" + text + "')");
    o.min_seconds = v;
  }
  std::set<FailOn> fail_on;
  for (const auto& list : f.all("--fail-on")) {
    std::size_t pos = 0;
    while (pos <= list.size()) {
      const std::size_t comma = std::min(list.find(',', pos), list.size());
      const std::string item = list.substr(pos, comma - pos);
      const std::optional<FailOn> tier = parse_fail_on(item);
      if (!tier)
        throw InputError("command line", "--fail-on",
                         "must be a comma-separated list of speed, memory, numerics, steps, host (got '" + item + "')");
      fail_on.insert(*tier);
      pos = comma + 1;
    }
  }
  o.a_name = f.positional[0];
  o.b_name = f.positional[1];
  const Matrix a = load_matrix(o.a_name);
  const Matrix b = load_matrix(o.b_name);
  Matrix noise;  // not present: no A/A run, the thresholds alone
  if (f.has("--noise")) {
    o.noise_name = f.one("--noise");
    noise = load_matrix(o.noise_name);
  }
  const json d = diff_matrices(a, b, o, noise);
  if (format == Format::kJson) std::cout << d.dump(2, ' ', false, json::error_handler_t::replace) << "\n";
  else if (format == Format::kMd) std::cout << render_diff_markdown(d);
  else std::cout << render_diff_text(d, isatty(1));
  const std::vector<std::string> failures = diff_failures(d, fail_on);
  if (failures.empty()) return kExitAsExpected;
  std::string why;
  for (const auto& r : failures) why += (why.empty() ? "" : ", ") + r;
  std::cerr << "trainwreck: diff fails: " << why << "\n";
  return kExitUnexpected;
}

// --format md --out DIR: DIR is a directory when it is one, or when the path ends in '/' or has
// no extension; then the evidence pages and their figures are written there.
bool names_a_directory(const std::string& path) {
  std::error_code ec;
  return fs::is_directory(path, ec) || (!path.empty() && path.back() == '/') || fs::path(path).extension().empty();
}

// A finished run in one format; the diff against a baseline (null: none) after it, where the
// format has one.
std::string render_report(const Matrix& matrix, Format format, const json& diff, bool color) {
  switch (format) {
    case Format::kText:
      return render_console(matrix, color) + (diff.is_object() ? "\n" + render_diff_text(diff, color) : "");
    case Format::kMd: return render_markdown(matrix) + (diff.is_object() ? "\n" + render_diff_markdown(diff) : "");
    case Format::kHtml: return render_html(matrix, diff);
    case Format::kJunit: return render_junit(matrix);
    case Format::kCsv: return render_csv(matrix);
    case Format::kJson: return render_json(matrix);
  }
  return render_json(matrix);
}

int cmd_report(int argc, char** argv) {
  const Flags f =
      parse_flags("report", argc, argv, 2,
                  {"--format", "--out", "--baseline", "--loss-tolerance", "--memory-tolerance", "--catalog"}, {}, 1);
  if (f.positional.empty())
    throw InputError("command line", "report", "needs a finished run (trainwreck report DIR --format FORMAT)");
  const Format format =
      format_flag(f, {Format::kText, Format::kMd, Format::kHtml, Format::kJunit, Format::kCsv, Format::kJson},
                  "text, md, html, junit, csv or json");
  if (f.has("--baseline") && format != Format::kHtml && format != Format::kText && format != Format::kMd)
    throw InputError("command line", "--baseline", "applies to the text, md and html formats only");
  const bool pages = format == Format::kMd && f.has("--out") && names_a_directory(f.one("--out"));
  if (pages && f.has("--baseline"))
    throw InputError("command line", "--baseline",
                     "applies to one Markdown file, not to the evidence pages (--out DIR)");
  Matrix matrix = load_matrix(f.positional.front());
  if (f.has("--catalog")) {
    // A matrix written before run recorded its scenarios: their article rows and descriptions
    // from what `trainwreck list --json` printed.
    const std::string path = f.one("--catalog");
    const json listing = json::parse(read_input_file(path, 16u << 20, "--catalog"), nullptr, false);
    if (listing.is_discarded() || !listing.is_object() || !listing.contains("faults"))
      throw InputError(path, "--catalog", "not the output of trainwreck list --json (a JSON object with \"faults\")");
    matrix.add_scenario_info(listing);
  }
  json diff;
  if (f.has("--baseline")) {
    DiffOptions o = diff_options(f);
    o.a_name = f.one("--baseline");
    o.b_name = f.positional.front();
    diff = diff_matrices(load_matrix(o.a_name), matrix, o);
  }
  if (pages) {
    const std::string dir = f.one("--out");
    const auto files = render_evidence_pages(matrix);
    ensure_directory(dir);
    ensure_directory(dir + "/figures");
    for (const auto& [name, content] : files) write_file_atomic(dir + "/" + name, content);
    return kExitAsExpected;
  }
  const bool to_file = f.has("--out");
  const std::string out = render_report(matrix, format, diff, !to_file && isatty(1));
  if (to_file) write_file_atomic(f.one("--out"), out);
  else std::cout << out;
  return kExitAsExpected;
}

int cmd_merge(int argc, char** argv) {
  const Flags f = parse_flags("merge", argc, argv, 2, {"--out"}, {"--quiet"}, 100000);
  if (f.positional.empty())
    throw InputError("command line", "merge", "needs the shards' results (trainwreck merge DIR... --out DIR)");
  if (!f.has("--out") || f.one("--out").empty()) throw InputError("command line", "--out", "merge needs --out DIR");
  const std::string out = f.one("--out");
  std::vector<ShardResult> shards;
  std::error_code ec;
  for (const auto& p : f.positional) {
    ShardResult s;
    s.path = p;
    s.matrix = load_matrix(p);
    std::string dir = fs::is_directory(p, ec) ? p : fs::path(p).parent_path().string();
    if (dir.empty()) dir = ".";
    if (fs::equivalent(dir, out, ec))
      throw InputError("command line", "--out", "must not be one of the shards' directories (" + p + ")");
    const std::string settings = dir + "/run.json";
    if (fs::exists(settings, ec)) {
      s.settings = json::parse(read_file(settings), nullptr, false);
      if (s.settings.is_discarded() || !s.settings.is_object()) throw InputError(settings, "", "not valid JSON");
    }
    shards.push_back(std::move(s));
  }
  const Matrix merged(merge_shards(shards));
  check_results_directory(out, "--out");
  ensure_directory(out);
  {
    const DirectoryLock lock(out);
    claim_results_directory(out);
    remove_stale_reports(out);
    write_reports(out, merged, nullptr);
  }
  if (!f.has("--quiet")) std::cout << render_console(merged, isatty(1));
  std::cout << "merged " << merged.cells().size() << " cells from " << shards.size() << " result(s) into " << out
            << "\n";
  bool incomplete = false;
  if (merged.context().contains("shards_missing")) {
    incomplete = true;
    std::cerr << "trainwreck: the merged matrix is incomplete: shard(s)";
    for (const auto& m : merged.context()["shards_missing"]) std::cerr << " " << m.get<std::string>();
    std::cerr << " missing\n";
  }
  return count_failures(merged) > 0 || incomplete ? kExitUnexpected : kExitAsExpected;
}

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

}  // namespace

int trainwreck_main(int argc, char** argv, const Backend& backend) {
  const std::string command = argc > 1 ? argv[1] : "";
  // Internal entries first: they report through the event pipe, not the terminal.
  if (command == "cell") return cmd_cell(argc, argv, backend);
  if (command == "probe") return cmd_probe(backend);
  signal(SIGPIPE, SIG_IGN);
  // Over a file size limit a write then fails with EFBIG, reported as results not written,
  // instead of the signal killing the harness.
  signal(SIGXFSZ, SIG_IGN);
  try {
    if (command.empty() || command == "--help" || command == "-h" || command == "help") {
      std::cout << kUsage;
      return command.empty() ? kExitBadInput : kExitAsExpected;
    }
    if (command == "--version") {
      std::cout << "trainwreck " << host_context().value("trainwreck", "") << "\n";
      return kExitAsExpected;
    }
    for (int i = 2; i < argc; ++i)
      if (std::string(argv[i]) == "--help" || std::string(argv[i]) == "-h") {
        std::cout << kUsage;
        return kExitAsExpected;
      }
    if (command == "run") return cmd_run(argc, argv, backend, false);
    if (command == "selftest") return cmd_run(argc, argv, backend, true);
    if (command == "list") return cmd_list(argc, argv, backend);
    if (command == "diff") return cmd_diff(argc, argv);
    if (command == "merge") return cmd_merge(argc, argv);
    if (command == "report") return cmd_report(argc, argv);
    if (command == "pin") return cmd_pin(argc, argv, backend);
    throw InputError("command line", command,
                     "unknown command (run, selftest, list, diff, merge, report, pin; see trainwreck --help)");
  } catch (const InputError& e) {
    std::cerr << "trainwreck: " << e.describe() << "\n";
    return kExitBadInput;
  } catch (const ResultsError& e) {
    std::cerr << "trainwreck: results not written: " << e.what() << "\n";
    return kExitResultsLost;
  } catch (const std::exception& e) {
    std::cerr << "trainwreck: internal error: " << e.what() << "\n";
    return kExitInternal;
  }
}

}  // namespace tw
