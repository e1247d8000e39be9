// The formats other tools read: JUnit XML (CI), CSV (spreadsheets) and the matrix as JSON.
#include <charconv>
#include <cmath>
#include <map>
#include <sstream>
#include <vector>

#include "harness/matrix_records.h"
#include "harness/outcome.h"
#include "harness/report.h"
#include "harness/report_detail.h"
#include "harness/text_util.h"

namespace tw {
using nlohmann::json;
using report_detail::stack_of;
using report_detail::text;

namespace {

// JUnit readers (Surefire's schema, GitLab, the GitHub reporters) take plain decimals only.
std::string junit_time(double seconds) {
  if (!(seconds > 0) || !std::isfinite(seconds)) return "0.000";
  std::ostringstream os;
  os.setf(std::ios::fixed);
  os.precision(3);
  os << seconds;
  return os.str();
}

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\r\n") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

// A number as it is, to the last digit that tells it apart (the shortest text that reads back
// as the same double); anything else as text().
std::string exact(const json& v) {
  if (!v.is_number_float()) return text(v);
  const double d = v.get<double>();
  char buf[64];
  const auto r = std::to_chars(buf, buf + sizeof buf, d);
  return r.ec == std::errc() ? std::string(buf, r.ptr) : text(v);
}

// "20240611 diverged, 20240612 stalled": each seed's outcome, for failure messages.
std::string per_seed_outcomes(const json& cell) {
  auto it = cell.find("seeds");
  if (it == cell.end() || !it->is_object()) return "";
  const json values = it->value("values", json::array()), outcomes = it->value("outcomes", json::array());
  std::string out;
  for (std::size_t i = 0; i < values.size() && i < outcomes.size(); ++i)
    out += (out.empty() ? "" : ", ") + text(values[i]) + " " + text(outcomes[i]);
  return out;
}

std::string reason_of(const json& cell) {
  const json& ev = evidence_of(cell);
  return ev.contains("reason") ? " (" + text(ev["reason"]) + ")" : "";
}

// One cell as a JUnit testcase: a failure, a skipped cell (not run), or a pass; its evidence,
// seeds and last output in system-out.
void junit_testcase(std::ostream& os, const std::string& suite, const MatrixCell& c) {
  const json& ev = c.evidence();
  const json& cell = *c.cell;
  os << "    <testcase classname=\"" << xml_escape(suite) << "\" name=\""
     << xml_escape(mitigation_display(cell) + " [" + c.device + "]") << "\" time=\""
     << junit_time(ev.value("wall_seconds", 0.0)) << "\">\n";
  const std::string seeds = per_seed_outcomes(cell);
  std::string detail = "outcome " + c.outcome_name + ", expected " + text(c.expected()) +
                       "\nevidence: " + ev.dump(-1, ' ', false, json::error_handler_t::replace);
  if (!seeds.empty()) detail += "\nseeds: " + seeds;
  if (c.failure()) {
    std::string message = cell_display(cell) + " (expected " + text(c.expected()) + ")";
    if (!seeds.empty()) message += "; seeds: " + seeds;
    os << "      <failure type=\"" << xml_escape(c.verdict_name) << "\" message=\"" << xml_escape(valid_utf8(message))
       << "\">" << xml_escape(valid_utf8(detail)) << "</failure>\n";
  } else if (c.not_run()) {
    os << "      <skipped message=\"" << xml_escape(valid_utf8("not run: " + cell_display(cell) + reason_of(cell)))
       << "\"/>\n";
  }
  std::string out = detail;
  if (c.is(Verdict::kUnpinned) && !c.not_run())
    out = "unpinned: no expectation pinned; observed " + cell_display(cell) + "\n" + out;
  const std::string tail = cell.value("log_tail", "");
  if (!tail.empty()) out += "\n--- last output of the cell ---\n" + tail;
  os << "      <system-out>" << xml_escape(valid_utf8(out)) << "</system-out>\n";
  os << "    </testcase>\n";
}

// One scenario's cells as a JUnit testsuite.
void junit_suite(std::ostream& os, const std::string& name, const std::vector<const MatrixCell*>& cells,
                 const std::string& timestamp) {
  int failures = 0, skipped = 0;
  double time = 0;
  for (const MatrixCell* c : cells) {
    failures += c->failure() ? 1 : 0;
    // A cell the machine could not run (it lacks a GPU, a second GPU, ...): JUnit's "skipped".
    skipped += !c->failure() && c->not_run() ? 1 : 0;
    time += c->evidence().value("wall_seconds", 0.0);
  }
  os << "  <testsuite name=\"" << xml_escape(name) << "\" tests=\"" << cells.size() << "\" failures=\"" << failures
     << "\" errors=\"0\" skipped=\"" << skipped << "\" time=\"" << junit_time(time) << "\"";
  if (!timestamp.empty()) os << " timestamp=\"" << xml_escape(timestamp) << "\"";
  os << ">\n";
  // A cell that ran without a pinned expectation passes (it is not a failure, and it ran), and
  // says so twice: a suite property per such cell, and the first line of its system-out.
  std::string properties;
  for (const MatrixCell* c : cells)
    if (c->is(Verdict::kUnpinned) && !c->not_run())
      properties +=
          "      <property name=\"unpinned\" value=\"" +
          xml_escape(valid_utf8(mitigation_display(*c->cell) + " [" + c->device + "]: " + cell_display(*c->cell))) +
          "\"/>\n";
  if (!properties.empty()) os << "    <properties>\n" << properties << "    </properties>\n";
  for (const MatrixCell* c : cells) junit_testcase(os, name, *c);
  os << "  </testsuite>\n";
}

}  // namespace

std::string render_junit(const Matrix& matrix) {
  std::ostringstream os;
  std::map<std::string, std::vector<const MatrixCell*>> suites;
  std::vector<std::string> order;
  double total_time = 0;
  for (const MatrixCell& c : matrix.cells()) {
    if (!suites.count(c.scenario)) order.push_back(c.scenario);
    total_time += c.evidence().value("wall_seconds", 0.0);
    suites[c.scenario].push_back(&c);
  }
  const json& ctx = matrix.context();
  const std::string timestamp = ctx.contains("started_at") ? text(ctx["started_at"]) : "";
  // The root carries no "skipped": Surefire's schema, which Jenkins validates against, has none there.
  os << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  os << "<testsuites name=\"trainwreck\" tests=\"" << count_verdicts(matrix).total << "\" failures=\""
     << count_failures(matrix) << "\" errors=\"0\" time=\"" << junit_time(total_time) << "\">\n";
  for (const auto& name : order) junit_suite(os, name, suites[name], timestamp);
  os << "</testsuites>\n";
  return os.str();
}

std::string render_csv(const Matrix& matrix) {
  std::ostringstream os;
  os << "id,scenario,fault,mitigation,device,outcome,expected,verdict,summary,symptom_step,detected_step,"
        "reached_step,final_loss,final_eval_loss,peak_mem_bytes,mem_growth_bytes_per_step,wall_seconds,stack,seeds,"
        "article_row,train_seconds,step_seconds_median,peak_alloc_bytes,peak_reserved_bytes,mem_growth_bytes\n";
  for (const MatrixCell& r : matrix.cells()) {
    const json& c = *r.cell;
    const json& ev = r.evidence();
    // Numbers exactly as the matrix holds them: a spreadsheet or a script gets no rounded value.
    auto field = [&](const char* k) { return ev.contains(k) ? csv_field(exact(ev[k])) : std::string(); };
    os << csv_field(r.id) << "," << csv_field(r.scenario) << "," << csv_field(r.fault) << "," << csv_field(r.mitigation)
       << "," << csv_field(r.device) << "," << csv_field(r.outcome_name) << "," << csv_field(text(r.expected())) << ","
       << csv_field(c.value("verdict", "")) << "," << csv_field(cell_summary(c)) << "," << field("symptom_step") << ","
       << field("detected_step") << "," << field("reached_step") << "," << field("final_loss") << ","
       << field("final_eval_loss") << "," << field("peak_mem_bytes") << "," << field("mem_growth_bytes_per_step") << ","
       << field("wall_seconds") << "," << csv_field(stack_of(c)) << "," << csv_field(seeds_text(c)) << ","
       << csv_field(scenario_info(matrix.raw(), r.scenario).value("article_row", ""));
    // Added later, at the end so that the earlier columns keep their places.
    for (const char* k :
         {"train_seconds", "step_seconds_median", "peak_alloc_bytes", "peak_reserved_bytes", "mem_growth_bytes"})
      os << "," << field(k);
    os << "\n";
  }
  return os.str();
}

std::string render_json(const Matrix& matrix) {
  return matrix.raw().dump(1, ' ', false, json::error_handler_t::replace) + "\n";
}

}  // namespace tw