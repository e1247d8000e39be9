#include "harness/html_report.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <sstream>

#include "harness/diff.h"
#include "harness/figures.h"
#include "harness/json_util.h"
#include "harness/matrix_records.h"
#include "harness/outcome.h"
#include "harness/report.h"
#include "harness/text_util.h"

namespace tw {
using nlohmann::json;

namespace {

const char* kStyle = R"css(
:root{--fg:#1f2328;--muted:#59636e;--line:#d0d7de;--bg:#ffffff;--panel:#f6f8fa}
*{box-sizing:border-box}
body{margin:0;padding:24px 32px;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;color:var(--fg);background:var(--bg)}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px}h3{font-size:15px;margin:18px 0 6px}
.muted{color:var(--muted)}
.totals span{display:inline-block;margin-right:14px}
table{border-collapse:collapse}
nav.jump a{margin-right:14px}
table.overview{width:100%;table-layout:fixed;margin:4px 0 8px}
table.overview col.c-row{width:105px}table.overview col.c-scenario{width:225px}table.overview col.c-fault{width:135px}
table.overview col.c-healed{width:26%}table.overview col.c-caught{width:19%}
table.overview th,table.overview td{border:1px solid var(--line);padding:5px 6px;vertical-align:top;text-align:left}
table.overview thead th{background:var(--panel);font-weight:600;font-size:13px}
table.overview tbody{border-top:2px solid #8c959f}
table.overview th.article{background:var(--panel);font-weight:600}
table.overview th.scenario{font-weight:600;overflow-wrap:anywhere}
table.overview th.scenario a{color:inherit}
table.overview th.scenario small{display:block;font-weight:400;color:var(--muted)}
table.overview .none{color:#aab}
a.chip{display:inline-block;margin:0 4px 4px 0;padding:1px 7px;border-radius:10px;font-size:12.5px;font-weight:600;
  text-decoration:none;line-height:1.5;overflow-wrap:anywhere}
a.chip small{font-weight:400;font-size:11.5px}
a.chip:hover{text-decoration:underline}
a.chip.v-unexpected{box-shadow:inset 0 0 0 2px #d1242f}
a.chip.v-flaky,a.chip.v-seed-dependent{box-shadow:inset 0 0 0 2px #bc4c00}
a.chip.v-unpinned{outline:1px dashed #8c959f;outline-offset:-1px}
.mark{color:#d1242f;font-weight:600}.mark.v-flaky,.mark.v-seed-dependent{color:#bc4c00}
details.v-unexpected>summary{box-shadow:inset 0 0 0 3px #d1242f}
details.v-flaky>summary,details.v-seed-dependent>summary{box-shadow:inset 0 0 0 3px #bc4c00}
details.scenario{border:1px solid var(--line);border-radius:6px;margin:6px 0;background:#fff}
details.scenario>summary{cursor:pointer;padding:7px 10px}
details.scenario>summary .counts span{margin-left:12px;font-size:12px;color:var(--muted)}
details.scenario[open]>summary{border-bottom:1px solid var(--line);background:var(--panel)}
details.scenario>.body{padding:10px 12px}
p.desc{max-width:110ch;margin:0 0 10px}
.scenario-main{display:flex;flex-wrap:wrap;gap:16px;align-items:flex-start}
.figure-box svg{max-width:100%;height:auto;border:1px solid var(--line);border-radius:4px}
table.remedies{flex:1 1 380px}
table.remedies td,table.remedies th{border:1px solid var(--line);padding:3px 7px;text-align:left;font-size:13px;vertical-align:top}
table.remedies th{background:var(--panel)}
table.remedies tr.v-unexpected td,table.remedies tr.v-seed-dependent td,table.remedies tr.v-flaky td{background:#fff1f0}
h4{font-size:14px;margin:14px 0 4px}
table.seeds td,table.seeds th{border:1px solid var(--line);padding:3px 8px;text-align:left;font-size:13px}
table.seeds th{background:var(--panel)}
.o-healthy{background:#dafbe1;color:#116329}.o-diverged{background:#ffebe9;color:#a40e26}
.o-stalled{background:#fff8c5;color:#7d4e00}.o-slow{background:#fff1e0;color:#8a4b00}.o-oom{background:#fbefff;color:#6e40c9}
.o-leak{background:#ffeff7;color:#99286e}.o-hang{background:#ddf4ff;color:#0a3069}
.o-crash{background:#ffcecb;color:#82071e}.o-error{background:#fff1e5;color:#953800}
.o-detected{background:#d8f0ff;color:#0550ae}.o-unsupported{background:#f6f8fa;color:#59636e}
.badge{display:inline-block;padding:0 6px;border-radius:10px;font-size:12px;font-weight:600}
.legend .badge{margin:0 4px 4px 0}
.changed{font-size:12px;font-weight:600;color:#9a6700}
details.cellpanel{border:1px solid var(--line);border-radius:6px;margin:6px 0;background:#fff}
details.cellpanel>summary{cursor:pointer;padding:6px 10px;list-style-position:inside}
details.cellpanel[open]>summary{border-bottom:1px solid var(--line);background:var(--panel)}
details.cellpanel .body{padding:10px}
.charts{display:flex;flex-wrap:wrap;gap:12px;margin-bottom:8px}
.charts svg{background:#fff;border:1px solid var(--line);border-radius:4px}
.nodata{color:var(--muted);font-style:italic}
table.kv td,table.kv th{border-bottom:1px solid var(--line);padding:3px 10px 3px 0;text-align:left;vertical-align:top;font-size:13px}
table.kv th{font-weight:600;white-space:nowrap;color:var(--muted)}
table.kv td{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;word-break:break-word}
pre{background:var(--panel);border:1px solid var(--line);border-radius:4px;padding:8px;max-height:260px;overflow:auto;font-size:12px;white-space:pre-wrap;word-break:break-all}
button{font:inherit;padding:3px 10px;border:1px solid var(--line);border-radius:6px;background:var(--panel);cursor:pointer}
table.diff td,table.diff th{border:1px solid var(--line);padding:4px 8px;text-align:left;font-size:13px}
table.diff th{background:var(--panel)}
tr.outcome-changed td{background:#fff1f0}
.host-warning{border:2px solid #d1242f;border-radius:6px;background:#fff1f0;color:#82071e;padding:4px 12px;margin:8px 0}
)css";

// Opens a cell's panel when its matrix entry is followed (and when the page is loaded with
// its #fragment), and marks the page as rendered so headless checks can see the script ran.
const char* kScript = R"js(
(function () {
  // Opens a details element and every one around it (a cell sits inside its scenario).
  function reveal(el) {
    for (var p = el; p; p = p.parentElement) if (p.tagName === 'DETAILS') p.open = true;
  }
  function openTarget() {
    var id = decodeURIComponent(location.hash.slice(1));
    var el = id && document.getElementById(id);
    if (el) { reveal(el); el.scrollIntoView(); }
  }
  window.addEventListener('hashchange', openTarget);
  var links = document.querySelectorAll('a[href^="#"]');
  var chips = 0;
  for (var i = 0; i < links.length; i++) {
    if (links[i].classList.contains('chip')) chips++;
    links[i].addEventListener('click', function () {
      var el = document.getElementById(decodeURIComponent(this.getAttribute('href').slice(1)));
      if (el) reveal(el);
    });
  }
  var toggle = document.getElementById('toggle-all');
  if (toggle) {
    toggle.hidden = false;
    toggle.addEventListener('click', function () {
      var panels = document.querySelectorAll('details.scenario');
      var open = false;
      for (var k = 0; k < panels.length; k++) if (!panels[k].open) open = true;
      for (var k = 0; k < panels.length; k++) panels[k].open = open;
      toggle.textContent = open ? 'Collapse all scenarios' : 'Expand all scenarios';
    });
  }
  openTarget();
  // The page as laid out, for headless checks: its width, and the figures on screen that drew a
  // curve and a legend (a figure in a closed scenario is not laid out).
  var root = document.documentElement, figures = document.querySelectorAll('svg.figure'), drawn = 0, shown = 0;
  for (var f = 0; f < figures.length; f++) {
    var box = figures[f].getBoundingClientRect();
    if (figures[f].closest('details:not([open])') || box.width < 100 || box.height < 100) continue;
    var paths = figures[f].querySelectorAll('g.curves path'), curve = false;
    for (var p = 0; p < paths.length; p++) if (paths[p].getTotalLength() > 0) curve = true;
    var entries = figures[f].querySelectorAll('g.legend-entry'), legend = 0;
    for (var e = 0; e < entries.length; e++) {
      var b = entries[e].getBoundingClientRect();
      if (b.width > 0 && b.height > 0) legend++;
    }
    if (curve && legend > 0) drawn++;
    shown += legend;
  }
  root.setAttribute('data-figures-drawn', String(drawn));
  root.setAttribute('data-legend-entries-drawn', String(shown));
  root.setAttribute('data-page-width', String(root.scrollWidth));
  root.setAttribute('data-report-ready', String(chips));
})();
)js";

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

using Series = std::vector<std::pair<std::string, json>>;

constexpr double kChartW = 340, kChartH = 170, kChartLeft = 58, kChartRight = 10, kChartBottom = 26;
constexpr const char* kChartColors[] = {"#0969da", "#cf222e", "#8250df", "#1a7f37"};

// Where a chart puts its values: x from the steps (else 1, 2, ...), y on a linear or log axis.
struct ChartScale {
  std::vector<double> xs;
  double top = 24, pw = 0, ph = 0;  // several curves: a legend row under the title
  double xmin = 0, xmax = 1, lo = 0, hi = 1;
  bool have = false;     // some finite value
  bool any_bad = false;  // some value that is not finite (not merely missing)
  bool log_axis = false;
  double ty(double y) const { return log_axis ? std::log10(y) : y; }
  double px(double x) const { return kChartLeft + (x - xmin) / (xmax - xmin) * pw; }
  double py(double y) const { return top + (1 - (ty(y) - lo) / (hi - lo)) * ph; }
};

ChartScale chart_scale(const json& steps, const Series& series, double scale) {
  ChartScale sc;
  sc.top = series.size() > 1 ? 36 : 24;
  sc.pw = kChartW - kChartLeft - kChartRight;
  sc.ph = kChartH - sc.top - kChartBottom;
  std::size_t n = 0;
  for (const auto& [name, values] : series)
    if (values.is_array()) n = std::max(n, values.size());
  sc.xs.resize(n);
  for (std::size_t i = 0; i < n; ++i) {
    double x = static_cast<double>(i + 1);
    if (steps.is_array() && i < steps.size()) finite_number(steps[i], x);
    sc.xs[i] = x;
  }
  double ymin = std::numeric_limits<double>::infinity(), ymax = -ymin;
  bool all_positive = true;
  for (const auto& [name, values] : series) {
    if (!values.is_array()) continue;
    for (const auto& v : values) {
      double y = 0;
      if (!finite_number(v, y)) {
        sc.any_bad = sc.any_bad || !v.is_null();
        continue;
      }
      y *= scale;
      ymin = std::min(ymin, y);
      ymax = std::max(ymax, y);
      all_positive = all_positive && y > 0;
    }
  }
  sc.have = std::isfinite(ymin);
  // Curves that fall over orders of magnitude (loss, vanishing gradients) read better on a log axis.
  sc.log_axis = sc.have && all_positive && ymax / ymin >= 100;
  sc.lo = sc.have ? sc.ty(ymin) : 0;
  sc.hi = sc.have ? sc.ty(ymax) : 1;
  if (sc.hi - sc.lo < 1e-12) {
    const double pad = std::max(std::fabs(sc.hi) * 0.1, 1e-9);
    sc.lo -= pad;
    sc.hi += pad;
  }
  sc.xmin = n ? sc.xs.front() : 0;
  sc.xmax = n ? sc.xs.back() : 1;
  for (const double x : sc.xs) {
    sc.xmin = std::min(sc.xmin, x);
    sc.xmax = std::max(sc.xmax, x);
  }
  if (sc.xmax - sc.xmin < 1e-12) {
    sc.xmin -= 1;
    sc.xmax += 1;
  }
  return sc;
}

// The title, the legend row of several curves, the frame, the axis labels and the markers.
void chart_frame(std::ostringstream& os, const std::string& title, const Series& series, const ChartScale& sc,
                 const std::vector<std::pair<double, std::string>>& markers, const std::string& unit) {
  os << "<text x=\"" << kChartLeft << "\" y=\"15\" font-size=\"12\" font-weight=\"600\" fill=\"#1f2328\">"
     << html_escape(title + (sc.log_axis ? " (log scale)" : "")) << "</text>";
  if (series.size() > 1) {
    double lx = kChartLeft;
    for (std::size_t k = 0; k < series.size(); ++k) {
      const std::string& name = series[k].first;
      os << "<rect x=\"" << lx << "\" y=\"23\" width=\"12\" height=\"3\" fill=\"" << kChartColors[k % 4] << "\"/>"
         << "<text x=\"" << lx + 16 << "\" y=\"28\" font-size=\"11\" fill=\"#59636e\">" << html_escape(name)
         << "</text>";
      lx += 6.5 * static_cast<double>(name.size()) + 30;
    }
  }
  os << "<rect x=\"" << kChartLeft << "\" y=\"" << sc.top << "\" width=\"" << sc.pw << "\" height=\"" << sc.ph
     << "\" fill=\"none\" stroke=\"#d0d7de\"/>";
  if (!sc.have) {
    os << "<text x=\"" << kChartLeft + sc.pw / 2 << "\" y=\"" << sc.top + sc.ph / 2
       << "\" font-size=\"12\" text-anchor=\"middle\" fill=\"" << (sc.any_bad ? "#cf222e" : "#59636e") << "\">"
       << (sc.any_bad ? "no finite value" : "no data") << "</text>";
  } else {
    for (int k = 0; k <= 2; ++k) {
      const double t = sc.lo + (sc.hi - sc.lo) * k / 2.0;
      const double y = sc.top + (1 - k / 2.0) * sc.ph;
      if (k == 1)
        os << "<line x1=\"" << kChartLeft << "\" x2=\"" << kChartLeft + sc.pw << "\" y1=\"" << y << "\" y2=\"" << y
           << "\" stroke=\"#eaeef2\"/>";
      os << "<text x=\"" << kChartLeft - 4 << "\" y=\"" << y + 4
         << "\" font-size=\"10\" text-anchor=\"end\" fill=\"#59636e\">"
         << html_escape(format_number(sc.log_axis ? std::pow(10.0, t) : t, 3) + unit) << "</text>";
    }
  }
  os << "<text x=\"" << kChartLeft << "\" y=\"" << kChartH - 8 << "\" font-size=\"10\" fill=\"#59636e\">step "
     << html_escape(format_number(sc.xmin, 6)) << "</text><text x=\"" << kChartLeft + sc.pw << "\" y=\"" << kChartH - 8
     << "\" font-size=\"10\" text-anchor=\"end\" fill=\"#59636e\">" << html_escape(format_number(sc.xmax, 6))
     << "</text>";
  for (const auto& [step, name] : markers) {
    if (step < sc.xmin || step > sc.xmax) continue;
    const char* color = name == "symptom" ? "#cf222e" : name == "detected" ? "#0969da" : "#1a7f37";
    os << "<line x1=\"" << sc.px(step) << "\" x2=\"" << sc.px(step) << "\" y1=\"" << sc.top << "\" y2=\""
       << sc.top + sc.ph << "\" stroke=\"" << color << "\" stroke-dasharray=\"4 3\"><title>"
       << html_escape(name + " at step " + format_number(step, 6)) << "</title></line>";
  }
}

// One curve: a gap and a mark at every value that is not finite, a dot for a single point.
void chart_curve(std::ostringstream& os, const json& values, const char* color, const ChartScale& sc, double scale) {
  if (!values.is_array()) return;
  std::ostringstream path;
  path.setf(std::ios::fixed);
  path.precision(1);
  bool pen_down = false;
  std::size_t points = 0;
  for (std::size_t i = 0; i < values.size() && i < sc.xs.size(); ++i) {
    double y = 0;
    if (!sc.have || !finite_number(values[i], y)) {
      pen_down = false;  // a gap: the curve does not pretend to pass through NaN
      if (!values[i].is_null())
        os << "<text x=\"" << sc.px(sc.xs[i]) << "\" y=\"" << sc.top + 9
           << "\" font-size=\"11\" text-anchor=\"middle\" fill=\"#cf222e\">&#215;<title>"
           << html_escape(show(values[i]) + " at step " + format_number(sc.xs[i], 6)) << "</title></text>";
      continue;
    }
    path << (pen_down ? " L" : " M") << sc.px(sc.xs[i]) << " " << sc.py(y * scale);
    pen_down = true;
    ++points;
  }
  if (points == 0) return;
  os << "<path d=\"" << path.str() << "\" fill=\"none\" stroke=\"" << color
     << "\" stroke-width=\"1.6\" stroke-linejoin=\"round\"/>";
  if (points == 1) {
    // A single point draws no line: show it as a dot.
    const std::string d = path.str();
    std::istringstream in(d.substr(d.find('M') + 1));
    double cx = 0, cy = 0;
    in >> cx >> cy;
    os << "<circle cx=\"" << cx << "\" cy=\"" << cy << "\" r=\"2.5\" fill=\"" << color << "\"/>";
  }
}

}  // namespace

std::string svg_line_chart(const std::string& title, const json& steps, const Series& series,
                           const std::vector<std::pair<double, std::string>>& markers, double scale,
                           const std::string& unit) {
  const ChartScale sc = chart_scale(steps, series, scale);
  std::ostringstream os;
  os.setf(std::ios::fixed);
  os.precision(1);
  os << "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart\" width=\"" << kChartW << "\" height=\"" << kChartH
     << "\" viewBox=\"0 0 " << kChartW << " " << kChartH << "\" role=\"img\"><title>" << html_escape(title)
     << "</title>";
  chart_frame(os, title, series, sc, markers, unit);
  for (std::size_t k = 0; k < series.size(); ++k) chart_curve(os, series[k].second, kChartColors[k % 4], sc, scale);
  os << "</svg>";
  return os.str();
}

namespace {

// The page up to its header: title, totals, when and where the run ran, the jump links.
std::string page_header(const Matrix& matrix, bool with_diff) {
  const json& ctx = matrix.context();
  const json summary = summarize_verdicts(matrix);
  std::ostringstream os;
  os << "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
     << "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
     << "<script>window.addEventListener('error', function (e) {"
        " document.documentElement.setAttribute('data-script-error', String(e.message)); });</script>\n"
     << "<title>trainwreck: " << summary["total"] << " cells, " << summary["unexpected"] << " unexpected</title>\n"
     << "<style>" << kStyle << "</style>\n</head>\n<body>\n";

  os << "<header><h1>trainwreck matrix</h1><p class=\"totals\"><span><b>" << summary["total"]
     << "</b> cells</span><span><b>" << summary["pass"] << "</b> as expected</span><span><b>" << summary["unexpected"]
     << "</b> unexpected</span><span><b>" << summary["unpinned"] << "</b> unpinned</span>";
  if (summary["flaky"].get<int>() > 0) os << "<span><b>" << summary["flaky"] << "</b> flaky</span>";
  if (summary["seed_dependent"].get<int>() > 0)
    os << "<span><b>" << summary["seed_dependent"] << "</b> seed-dependent</span>";
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
  os << "<script>" << kScript << "</script>\n</body>\n</html>\n";
  return os.str();
}

}  // namespace tw
