// The matrix for a terminal (report --format text) and the last lines of run.
#include <algorithm>
#include <sstream>

#include "harness/matrix_records.h"
#include "harness/outcome.h"
#include "harness/report.h"
#include "harness/report_detail.h"

namespace tw {
using nlohmann::json;
using report_detail::text;

std::string render_console(const Matrix& matrix, bool color) {
  std::ostringstream os;
  const char* red = color ? "\033[31m" : "";
  const char* green = color ? "\033[32m" : "";
  const char* yellow = color ? "\033[33m" : "";
  const char* reset = color ? "\033[0m" : "";
  std::string scenario, device;
  for (const MatrixCell& cell : matrix.cells()) {
    if (cell.scenario != scenario || cell.device != device) {
      scenario = cell.scenario;
      device = cell.device;
      os << "\n" << scenario << " [" << device << "]  fault: " << cell.fault << "\n";
    }
    const std::string& verdict = cell.verdict_name;
    const char* col = cell.is(Verdict::kPass) ? green : cell.is(Verdict::kUnpinned) ? yellow : red;
    std::string summary = cell_display(*cell.cell);
    std::string mitigation = mitigation_display(*cell.cell);
    // Columns, with at least one space after a long stack name or seed count.
    mitigation.resize(std::max<std::size_t>(mitigation.size() + 1, 26), ' ');
    summary.resize(std::max<std::size_t>(summary.size() + 1, 30), ' ');
    os << "  " << mitigation << summary << col << verdict << reset;
    if (cell.is(Verdict::kUnexpected)) os << " (expected " << text(cell.expected()) << ")";
    os << "\n";
  }
  os << "\n" << count_verdicts(matrix).text() << "\n";
  return os.str();
}

std::string render_run_footer(const Matrix& matrix, const std::string& dir, bool color) {
  std::ostringstream os;
  const char* red = color ? "\033[31m" : "";
  const char* reset = color ? "\033[0m" : "";
  const std::string at = dir.empty() || dir.back() == '/' ? dir : dir + "/";
  os << "\nresults: " << at << "matrix.md, " << at << "report.html (figures in " << at << "figures/)\n";
  for (const MatrixCell& c : matrix.cells()) {
    if (!c.failure()) continue;
    std::string line = c.id + ": " + cell_display(*c.cell);
    if (c.is(Verdict::kUnexpected)) line += ", expected " + text(c.expected());
    os << red << c.verdict_name << reset << "  " << line << "\n";
  }
  return os.str();
}

}  // namespace tw
