// The trainwreck command line: run, list, selftest, and the internal cell and probe entries.
#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <iostream>
#include <map>
#include <set>
#include <sstream>

#include "harness/backend.h"
#include "harness/context.h"
#include "harness/errors.h"
#include "harness/process.h"
#include "harness/report.h"
#include "harness/runner.h"
#include "harness/selftest.h"
#include "harness/store.h"

namespace tw {
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

constexpr uint64_t kDefaultSeed = 20240611;

const char* kUsage = R"(trainwreck: break deep-learning training on purpose, reproducibly, and show which
remedy fixes which failure. Every (scenario, mitigation, device) cell runs in its own process.

Usage:
  trainwreck run [flags]        run the matrix and write results
  trainwreck list [--json] [--scenarios PATH]...
                                faults, mitigations, scenarios and their cells
  trainwreck selftest [flags]   run the built-in isolation cells (no LibTorch)
  trainwreck pin DIR [--scenarios PATH]... [--dry-run]
                                write a finished run's outcomes into the scenarios as
                                expectations for its device classes
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
                     (TEST_SHARD_INDEX / TEST_TOTAL_SHARDS are honoured when set)
  --seed N           the run's seed (default 20240611); cells derive theirs from it
  --resume DIR       finish an interrupted run in DIR: only cells without a result run
  --quiet            no per-cell progress lines

Exit codes: 0 every cell as expected; 1 at least one unexpected outcome; 2 bad input or usage
(nothing was run); 3 internal error; 4 results could not be written.
)";

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
    throw InputError("command line", flag,
                     "must be an integer from " + std::to_string(min) + " to " + std::to_string(max) + " (got '" +
                         text + "')");
  return v;
}

double parse_seconds(const std::string& text, const std::string& flag) {
  std::size_t used = 0;
  double v = 0;
  try {
    v = std::stod(text, &used);
  } catch (...) {
    used = 0;
  }
  if (used == 0 || used != text.size() || !(v > 0) || v > 86400)
    throw InputError("command line", flag, "must be a number of seconds in (0, 86400] (got '" + text + "')");
  return v;
}

Catalog full_catalog(const Backend& backend) {
  Catalog c = selftest_catalog();
  c.add(backend.catalog);
  return c;
}

