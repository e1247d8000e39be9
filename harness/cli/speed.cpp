// `trainwreck speed`: the median step time of the same cells under two executables (or two
// environments), measured interleaved, one cell at a time, and judged against the spread of the
// A/A pairs (harness/speed.h).
#include "harness/speed.h"

#include <unistd.h>

#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "harness/cli/commands.h"
#include "harness/cli/flags.h"
#include "harness/cli/sides.h"
#include "harness/context.h"
#include "harness/errors.h"
#include "harness/plan.h"
#include "harness/process.h"
#include "harness/runner.h"
#include "harness/scenario.h"
#include "harness/store.h"

namespace tw::cli {
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

constexpr int kMaxRounds = 50;

struct SpeedCommand {
  std::vector<CellSpec> cells;
  Side a, b;
  int rounds = 5;
  double min_seconds = 0.05;
  std::string out;  // "" = no files
  bool quiet = false;
};

// One run of one cell on one side: its median step time, or why there is none.
double timed_run(const SpeedCommand& cmd, const Side& side, const CellSpec& cell, int round, std::string& why) {
  RunnerOptions ro;
  ro.exe = side.exe;
  ro.jobs = 1;
  ro.env = side.env;
  if (!cmd.out.empty()) {
    ro.cells_dir = cmd.out + "/cells/" + side.name + "-" + std::to_string(round);
    ensure_directory(ro.cells_dir);
  }
  Runner runner(ro);
  const CellRecord rec = runner.run({cell}, [](const CellRecord&) {}).front();
  const double step = rec.evidence.value("step_seconds_median", 0.0);
  const double train = rec.evidence.value("train_seconds", 0.0);
  if (!(step > 0)) {
    why = std::string("no step time (") + to_string(rec.outcome) + ")";
    return 0;
  }
  if (train < cmd.min_seconds) {
    why = "trained for less than " + std::to_string(static_cast<int>(cmd.min_seconds * 1000)) + " ms";
    return 0;
  }
  return step;
}

std::string ms(double seconds) {
  std::ostringstream s;
  s.precision(3);
  s << seconds * 1000 << " ms";
  return s.str();
}

// Every round of one cell, back to back: A B, A B, ...; the first round decides whether it is timed.
SpeedRounds measure_cell(const SpeedCommand& cmd, const CellSpec& cell, std::size_t index) {
  SpeedRounds r;
  r.id = cell.id;
  if (!cell.unsupported_reason.empty()) {
    r.not_timed = "unsupported: " + cell.unsupported_reason;
    return r;
  }
  for (int round = 1; round <= cmd.rounds && r.not_timed.empty(); ++round) {
    std::string why;
    const double a = timed_run(cmd, cmd.a, cell, round, why);
    const double b = why.empty() ? timed_run(cmd, cmd.b, cell, round, why) : 0;
    if (!why.empty()) {
      r.not_timed = why;
      break;
    }
    r.a.push_back(a);
    r.b.push_back(b);
    if (!cmd.quiet)
      std::cerr << "[" << index + 1 << "/" << cmd.cells.size() << "] " << cell.id << " round " << round << ": A "
                << ms(a) << ", B " << ms(b) << "\n";
  }
  if (!r.not_timed.empty() && !cmd.quiet)
    std::cerr << "[" << index + 1 << "/" << cmd.cells.size() << "] " << cell.id << ": not timed, " << r.not_timed
              << "\n";
  return r;
}

}  // namespace

int cmd_speed(int argc, char** argv, const Backend& backend) {
  const Flags f = parse_flags("speed", argc, argv, 2,
                              {"--a", "--b", "--a-env", "--b-env", "--rounds", "--scenarios", "--filter", "--device",
                               "--seed", "--horizon", "--min-seconds", "--speed-threshold", "--format", "--out"},
                              {"--quiet"}, 0);
  SpeedCommand cmd;
  cmd.a = side_of(f, "a");
  cmd.b = side_of(f, "b");
  if (f.has("--rounds")) cmd.rounds = static_cast<int>(parse_int(f.one("--rounds"), "--rounds", 3, kMaxRounds));
  if (f.has("--min-seconds")) cmd.min_seconds = parse_seconds(f.one("--min-seconds"), "--min-seconds");
  SpeedSettings settings;
  if (f.has("--speed-threshold")) settings.threshold = parse_fraction(f.one("--speed-threshold"), "--speed-threshold");
  const std::string format = format_flag(f, {"text", "md", "json"});
  const uint64_t seed =
      f.has("--seed") ? static_cast<uint64_t>(parse_int(f.one("--seed"), "--seed", 0, 1LL << 62)) : kDefaultSeed;
  cmd.cells = planned_cells(f, backend, seed);
  // A shorter horizon times fewer steps of the same loop: enough for a median step time.
  const double horizon = f.has("--horizon") ? parse_horizon(f.one("--horizon")) : 1.0;
  for (auto& c : cmd.cells) {
    c.horizon_scale = horizon;
    c.limits.wall_seconds *= horizon;
  }
  cmd.out = f.one("--out");
  cmd.quiet = f.has("--quiet");
  if (!cmd.out.empty()) ensure_directory(cmd.out);

  std::vector<SpeedRounds> measured;
  for (std::size_t i = 0; i < cmd.cells.size(); ++i) measured.push_back(measure_cell(cmd, cmd.cells[i], i));
  json j = judge_speed(measured, settings).to_json();
  j["a"] = cmd.a.to_json();
  j["b"] = cmd.b.to_json();
  j["rounds"] = cmd.rounds;
  j["seed"] = seed;
  j["horizon"] = horizon;
  j["host"] = host_context();
  if (!cmd.out.empty()) {
    write_json_atomic(cmd.out + "/speed.json", j);
    write_file_atomic(cmd.out + "/speed.md", render_speed(j, true));
  }
  std::cout << (format == "json" ? j.dump(2) + "\n" : render_speed(j, format == "md"));
  const bool failed = j["summary"]["slower"].get<int>() > 0 || j["summary"]["aa_flagged"].get<int>() > 0;
  return failed ? kExitUnexpected : kExitAsExpected;
}

}  // namespace tw::cli
