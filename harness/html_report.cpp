#include "harness/html_report.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <sstream>

#include "harness/chart.h"
#include "harness/diff.h"
#include "harness/figures.h"
#include "harness/html_assets.h"
#include "harness/json_util.h"
#include "harness/matrix_records.h"
#include "harness/outcome.h"
#include "harness/report.h"
#include "harness/text_util.h"

namespace tw {
using nlohmann::json;

namespace {

const std::vector<std::pair<std::string, std::string>>& outcome_legend() {
  static const std::vector<std::pair<std::string, std::string>> l = {
      {"healthy", "median eval loss of the run's last quarter at or under the target"},
      {"diverged", "non-finite loss or weights, or a loss 10x the first that never recovered"},
      {"slow", "not at the target at the end, the eval loss still falling"},
      {"stalled", "not at the target at the end, the eval loss no longer falling"},
      {"detected", "a guard stopped the run with a diagnosis"},
      {"oom", "out of memory"},
      {"leak", "memory grew without bound"},
      {"hang", "killed by the watchdog"},
      {"crash", "killed by a signal"},
      {"error", "an exception, or an exit without a result"},
      {"unsupported", "the machine lacks a requirement"},
  };
  return l;
}

// Evidence values as a reader wants them: byte counts also in MiB.
std::string evidence_text(const std::string& key, const json& v) {
  const bool bytes = key.find("_bytes") != std::string::npos;
  if (bytes && v.is_number() && std::fabs(v.get<double>()) >= 1024 * 1024)
    return show(v) + " (" + in_mib(v.get<double>(), 4) + " MiB)";
  return show(v);
}

// A class name from an outcome; an unknown word maps to a fixed name, never to input text.
std::string outcome_class(std::optional<Outcome> outcome) {
  return std::string("o-") + to_string(outcome.value_or(Outcome::kError));
}

// An unknown verdict word is drawn as a failure, as is_failure counts it.
std::string verdict_class(std::optional<Verdict> verdict) {
  return std::string("v-") + to_string(verdict.value_or(Verdict::kUnexpected));
}

// The leaves of an object as rows of a key-value table, byte counts also in MiB.
void add_rows(const json& v, const std::string& prefix, std::vector<std::pair<std::string, std::string>>& rows) {
  for (const auto& [key, leaf] : flatten(v, prefix)) rows.emplace_back(key, evidence_text(key, leaf));
}

std::string kv_table(const std::vector<std::pair<std::string, std::string>>& rows, const std::string& cls = "kv") {
  std::ostringstream os;
  os << "<table class=\"" << cls << "\">";
  for (const auto& [k, v] : rows) os << "<tr><th>" << html_escape(k) << "</th><td>" << html_escape(v) << "</td></tr>";
  os << "</table>";
  return os.str();
}

// Every seed of a multi-seed cell: its outcome and key evidence, one row each.
std::string seeds_table(const json& cell) {
  const json& seeds = member(cell, "seeds");
  if (!seeds.is_object()) return "";
  const json& values = member(seeds, "values");
  const json& outcomes = member(seeds, "outcomes");
  const json& evidence = member(seeds, "evidence");
  if (!values.is_array() || !outcomes.is_array()) return "";
  std::vector<std::string> keys;
  for (const char* k : {"symptom_step", "detected_step", "reached_step", "final_loss", "final_eval_loss",
                        "peak_mem_bytes", "steps", "message"})
    if (evidence.is_array())
      for (const auto& e : evidence)
        if (e.is_object() && e.contains(k) && std::find(keys.begin(), keys.end(), k) == keys.end()) keys.push_back(k);
  std::ostringstream os;
  os << "<h3>Seeds: " << html_escape(seeds_text(cell))
     << "</h3><table class=\"seeds\"><tr><th>seed</th><th>outcome</th>";
  for (const auto& k : keys) os << "<th>" << html_escape(k) << "</th>";
  os << "</tr>";
  for (std::size_t i = 0; i < values.size() && i < outcomes.size(); ++i) {
    const std::string outcome = show(outcomes[i]);
    os << "<tr><td>" << html_escape(show(values[i])) << "</td><td><span class=\"badge "
       << outcome_class(outcome_of(outcomes[i])) << "\">" << html_escape(outcome) << "</span></td>";
    const json& ev = evidence.is_array() && i < evidence.size() ? evidence[i] : json();
    for (const auto& k : keys)
      os << "<td>" << html_escape(ev.is_object() && ev.contains(k) ? evidence_text(k, ev[k]) : "") << "</td>";
    os << "</tr>";
  }
  os << "</table>";
  return os.str();
}

// The failing verdicts among some cells, worst first: "unexpected" (an unknown verdict counts as
// one), then "seed-dependent", then "flaky"; each once.
std::vector<Verdict> failure_kinds(const Matrix& matrix, const std::vector<std::size_t>& which) {
  std::vector<Verdict> out;
  for (const Verdict kind : {Verdict::kUnexpected, Verdict::kSeedDependent, Verdict::kFlaky})
    for (const std::size_t i : which) {
      const MatrixCell& c = matrix.cells()[i];
      if (c.failure() && c.verdict.value_or(Verdict::kUnexpected) == kind) {
        out.push_back(kind);
        break;
      }
    }
  return out;
}

std::string charts_for(const json& cell) {
  const json& series = member(cell, "series");
  const json& ev = member(cell, "evidence");
  if (!series.is_object() || series.empty())
    return "<p class=\"nodata\">No per-step curves: the cell reported no steps.</p>";
  std::vector<std::pair<double, std::string>> markers;
  double v = 0;
  if (finite_number(member(ev, "symptom_step"), v)) markers.push_back({v, "symptom"});
  if (finite_number(member(ev, "detected_step"), v)) markers.push_back({v, "detected"});
  if (finite_number(member(ev, "reached_step"), v)) markers.push_back({v, "target"});
  const json& steps = member(series, "step");
  std::ostringstream os;
  os << "<div class=\"charts\">";
  if (series.contains("loss")) os << svg_line_chart("loss", steps, {{"loss", series["loss"]}}, markers);
  std::vector<std::pair<std::string, json>> grads;
  if (series.contains("grad_first")) grads.push_back({"first layer", series["grad_first"]});
  if (series.contains("grad_last")) grads.push_back({"last layer", series["grad_last"]});
  if (grads.empty() && series.contains("grad_norm")) grads.push_back({"global", series["grad_norm"]});
  if (!grads.empty()) os << svg_line_chart("gradient norm", steps, grads, markers);
  if (series.contains("mem"))
    os << svg_line_chart("memory", steps, {{"allocated", series["mem"]}}, markers, 1.0 / (1024.0 * 1024.0), " MiB");
  os << "</div>";
  return os.str();
}

// A cell's own panel: its curves, evidence, seeds and the last output of its process.
std::string cell_panel(const MatrixCell& cell, std::size_t i) {
  std::ostringstream os;
  const json& c = *cell.cell;
  const std::string& outcome = cell.outcome_name;
  const std::string& verdict = cell.verdict_name;
  os << "<details class=\"cellpanel " << verdict_class(cell.verdict) << "\" id=\"c" << i
     << "\"><summary><span class=\"badge " << outcome_class(cell.outcome) << "\">" << html_escape(outcome)
     << "</span> <b>" << html_escape(cell.id) << "</b> &#8212; " << html_escape(cell_display(c))
     << " <span class=\"muted\">(" << html_escape(verdict);
  if (!cell.expected().is_null() && !cell.is(Verdict::kPass))
    os << ", expected " << html_escape(show(member(c, "expected")));
  os << ")</span></summary><div class=\"body\">" << charts_for(c);
  std::vector<std::pair<std::string, std::string>> rows = {{"fault", cell.fault}};
  if (c.contains("mitigation_name")) rows.push_back({"mitigation", show(c["mitigation_name"])});
  if (member(c, "stack").is_array()) {
    std::string members;
    for (const auto& m : c["stack"]) members += (members.empty() ? "" : " + ") + show(m);
    rows.push_back({"stack", members + " (applied in this order)"});
  }
  rows.push_back({"expected", member(c, "expected").is_null() ? "(not pinned)" : show(member(c, "expected"))});
  add_rows(member(c, "evidence"), "", rows);
  if (c.contains("repeat")) add_rows(c["repeat"], "repeat", rows);
  os << kv_table(rows) << seeds_table(c);
  const std::string tail = c.value("log_tail", "");
  if (!tail.empty()) os << "<h3>Last output</h3><pre>" << html_escape(tail) << "</pre>";
  os << "</div></details>\n";
  return os.str();
}

}  // namespace

std::string html_escape(const std::string& s) {
  // The figures are also standalone .svg files: XML, so valid UTF-8 and no forbidden control
  // character (each becomes U+FFFD, as a browser shows a NUL).
  return escape_markup(valid_utf8(s), "&#39;", "\xEF\xBF\xBD");
}

namespace {

// The page up to its header: title, totals, when and where the run ran, the jump links.
std::string page_header(const Matrix& matrix, bool with_diff) {
  const json& ctx = matrix.context();
  const VerdictCounts n = count_verdicts(matrix);
  std::ostringstream os;
  os << "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
     << "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
     << "<script>window.addEventListener('error', function (e) {"
        " document.documentElement.setAttribute('data-script-error', String(e.message)); });</script>\n"
     << "<title>trainwreck: " << n.total << " cells, " << n.unexpected << " unexpected</title>\n"
     << "<style>" << kHtmlStyle << "</style>\n</head>\n<body>\n";

  os << "<header><h1>trainwreck matrix</h1><p class=\"totals\"><span><b>" << n.total << "</b> cells</span><span><b>"
     << n.pass << "</b> as expected</span><span><b>" << n.unexpected << "</b> unexpected</span><span><b>" << n.unpinned
     << "</b> unpinned</span>";
  if (n.flaky > 0) os << "<span><b>" << n.flaky << "</b> flaky</span>";
  if (n.seed_dependent > 0) os << "<span><b>" << n.seed_dependent << "</b> seed-dependent</span>";
  os << "</p><p class=\"muted\">";
  if (member(ctx, "started_at").is_string()) os << "Run started " << html_escape(show(ctx["started_at"]));
  if (member(ctx, "finished_at").is_string()) os << ", finished " << html_escape(show(ctx["finished_at"]));
  if (member(ctx, "shard").is_string()) os << "; shard " << html_escape(show(ctx["shard"]));
  if (member(ctx, "merged_from").is_array()) os << "; merged from " << ctx["merged_from"].size() << " shard result(s)";
  {
    std::string env;
    const json& probe = member(ctx, "probe");
    const json& host = member(ctx, "host");
    if (member(probe, "libtorch").is_string()) env += "LibTorch " + show(probe["libtorch"]);
    if (member(host, "compiler").is_string()) env += (env.empty() ? "" : ", ") + show(host["compiler"]);
    if (member(ctx, "seeds").is_array() && ctx["seeds"].size() > 1)
      env += (env.empty() ? "" : ", ") + std::to_string(ctx["seeds"].size()) + " seeds (" + show(ctx["seeds"].front()) +
             " to " + show(ctx["seeds"].back()) + ")";
    if (!env.empty()) os << ". " << html_escape(env);
  }
  os << "</p><nav class=\"jump\"><a href=\"#overview\">Overview</a><a href=\"#scenarios\">Scenarios</a>"
     << (with_diff ? "<a href=\"#diff\">Changes</a>" : "") << "<a href=\"#context\">Context</a></nav></header>\n";

  return os.str();
}

// What changed against the baseline: another host first, the tiers, the context, the cells.
std::string diff_section(const json& diff) {
  std::ostringstream os;
  const json& s = diff["summary"];
  os << "<section id=\"diff\"><h2>Changes against the baseline</h2>";
  // Another host first, as the text and Markdown diffs have it: the numbers may differ for that alone.
  if (member(member(diff, "host_changed"), "changed") == true) {
    os << "<div class=\"host-warning\"><p><b>" << html_escape(host_warning_heading(diff)) << "</b></p><ul>";
    for (const auto& line : host_lines(diff)) os << "<li>" << html_escape(line) << "</li>";
    os << "</ul></div>";
  }
  if (const std::string n = noise_host_note(diff); !n.empty())
    os << "<div class=\"host-warning\"><p><b>" << html_escape(n) << "</b></p></div>";
  if (const std::string u = unknown_host_note(diff); !u.empty())
    os << "<p class=\"muted\">" << html_escape(u) << "</p>";
  os << "<p>" << html_escape(show(diff["a"])) << " &#8594; " << html_escape(show(diff["b"])) << ": <b>"
     << s["outcome_changed"] << "</b> outcome(s) changed, " << s["evidence_changed"] << " with changed evidence only, "
     << s["compared"] << " cells compared; " << s["only_a"] << " only in the baseline, " << s["only_b"]
     << " only in this run.</p>";
  if (diff.contains("per_cell")) {
    os << "<h3>Tiers</h3><table class=\"diff\">";
    for (const auto& [tier, text] : tier_lines(diff))
      os << "<tr><th>" << html_escape(tier) << "</th><td>" << html_escape(text) << "</td></tr>";
    os << "</table>";
  }
  if (!diff["context"].empty()) {
    os << "<h3>Context</h3><table class=\"diff\"><tr><th></th><th>baseline</th><th>this run</th></tr>";
    for (const auto& c : diff["context"])
      os << "<tr><th>" << html_escape(show(c["label"])) << "</th><td>" << html_escape(show(c["a"])) << "</td><td>"
         << html_escape(show(c["b"])) << "</td></tr>";
    os << "</table>";
  }
  if (!diff["cells"].empty()) {
    os << "<h3>Cells</h3><table class=\"diff\"><tr><th>cell</th><th>baseline</th><th>this "
          "run</th><th>changes</th></tr>";
    for (const auto& c : diff["cells"]) {
      std::string changes;
      for (const auto& ch : c["changes"])
        if (ch.value("field", "") != "outcome") changes += (changes.empty() ? "" : "; ") + describe_change(ch);
      os << "<tr class=\"" << (c.value("outcome_changed", false) ? "outcome-changed" : "") << "\"><td>"
         << html_escape(show(c["id"])) << "</td><td>" << html_escape(show(c["a_summary"])) << "</td><td>"
         << html_escape(show(c["b_summary"])) << "</td><td>" << html_escape(changes) << "</td></tr>";
    }
    os << "</table>";
  }
  for (const auto& [key, what] :
       {std::pair<const char*, const char*>{"only_a", "Only in the baseline"}, {"only_b", "Only in this run"}}) {
    if (diff[key].empty()) continue;
    os << "<h3>" << what << "</h3><ul>";
    for (const auto& id : diff[key]) os << "<li>" << html_escape(show(id)) << "</li>";
    os << "</ul>";
  }
  os << "</section>\n";
  return os.str();
}

// A cell as a chip of the overview, in the column that says how it reads against the fault.
std::string chip(const Matrix& matrix, std::size_t i, const std::map<std::string, const json*>& changed) {
  const MatrixCell& cell = matrix.cells()[i];
  const json& c = *cell.cell;
  const std::string& verdict = cell.verdict_name;
  const RemedyRole role = remedy_role(cell);
  std::ostringstream os;
  std::string title = cell.id + ": " + cell_display(c) + " (" + verdict;
  if (cell.is(Verdict::kUnexpected)) title += ", expected " + show(cell.expected());
  title += ")";
  if (member(c, "stack").is_array()) title += "; " + mitigation_display(c);
  os << "<a class=\"chip " << outcome_class(cell.outcome) << " " << verdict_class(cell.verdict) << "\" href=\"#c" << i
     << "\" title=\"" << html_escape(title) << "\">";
  if (role == RemedyRole::kFault) {
    os << html_escape(outcome_short(c));
  } else {
    const std::string key = outcome_short(c);
    const std::string& outcome = cell.outcome_name;
    // Healed and caught say their outcome by the column; the key number and seeds remain.
    std::string small = key;
    if ((role == RemedyRole::kHealed || role == RemedyRole::kCaught) && small.rfind(outcome, 0) == 0)
      small = small.substr(outcome.size());
    if (!small.empty() && small[0] == ' ') small = small.substr(1);
    os << html_escape(cell.mitigation) << (small.empty() ? "" : " <small>" + html_escape(small) + "</small>");
  }
  if (cell.is(Verdict::kUnexpected))
    os << " <b class=\"mark\">&#10007; expected " << html_escape(show(cell.expected())) << "</b>";
  else if (cell.is(Verdict::kSeedDependent) || cell.is(Verdict::kFlaky))
    os << " <b class=\"mark\">&#10007; " << verdict << "</b>";
  auto ch = changed.find(cell.id);
  if (ch != changed.end()) {
    const json& d = *ch->second;
    os << " <b class=\"changed\">&#916; "
       << html_escape(d.value("outcome_changed", false) ? "was " + show(d["a_summary"]) : std::string("evidence"))
       << "</b>";
  }
  os << "</a>";
  return os.str();
}

std::string block_id(const ScenarioBlock& b) {
  const std::string f = figure_file_name(b.scenario, b.device);
  return "s-" + f.substr(0, f.size() - 4);
}

using Layout = std::vector<std::pair<std::string, std::vector<ArticleRow>>>;

// The overview: per device, one line per scenario, grouped by the article's rows; each remedy
// is a chip in the column that says how it reads against the fault.
std::string overview_section(const Matrix& matrix, const Layout& layout,
                             const std::map<std::string, const json*>& changed) {
  const json& ctx = matrix.context();
  std::ostringstream os;
  os << "<section id=\"overview\">";
  if (matrix.cells().empty()) os << "<p class=\"nodata\">This matrix has no cells.</p>";
  for (const auto& [device, rows] : layout) {
    os << "<h2>" << html_escape(device_title(device, ctx)) << "</h2>\n<table class=\"overview\" data-device=\""
       << html_escape(device) << "\"><colgroup><col class=\"c-row\"><col class=\"c-scenario\"><col class=\"c-fault\">"
       << "<col class=\"c-healed\"><col class=\"c-caught\"><col class=\"c-other\"></colgroup><thead><tr><th>article "
          "row</th>"
       << "<th>scenario</th><th>none (the fault)</th><th>healed</th><th>caught</th><th>not enough</th></tr></thead>\n";
    for (const auto& row : rows) {
      os << "<tbody>";
      bool first = true;
      for (const auto& b : row.scenarios) {
        std::map<RemedyRole, std::string> column;
        for (const std::size_t i : b.cells) column[remedy_role(matrix.cells()[i])] += chip(matrix, i, changed);
        os << "<tr>";
        if (first)
          os << "<th scope=\"rowgroup\" rowspan=\"" << row.scenarios.size() << "\" class=\"article\">"
             << html_escape(article_row_title(row.name)) << "</th>";
        first = false;
        os << "<th scope=\"row\" class=\"scenario\"><a href=\"#" << html_escape(block_id(b)) << "\">"
           << html_escape(b.scenario) << "</a>";
        if (b.fault != b.scenario) os << "<small>" << html_escape(b.fault) << "</small>";
        os << "</th>";
        for (const RemedyRole role :
             {RemedyRole::kFault, RemedyRole::kHealed, RemedyRole::kCaught, RemedyRole::kNotEnough})
          os << "<td>" << (column.count(role) ? column[role] : "<span class=\"none\">&#8212;</span>") << "</td>";
        os << "</tr>\n";
      }
      os << "</tbody>\n";
    }
    os << "</table>\n";
  }
  os << "<p class=\"muted\">Each chip is one cell: the remedy, the key number of its first seed and how many seeds "
        "agreed; it opens the scenario with the cell. A red frame marks an outcome that differs from the pinned "
        "expectation, an orange one seeds or repeats that disagree, a dashed one a cell with no expectation "
        "pinned.</p></section>\n";

  return os.str();
}

std::string outcomes_section() {
  std::ostringstream os;
  os << "<section class=\"legend\"><h2>Outcomes</h2><p>";
  for (const auto& [name, what] : outcome_legend())
    os << "<span class=\"badge o-" << name << "\">" << name << "</span>" << html_escape(what) << ". ";
  os << "</p><p class=\"muted\">The key number: <code>diverged@k</code> non-finite (or blown-up) loss at step k, "
        "<code>healthy@k</code> target held from step k, <code>detected@k (+n)</code> a guard stopped the run n "
        "steps after the symptom.</p></section>\n";
  return os.str();
}

// One scenario on one device, closed; opened, the description, the figure of every remedy's
// loss, a line per remedy, and every cell's own curves and evidence.
std::string scenario_block(const Matrix& matrix, const ScenarioBlock& b) {
  std::ostringstream os;
  std::map<RemedyRole, int> counts;
  for (const std::size_t i : b.cells) ++counts[remedy_role(matrix.cells()[i])];
  const std::vector<Verdict> failures = failure_kinds(matrix, b.cells);
  os << "<details class=\"scenario";
  if (!failures.empty()) os << " " << verdict_class(failures.front());
  os << "\" id=\"" << html_escape(block_id(b)) << "\"><summary><b>" << html_escape(b.scenario)
     << "</b> <span class=\"muted\">" << html_escape(b.device) << " &#183; fault " << html_escape(b.fault);
  if (!b.fault_summary.empty()) os << ": " << html_escape(b.fault_summary);
  os << "</span><span class=\"counts\">";
  for (const RemedyRole role : {RemedyRole::kHealed, RemedyRole::kCaught, RemedyRole::kNotEnough})
    if (counts.count(role)) os << "<span>" << counts[role] << " " << to_string(role) << "</span>";
  for (const auto& v : failures)
    os << "<span class=\"mark " << verdict_class(v) << "\">&#10007; " << html_escape(to_string(v)) << "</span>";
  os << "</span></summary><div class=\"body\">";
  if (!b.description.empty()) os << "<p class=\"desc\">" << html_escape(b.description) << "</p>";
  os << "<div class=\"scenario-main\"><div class=\"figure-box\">"
     << svg_scenario_figure(matrix, b.cells, b.scenario + " on " + b.device + ": every remedy")
     << "</div><table class=\"remedies\"><thead><tr><th>remedy</th><th>reads</th><th>outcome</th><th>seeds</th>"
     << "<th>verdict</th></tr></thead><tbody>";
  for (const std::size_t i : b.cells) {
    const MatrixCell& cell = matrix.cells()[i];
    const json& c = *cell.cell;
    std::string seeds = seeds_text(c);
    const std::string keys = per_seed_keys(c);
    if (!keys.empty()) seeds = (seeds_disagree(c) ? "" : seed_count(c) + ": ") + keys;
    os << "<tr class=\"" << verdict_class(cell.verdict) << "\"><td><a href=\"#c" << i << "\">"
       << html_escape(mitigation_display(c)) << "</a></td><td>" << html_escape(to_string(remedy_role(cell)))
       << "</td><td><span class=\"badge " << outcome_class(cell.outcome) << "\">" << html_escape(cell_summary(c))
       << "</span></td><td>" << html_escape(seeds) << "</td><td>" << html_escape(cell.verdict_name);
    if (cell.is(Verdict::kUnexpected)) os << " (expected " << html_escape(show(cell.expected())) << ")";
    os << "</td></tr>";
  }
  os << "</tbody></table></div><h4>Cells</h4>";
  for (const std::size_t i : b.cells) os << cell_panel(matrix.cells()[i], i);
  os << "</div></details>\n";
  return os.str();
}

std::string scenarios_section(const Matrix& matrix, const Layout& layout) {
  const json& ctx = matrix.context();
  std::ostringstream os;
  os << "<section id=\"scenarios\"><h2>Scenarios</h2><p><button id=\"toggle-all\" type=\"button\" hidden>Expand all "
        "scenarios</button> <span class=\"muted\">Figures: the training loss of every remedy on a log scale (first "
        "seed thick, other seeds thin); &#9675; where the symptom appeared, &#9670; where a guard stopped the run, "
        "&#215; a loss that is not finite.</span></p>\n";
  for (const auto& [device, rows] : layout) {
    if (layout.size() > 1) os << "<h2 class=\"device\">" << html_escape(device_title(device, ctx)) << "</h2>\n";
    for (const auto& row : rows) {
      os << "<h3>" << html_escape(article_row_title(row.name)) << "</h3>\n";
      for (const auto& b : row.scenarios) os << scenario_block(matrix, b);
    }
  }
  os << "</section>\n";
  return os.str();
}

}  // namespace

std::string render_html(const Matrix& matrix, const json& diff) {
  const json& ctx = matrix.context();
  const bool with_diff = diff.is_object() && diff.contains("summary");
  std::map<std::string, const json*> changed;
  if (with_diff)
    for (const auto& c : diff["cells"]) changed[c.value("id", "")] = &c;
  Layout layout;
  for (const auto& device : matrix.devices()) layout.push_back({device, article_rows(matrix, device)});
  std::ostringstream os;
  os << page_header(matrix, with_diff);
  if (with_diff) os << diff_section(diff);
  os << overview_section(matrix, layout, changed) << outcomes_section() << scenarios_section(matrix, layout);
  std::vector<std::pair<std::string, std::string>> ctx_rows;
  add_rows(ctx, "", ctx_rows);
  os << "<section id=\"context\"><h2>Context</h2>" << kv_table(ctx_rows) << "</section>\n";
  os << "<script>" << kHtmlScript << "</script>\n</body>\n</html>\n";
  return os.str();
}

}  // namespace tw
