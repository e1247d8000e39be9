// `trainwreck bisect`: one cell under two executables (or environments), traced, to the first
// step whose loss differs and the first ATen op of that step (or of the step before, whose update
// made it) whose outputs differ (harness/bisect.h, backend/op_trace.h).
#include "harness/bisect.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "harness/cli/commands.h"
#include "harness/cli/flags.h"
#include "harness/cli/sides.h"
#include "harness/errors.h"
#include "harness/plan.h"
#include "harness/runner.h"
#include "harness/store.h"

namespace tw::cli {
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

// A directory for the traces: --out's, or a temporary one removed at the end.
struct WorkDir {
  explicit WorkDir(const std::string& out) {
    if (!out.empty()) {
      ensure_directory(out);
      path = fs::absolute(out).string();
      return;
    }
    std::string templ = (fs::temp_directory_path() / "trainwreck-bisect-XXXXXX").string();
    if (!mkdtemp(templ.data()))
      throw ResultsError("cannot make a temporary directory under " + fs::temp_directory_path().string());
    path = templ;
    temporary = true;
  }
  ~WorkDir() {
    if (temporary) remove_tree(path);
  }
  std::string path;
  bool temporary = false;
};

struct Traced {
  json trace = {{"losses", json::array()}, {"ops", json::array()}};  // empty when the run wrote none
  std::string outcome;
  bool written = false;
};

// One traced run of the cell on one side.
Traced traced_run(const Side& side, CellSpec cell, const std::string& dir, int64_t ops_from, int64_t ops_to,
                  const std::string& tag) {
  const std::string trace_path = dir + "/" + side.name + "-" + tag + ".trace.json";
  std::error_code ec;
  fs::remove(trace_path, ec);
  cell.trace = {{"path", trace_path}, {"ops_from", ops_from}, {"ops_to", ops_to}};
  RunnerOptions ro;
  ro.exe = side.exe;
  ro.jobs = 1;
  ro.env = side.env;
  ro.cells_dir = dir + "/cells/" + side.name + "-" + tag;
  ensure_directory(ro.cells_dir);
  Runner runner(ro);
  Traced t;
  t.outcome = to_string(runner.run({cell}, [](const CellRecord&) {}).front().outcome);
  std::ifstream in(trace_path);
  json trace = json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (trace.is_object()) {
    t.trace = std::move(trace);
    t.written = true;
  }
  return t;
}

}  // namespace

int cmd_bisect(int argc, char** argv, const Backend& backend) {
  const Flags f = parse_flags("bisect", argc, argv, 2,
                              {"--a", "--b", "--a-env", "--b-env", "--scenarios", "--filter", "--device", "--seed",
                               "--horizon", "--format", "--out"},
                              {"--quiet"}, 0);
  const Side a = side_of(f, "a");
  const Side b = side_of(f, "b");
  const std::string format = format_flag(f, {"text", "md", "json"});
  const uint64_t seed =
      f.has("--seed") ? static_cast<uint64_t>(parse_int(f.one("--seed"), "--seed", 0, 1LL << 62)) : kDefaultSeed;
  std::vector<CellSpec> cells = planned_cells(f, backend, seed);
  if (cells.size() != 1)
    throw InputError(
        "command line", "--filter",
        "must pick exactly one cell (" + std::to_string(cells.size()) + " match, the first " + cells[0].id + ")");
  CellSpec cell = cells[0];
  if (!cell.unsupported_reason.empty())
    throw InputError("command line", "--filter", cell.id + " cannot run here: " + cell.unsupported_reason);
  if (cell.ranks > 1)
    throw InputError("command line", "--filter",
                     cell.id + " runs " + std::to_string(cell.ranks) + " ranks; the trace follows one process's loop");
  if (f.has("--horizon")) {
    cell.horizon_scale = parse_horizon(f.one("--horizon"));
    cell.limits.wall_seconds *= cell.horizon_scale;
  }
  const WorkDir work(f.one("--out"));
  const bool quiet = f.has("--quiet");

  // Every step's loss, and the ops of the set-up (step 0: the data made, the model initialized)
  // and of step 1; then, if the losses part later, the ops of the step that parts and of the one
  // before it (whose update may be what differs).
  if (!quiet) std::cerr << "bisect " << cell.id << ": losses and the ops of the set-up and step 1, A then B\n";
  Traced ta = traced_run(a, cell, work.path, 0, 1, "losses");
  Traced tb = traced_run(b, cell, work.path, 0, 1, "losses");
  const auto steps = [](const Traced& t) { return t.trace.value("losses", json::array()).size(); };
  if (steps(ta) == 0 && steps(tb) == 0)
    throw InputError("command line", "--filter",
                     "neither run of " + cell.id + " traced a step (outcomes " + ta.outcome + ", " + tb.outcome +
                         "): the trace hooks into the single-process training loop, which this cell's fault does "
                         "not run");
  const LossComparison losses = compare_losses(ta.trace, tb.trace);
  int64_t from = 0, to = 1;
  int64_t rerun_step = 0;
  if (losses.first_differing_step > 1) {
    from = losses.first_differing_step - 1;
    to = losses.first_differing_step;
    if (!quiet) std::cerr << "bisect " << cell.id << ": the ops of steps " << from << " to " << to << ", A then B\n";
    ta = traced_run(a, cell, work.path, from, to, "ops");
    tb = traced_run(b, cell, work.path, from, to, "ops");
    if (!ta.written || !tb.written)
      throw ResultsError("the second traced run of " + cell.id + " on side " + (ta.written ? "b" : "a") +
                         " wrote no trace (outcome " + (ta.written ? tb.outcome : ta.outcome) + ")");
    rerun_step = compare_losses(ta.trace, tb.trace).first_differing_step;
  }
  const OpComparison ops = losses.first_differing_step > 0 ? compare_ops(ta.trace, tb.trace) : OpComparison{};
  json finding = bisect_json(losses, ops, from, to);
  if (rerun_step != 0 && rerun_step != losses.first_differing_step)
    finding["warning"] = "the traced rerun parted at step " + std::to_string(rerun_step) + ", not " +
                         std::to_string(losses.first_differing_step) +
                         ": a side is not deterministic, and the ops named may not be where the runs part";
  finding["cell"] = cell.id;
  finding["seed"] = seed;
  finding["a"] = a.to_json();
  finding["b"] = b.to_json();
  finding["a"]["outcome"] = ta.outcome;
  finding["b"]["outcome"] = tb.outcome;
  finding["a"]["traced"] = ta.written;
  finding["b"]["traced"] = tb.written;
  if (!work.temporary) {
    write_json_atomic(work.path + "/bisect.json", finding);
    write_file_atomic(work.path + "/bisect.md", render_bisect(finding, true));
  }
  std::cout << (format == "json" ? finding.dump(2) + "\n" : render_bisect(finding, format == "md"));
  return losses.first_differing_step > 0 ? kExitUnexpected : kExitAsExpected;
}

}  // namespace tw::cli
