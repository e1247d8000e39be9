// `trainwreck report DIR`: render a finished run again, in any format of the reporters' registry
// (harness/report/reporter.h), or as evidence pages (--format md --out DIR).
#include <unistd.h>

#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <system_error>
#include <vector>

#include "harness/cli/commands.h"
#include "harness/cli/flags.h"
#include "harness/diff.h"
#include "harness/errors.h"
#include "harness/report.h"
#include "harness/report/reporter.h"
#include "harness/store.h"

namespace tw::cli {
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

// --format (default text): a registered reporter, or InputError naming every one.
const Reporter& report_format(const Flags& f) {
  std::vector<std::string> names;
  for (const Reporter* r : reporters()) names.emplace_back(r->name());
  return *find_reporter(format_flag(f, names));
}

// --baseline: only for a format that renders the diff.
void check_baseline(const Flags& f, const Reporter& format) {
  if (!f.has("--baseline") || format.takes_baseline()) return;
  std::vector<std::string> names;
  for (const Reporter* r : reporters())
    if (r->takes_baseline()) names.emplace_back(r->name());
  throw InputError("command line", "--baseline", "applies to the " + word_list(names, "and") + " formats only");
}

// --format md --out DIR: DIR is a directory when it is one, or when the path ends in '/' or has
// no extension; then the evidence pages and their figures are written there.
bool names_a_directory(const std::string& path) {
  std::error_code ec;
  return fs::is_directory(path, ec) || (!path.empty() && path.back() == '/') || fs::path(path).extension().empty();
}

// The matrix of a finished run; with --catalog, the scenario information a matrix written before
// run recorded it lacks, from what `trainwreck list --json` printed.
Matrix report_matrix(const Flags& f) {
  Matrix matrix = load_matrix(f.positional.front());
  if (f.has("--catalog")) {
    const std::string path = f.one("--catalog");
    const json listing = json::parse(read_input_file(path, 16u << 20, "--catalog"), nullptr, false);
    if (listing.is_discarded() || !listing.is_object() || !listing.contains("faults"))
      throw InputError(path, "--catalog", "not the output of trainwreck list --json (a JSON object with \"faults\")");
    matrix.add_scenario_info(listing);
  }
  return matrix;
}

}  // namespace

int cmd_report(int argc, char** argv) {
  const Flags f =
      parse_flags("report", argc, argv, 2,
                  {"--format", "--out", "--baseline", "--loss-tolerance", "--memory-tolerance", "--catalog"}, {}, 1);
  if (f.positional.empty())
    throw InputError("command line", "report", "needs a finished run (trainwreck report DIR --format FORMAT)");
  const Reporter& format = report_format(f);
  check_baseline(f, format);
  // The evidence pages are Markdown's alone: several files, not one document.
  const bool pages = format.name() == "md" && f.has("--out") && names_a_directory(f.one("--out"));
  if (pages && f.has("--baseline"))
    throw InputError("command line", "--baseline",
                     "applies to one Markdown file, not to the evidence pages (--out DIR)");
  const Matrix matrix = report_matrix(f);
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
  const std::string out = format.render(matrix, diff, !to_file && isatty(1));
  if (to_file) write_file_atomic(f.one("--out"), out);
  else std::cout << out;
  return kExitAsExpected;
}

}  // namespace tw::cli