int cmd_cell(int argc, char** argv, const Backend& backend) {
  const EventWriter events(kEventFd);
  if (argc < 3) {
    events.emit("error", {{"kind", "exception"}, {"message", "cell: missing cell specification"}});
    return kExitBadInput;
  }
  json cell = json::parse(argv[2], nullptr, false);
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

int cmd_list(int argc, char** argv, const Backend& backend) {
  const Flags f = parse_flags("list", argc, argv, 2, {"--scenarios"}, {"--json", "--selftest"}, 0);
  const Catalog catalog = full_catalog(backend);
  std::vector<Scenario> scenarios;
  std::error_code ec;
  if (f.has("--scenarios") || fs::exists("scenarios", ec)) scenarios = load_scenarios(scenario_paths(f), catalog);
  if (f.has("--selftest")) {
    auto st = selftest_scenarios();
    scenarios.insert(scenarios.end(), st.begin(), st.end());
  }
  auto component_json = [](const ComponentInfo& c) {
    json params = json::array();
    for (const auto& p : c.params) {
      json pj = {{"name", p.name}, {"type", to_string(p.type)}, {"help", p.help}};
      if (!p.choices.empty()) pj["choices"] = p.choices;
      params.push_back(pj);
    }
    json j = {{"name", c.name}, {"summary", c.summary}, {"article_row", c.article_row}, {"params", params}};
    if (!c.requires.empty()) j["requires"] = c.requires;
    if (c.ranks > 1) j["ranks"] = c.ranks;
    return j;
  };
  const bool show_selftest = f.has("--selftest");
  if (f.has("--json")) {
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
    return kExitAsExpected;
  }
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
      if (!c->requires.empty()) {
        std::cout << " [requires";
        for (const auto& r : c->requires) std::cout << " " << r;
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
  std::cout << "\nMitigations:\n";
  for (const auto& c : catalog.mitigations) std::cout << "  " << c.name << " - " << c.summary << "\n";
  if (!scenarios.empty()) {
    std::cout << "\nScenarios:\n";
    for (const auto& s : scenarios) {
      std::cout << "  " << s.name << " (" << s.file << "): fault " << s.fault << "; cells:";
      for (const auto& m : s.mitigations) std::cout << " " << m.label;
      std::cout << "\n";
    }
  }
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

  json to_json() const {
    return {{"scenarios", scenario_paths}, {"filters", filters},     {"device", device},
            {"timeout", timeout},          {"shard_index", shard.index}, {"shard_count", shard.count},
            {"seed", seed},                {"selftest", selftest}};
  }
};

int cmd_run(int argc, char** argv, const Backend& backend, bool selftest) {
  const std::string command = selftest ? "selftest" : "run";
  const Flags f = parse_flags(command, argc, argv, 2,
                              {"--scenarios", "--filter", "--device", "--jobs", "--out", "--timeout", "--shard",
                               "--seed", "--resume"},
                              {"--quiet"}, 0);
  RunSettings rs;
  rs.selftest = selftest;
  const long cores = sysconf(_SC_NPROCESSORS_ONLN);
  rs.jobs = static_cast<int>(cores > 0 ? cores : 1);
  const bool resume = f.has("--resume");
  if (resume) {
    for (const char* conflicting : {"--scenarios", "--filter", "--device", "--shard", "--seed", "--timeout", "--out"})
      if (f.has(conflicting))
        throw InputError("command line", conflicting, "cannot be combined with --resume (the run's own settings are used)");
    rs.out = f.one("--resume");
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
    } catch (const json::exception& e) {
      throw InputError(saved, "", std::string("malformed run settings: ") + e.what());
    }
  } else {
    if (!selftest) rs.scenario_paths = scenario_paths(f);
    rs.filters = f.all("--filter");
    rs.device = f.one("--device", selftest ? "cpu" : "auto");
    if (rs.device != "auto" && rs.device != "cpu" && rs.device != "cuda" && rs.device != "all")
      throw InputError("command line", "--device", "must be auto, cpu, cuda or all (got '" + rs.device + "')");
    if (f.has("--out")) rs.out = f.one("--out");
    if (rs.out.empty()) throw InputError("command line", "--out", "must not be empty");
    if (f.has("--timeout")) rs.timeout = parse_seconds(f.one("--timeout"), "--timeout");
    if (f.has("--shard")) {
      rs.shard = parse_shard(f.one("--shard"), "--shard");
    } else if (const char* idx = getenv("TEST_SHARD_INDEX"); idx && getenv("TEST_TOTAL_SHARDS")) {
      const long long n = parse_int(getenv("TEST_TOTAL_SHARDS"), "TEST_TOTAL_SHARDS", 1, 100000);
      rs.shard = Shard{static_cast<int>(parse_int(idx, "TEST_SHARD_INDEX", 0, n - 1)), static_cast<int>(n)};
    }
    if (f.has("--seed")) rs.seed = static_cast<uint64_t>(parse_int(f.one("--seed"), "--seed", 0, (1LL << 53)));
  }
  if (f.has("--jobs")) rs.jobs = static_cast<int>(parse_int(f.one("--jobs"), "--jobs", 1, 256));
  const bool quiet = f.has("--quiet");

  const Catalog catalog = full_catalog(backend);
  std::vector<Scenario> scenarios =
      rs.selftest ? selftest_scenarios() : load_scenarios(rs.scenario_paths, catalog);

  const std::string exe = self_executable();
  ProbeResult probe;
  if (rs.device != "cpu" || !rs.selftest) probe = run_probe(exe);
  PlanOptions plan;
  plan.caps = probe.caps;
  plan.filters = rs.filters;
  plan.shard = rs.shard;
  if (rs.device == "auto") plan.devices = {probe.caps.gpus > 0 ? "cuda" : "cpu"};
  else if (rs.device == "all") plan.devices = {"cpu", "cuda"};
  else plan.devices = {rs.device};
  std::vector<CellSpec> cells = plan_cells(scenarios, catalog, plan);
  if (cells.empty())
    throw InputError("command line", rs.filters.empty() ? "--device" : "--filter",
                     "no cell matches (see trainwreck list)");
  for (auto& c : cells) c.seed = rs.seed;

  // Phase 1: settings and context, before any cell runs.
  const std::string cells_dir = rs.out + "/cells";
  ensure_directory(rs.out);
  ensure_directory(cells_dir);
  json context = {{"host", host_context()},
                  {"probe", probe.info},
                  {"capabilities", probe.caps.to_json()},
                  {"seed", rs.seed},
                  {"devices", plan.devices},
                  {"started_at", utc_timestamp()}};
  if (!probe.error.empty()) context["probe_error"] = probe.error;
  if (rs.shard.count > 1) context["shard"] = std::to_string(rs.shard.index + 1) + "/" + std::to_string(rs.shard.count);
  std::map<std::string, CellRecord> finished;
  if (resume) {
    for (const auto& c : cells) {
      const std::string path = cells_dir + "/" + c.file_stem() + ".result.json";
      std::error_code ec;
      if (!fs::exists(path, ec)) continue;
      json r = json::parse(read_file(path), nullptr, false);
      if (r.is_discarded() || !r.is_object()) continue;
      CellRecord rec;
      rec.spec = c;
      auto o = parse_outcome(r.value("outcome", ""));
      if (!o) continue;
      rec.outcome = *o;
      rec.verdict = verdict_for(c.expected, rec.outcome);
      rec.evidence = r.value("evidence", json::object());
      rec.series = r.value("series", json::object());
      rec.log_tail = r.value("log_tail", "");
      rec.wall_seconds = rec.evidence.value("wall_seconds", 0.0);
      finished[c.id] = rec;
    }
  } else {
    std::error_code ec;
    for (const char* stale : {"matrix.json", "matrix.md", "junit.xml"}) fs::remove(rs.out + "/" + stale, ec);
    for (auto it = fs::directory_iterator(cells_dir, ec); !ec && it != fs::directory_iterator(); it.increment(ec))
      fs::remove_all(it->path(), ec);
    if (ec) throw ResultsError("cannot clear " + cells_dir + ": " + ec.message());
  }
  write_json_atomic(rs.out + "/run.json", rs.to_json());
  write_json_atomic(rs.out + "/context.json", context);

  std::vector<CellSpec> todo;
  for (const auto& c : cells)
    if (!finished.count(c.id)) todo.push_back(c);
  if (!quiet)
    std::cerr << "trainwreck: " << cells.size() << " cells (" << todo.size() << " to run) on "
              << plan.devices.front() << (plan.devices.size() > 1 ? " and " + plan.devices.back() : "") << ", "
              << rs.jobs << " at once; results in " << rs.out << "\n";

  RunnerOptions ro;
  ro.exe = exe;
  ro.jobs = rs.jobs;
  ro.timeout_override = rs.timeout;
  ro.cells_dir = cells_dir;
  std::size_t done = cells.size() - todo.size();
  const bool tty = isatty(2);
  Runner runner(ro);
  runner.run(todo, [&](const CellRecord& rec) {
    write_json_atomic(cells_dir + "/" + rec.spec.file_stem() + ".result.json", rec.to_json());
    finished[rec.spec.id] = rec;
    ++done;
    if (!quiet) {
      const json cj = rec.to_json();
      std::ostringstream line;
      line << "[" << done << "/" << cells.size() << "] " << rec.spec.id << ": " << cell_summary(cj) << " ("
           << to_string(rec.verdict) << ", " << static_cast<int>(rec.wall_seconds * 10) / 10.0 << " s)";
      std::cerr << (tty && rec.verdict == Verdict::kUnexpected ? "\033[31m" : "") << line.str()
                << (tty && rec.verdict == Verdict::kUnexpected ? "\033[0m" : "") << "\n";
    }
  });

  // Phase 2: the matrix, in plan order, once every cell has a result.
  json matrix = {{"context", context}, {"cells", json::array()}};
  matrix["context"]["finished_at"] = utc_timestamp();
  for (const auto& c : cells) matrix["cells"].push_back(finished.at(c.id).to_json());
  matrix["summary"] = summarize_verdicts(matrix);
  write_json_atomic(rs.out + "/matrix.json", matrix);
  write_file_atomic(rs.out + "/matrix.md", render_markdown(matrix));
  write_file_atomic(rs.out + "/junit.xml", render_junit(matrix));
  std::cout << render_console(matrix, isatty(1));
  const json& s = matrix["summary"];
  return s["unexpected"].get<int>() + s["flaky"].get<int>() > 0 ? kExitUnexpected : kExitAsExpected;
}

// Writes the outcomes of a finished run into the scenario files as expectations for the
// run's device classes. Only cells that ran are pinned; unsupported cells are not.
int cmd_pin(int argc, char** argv, const Backend& backend) {
  const Flags f = parse_flags("pin", argc, argv, 2, {"--scenarios"}, {"--dry-run"}, 1);
  if (f.positional.empty()) throw InputError("command line", "pin", "needs a results directory (trainwreck pin DIR)");
  const std::string dir = f.positional.front();
  const std::string matrix_path = fs::is_directory(dir) ? dir + "/matrix.json" : dir;
  std::error_code ec;
  if (!fs::exists(matrix_path, ec)) throw InputError(matrix_path, "", "no such file (a finished run's matrix.json)");
  json matrix = json::parse(read_file(matrix_path), nullptr, false);
  if (matrix.is_discarded() || !matrix.contains("cells")) throw InputError(matrix_path, "", "not a matrix.json");
  const Catalog catalog = full_catalog(backend);
  const std::vector<Scenario> scenarios = load_scenarios(scenario_paths(f), catalog);
  int changed = 0;
  for (const auto& s : scenarios) {
    nlohmann::ordered_json doc = nlohmann::ordered_json::parse(read_file(s.file));
    bool touched = false;
    for (const auto& c : matrix["cells"]) {
      if (c.value("scenario", "") != s.name || c.value("outcome", "") == "unsupported") continue;
      for (auto& m : doc["mitigations"]) {
        const std::string label = m.value("label", m.value("name", ""));
        if (label != c.value("mitigation", "")) continue;
        const std::string device = c.value("device", "");
        const std::string outcome = c.value("outcome", "");
        if (!m.contains("expect")) m["expect"] = nlohmann::ordered_json::object();
        if (m["expect"].value(device, "") != outcome) {
          std::cout << s.name << "/" << label << "/" << device << ": " << m["expect"].value(device, "(unpinned)")
                    << " -> " << outcome << "\n";
          m["expect"][device] = outcome;
          touched = true;
          ++changed;
        }
      }
    }
    if (touched && !f.has("--dry-run")) write_file_atomic(s.file, doc.dump(2) + "\n");
  }
  std::cout << changed << " expectation(s) " << (f.has("--dry-run") ? "would change" : "changed") << "\n";
  return kExitAsExpected;
}

}  // namespace

int trainwreck_main(int argc, char** argv, const Backend& backend) {
  const std::string command = argc > 1 ? argv[1] : "";
  // Internal entries first: they report through the event pipe, not the terminal.
  if (command == "cell") return cmd_cell(argc, argv, backend);
  if (command == "probe") return cmd_probe(backend);
  signal(SIGPIPE, SIG_IGN);
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
    if (command == "pin") return cmd_pin(argc, argv, backend);
    throw InputError("command line", command, "unknown command (run, list, selftest; see trainwreck --help)");
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
