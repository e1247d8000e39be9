// `trainwreck run` and `trainwreck selftest`: plan the cells, run each round of them under the
// runner, and once every cell has a result, assemble the matrix and write its reports.
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <filesystem>
#include <iostream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <system_error>
#include <vector>

#include "harness/cli/commands.h"
#include "harness/cli/flags.h"
#include "harness/cli/results_dir.h"
#include "harness/cli/run_settings.h"
#include "harness/context.h"
#include "harness/diff.h"
#include "harness/errors.h"
#include "harness/process.h"
#include "harness/progress.h"
#include "harness/repeat.h"
#include "harness/report.h"
#include "harness/runner.h"
#include "harness/scenario.h"
#include "harness/selftest.h"
#include "harness/store.h"

namespace tw::cli {
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

// The signal that interrupted a run (0: none).
volatile std::sig_atomic_t g_interrupt = 0;

// A cell's result as an earlier, interrupted run left it (--resume); nullopt when it has none.
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

// A cell run with several seeds: each seed's outcome and key evidence, and the other seeds' loss
// curves for figures (the first seed's record stays the main one).
void add_seeds(json& cj, const CellSpec& c, const std::vector<Round>& rounds,
               const std::vector<std::map<std::string, CellRecord>>& finished) {
  std::vector<json> results;
  std::vector<uint64_t> values;
  json series = json::array();
  for (std::size_t round = 0; round < rounds.size(); ++round) {
    results.push_back(finished[round].at(c.id).to_json());
    values.push_back(rounds[round].seed);
    if (round > 0) series.push_back(seed_series_of(rounds[round].dir + "/" + c.file_stem() + ".jsonl"));
  }
  cj["seeds"] = aggregate_seeds(values, results);
  cj["seed_series"] = series;
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
      if (!cj["repeat"]["identical_evidence"].get<bool>() || cj["repeat"]["identical_loss"] == false)
        ++differing_evidence;
    }
    if (rs.seeds > 1) add_seeds(cj, c, rounds, finished);
    // The cell's verdict, over every round it ran (one, the repeats or the seeds).
    std::vector<Outcome> outcomes;
    for (std::size_t round = 0; round < rounds.size(); ++round) outcomes.push_back(finished[round].at(c.id).outcome);
    cj["verdict"] = to_string(verdict_over(c.expected, outcomes, rs.seeds > 1 ? RunKind::kSeeds : RunKind::kRepeats));
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

}  // namespace

int cmd_run(int argc, char** argv, const Backend& backend, bool selftest) {
  const std::string command = selftest ? "selftest" : "run";
  const Flags f =
      parse_flags(command, argc, argv, 2,
                  {"--scenarios", "--filter", "--device", "--jobs", "--out", "--timeout", "--shard", "--seed",
                   "--resume", "--repeat", "--seeds", "--horizon", "--baseline", "--loss-tolerance",
                   "--memory-tolerance"},
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

}  // namespace tw::cli
