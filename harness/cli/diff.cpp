// `trainwreck diff A B`: compare two runs (diff.h) and say what changed, as text, Markdown or JSON.
// Its formats are its own: a diff is not a report of one matrix (harness/report/reporter.h).
#include "harness/diff.h"

#include <unistd.h>

#include <algorithm>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "harness/cli/commands.h"
#include "harness/cli/flags.h"
#include "harness/errors.h"
#include "harness/json_util.h"
#include "harness/store.h"

namespace tw::cli {
using nlohmann::json;

namespace {

constexpr std::size_t kMaxSpeedFileBytes = std::size_t{64} << 20;

// --fail-on LIST (repeatable): comma-separated diff tiers that make the exit code 1.
std::set<FailOn> fail_on_tiers(const Flags& f) {
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
  return fail_on;
}

// The tolerances and thresholds of diff's flags over the defaults.
DiffOptions diff_flags(const Flags& f) {
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
  return o;
}

// `trainwreck speed`'s speed.json, checked: an object with "cells" (each with an "id") and a
// numeric "threshold"; anything else is an input error naming the file and the field.
json interleaved_judgement(const std::string& path) {
  const json j = json::parse(read_input_file(path, kMaxSpeedFileBytes, "--speed"), nullptr, false);
  if (j.is_discarded() || !j.is_object())
    throw InputError(path, "--speed", "is not JSON written by trainwreck speed (--format json or speed.json)");
  if (!member(j, "cells").is_array()) throw InputError(path, "cells", "must be an array (trainwreck speed's cells)");
  if (!member(j, "threshold").is_number()) throw InputError(path, "threshold", "must be a number");
  for (std::size_t i = 0; i < j["cells"].size(); ++i)
    if (!member(j["cells"][i], "id").is_string())
      throw InputError(path, "cells[" + std::to_string(i) + "].id", "must be a cell id");
  return j;
}

}  // namespace

int cmd_diff(int argc, char** argv) {
  const Flags f = parse_flags("diff", argc, argv, 2,
                              {"--loss-tolerance", "--memory-tolerance", "--growth-tolerance", "--speed-threshold",
                               "--min-seconds", "--noise", "--speed", "--fail-on", "--format"},
                              {}, 2);
  if (f.positional.size() != 2)
    throw InputError("command line", "diff", "needs two runs to compare (trainwreck diff A B)");
  const std::string format = format_flag(f, {"text", "md", "json"});
  DiffOptions o = diff_flags(f);
  const std::set<FailOn> fail_on = fail_on_tiers(f);
  o.a_name = f.positional[0];
  o.b_name = f.positional[1];
  const Matrix a = load_matrix(o.a_name);
  const Matrix b = load_matrix(o.b_name);
  Matrix noise;  // not present: no A/A run, the thresholds alone
  if (f.has("--noise")) {
    o.noise_name = f.one("--noise");
    noise = load_matrix(o.noise_name);
  }
  if (f.has("--speed")) {
    o.interleaved_name = f.one("--speed");
    o.interleaved = interleaved_judgement(o.interleaved_name);
  }
  const json d = diff_matrices(a, b, o, noise);
  if (format == "json") std::cout << d.dump(2, ' ', false, json::error_handler_t::replace) << "\n";
  else if (format == "md") std::cout << render_diff_markdown(d);
  else std::cout << render_diff_text(d, isatty(1));
  const std::vector<std::string> failures = diff_failures(d, fail_on);
  if (failures.empty()) return kExitAsExpected;
  std::string why;
  for (const auto& r : failures) why += (why.empty() ? "" : ", ") + r;
  std::cerr << "trainwreck: diff fails: " << why << "\n";
  return kExitUnexpected;
}

}  // namespace tw::cli
