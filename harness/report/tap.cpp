// --format tap: TAP version 14 (testanything.org), for TAP consumers and test runners. The plan,
// then a test point per cell in the matrix's order: "not ok" for a failing verdict, as junit.xml
// counts failures (unexpected, flaky, seed-dependent, an unknown verdict), with a YAML block of
// its outcome, expectation and summary; "ok" otherwise, "# SKIP" for a cell that did not run,
// "(unpinned)" for one that ran with no expectation pinned.
#include <cstddef>
#include <sstream>

#include "harness/report.h"
#include "harness/report/reporter.h"
#include "harness/text_util.h"

namespace tw {
namespace {
using nlohmann::json;

// Text for a test point's line: line breaks folded to a space, '\' and '#' escaped (an unescaped
// '#' starts a directive).
std::string tap_escape(const std::string& s) {
  std::string out;
  for (const char c : valid_utf8(s)) {
    if (c == '\\' || c == '#') out += '\\';
    out += c == '\n' || c == '\r' ? ' ' : c;
  }
  return out;
}

// A YAML scalar: JSON's spelling of a value is YAML's too (strings quoted and escaped, null).
std::string yaml(const json& value) { return value.dump(-1, ' ', false, json::error_handler_t::replace); }

void test_point(std::ostream& os, std::size_t number, const MatrixCell& c) {
  const json& cell = *c.cell;
  os << (c.failure() ? "not ok " : "ok ") << number << " - " << tap_escape(c.id + ": " + cell_display(cell));
  if (c.failure()) {
    os << "\n  ---\n"
       << "  verdict: " << yaml(c.verdict_name) << "\n"
       << "  outcome: " << yaml(c.outcome_name) << "\n"
       << "  expected: " << yaml(c.expected()) << "\n"
       << "  summary: " << yaml(cell_summary(cell)) << "\n";
    const std::string seeds = seeds_text(cell);
    if (!seeds.empty()) os << "  seeds: " << yaml(seeds) << "\n";
    os << "  ...\n";
    return;
  }
  if (c.not_run()) {
    const json& ev = c.evidence();
    os << " # SKIP not run" << (ev.contains("reason") ? tap_escape(": " + value_text(ev["reason"])) : "");
  } else if (c.is(Verdict::kUnpinned)) {
    os << " (unpinned)";
  }
  os << "\n";
}

std::string render_tap(const Matrix& matrix) {
  std::ostringstream os;
  os << "TAP version 14\n1.." << matrix.cells().size() << "\n";
  std::size_t number = 0;
  for (const MatrixCell& c : matrix.cells()) test_point(os, ++number, c);
  os << "# " << count_verdicts(matrix).text() << "\n";
  return os.str();
}

}  // namespace

const Reporter& tap_reporter() {
  static const MatrixReporter reporter("tap", "TAP version 14: ok / not ok per cell, a YAML block for each failure",
                                       render_tap);
  return reporter;
}

}  // namespace tw
