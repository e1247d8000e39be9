// --format github: a GitHub Actions job summary, Markdown to append to $GITHUB_STEP_SUMMARY. A
// heading that says whether any cell failed, one line of counts, the failing cells in a table
// (failing as junit.xml counts them: is_failure), then every cell's outcome in a closed
// <details> block.
#include <cstddef>
#include <sstream>
#include <string>
#include <vector>

#include "harness/report.h"
#include "harness/report/reporter.h"

namespace tw {
namespace {
using nlohmann::json;

// The table of `cells`: id, verdict, outcome (with its seeds), expectation.
void outcome_table(std::ostream& os, const std::vector<const MatrixCell*>& cells) {
  os << "| cell | verdict | outcome | expected |\n|---|---|---|---|\n";
  for (const MatrixCell* c : cells) {
    const std::string expected = value_text(c->expected());
    os << "| `" << md_escape(c->id) << "` | " << md_escape(c->verdict_name) << " | "
       << md_escape(cell_display(*c->cell)) << " | " << (expected.empty() ? "—" : md_escape(expected)) << " |\n";
  }
}

std::string render_github(const Matrix& matrix) {
  std::vector<const MatrixCell*> failing, all;
  for (const MatrixCell& c : matrix.cells()) {
    all.push_back(&c);
    if (c.failure()) failing.push_back(&c);
  }
  std::ostringstream os;
  if (failing.empty()) os << "## ✅ trainwreck: no cell failed\n\n";
  else os << "## ❌ trainwreck: " << failing.size() << " of " << all.size() << " cells failed\n\n";
  os << md_escape(count_verdicts(matrix).text()) << ".\n\n";
  if (!failing.empty()) {
    os << "### Failing cells\n\n";
    outcome_table(os, failing);
    os << "\n";
  }
  os << "<details>\n<summary>Every cell (" << all.size() << ")</summary>\n\n";
  outcome_table(os, all);
  os << "\n</details>\n";
  return os.str();
}

}  // namespace

const Reporter& github_reporter() {
  static const MatrixReporter reporter(
      "github", "a GitHub Actions job summary (>> \"$GITHUB_STEP_SUMMARY\"), the failing cells first", render_github);
  return reporter;
}

}  // namespace tw
