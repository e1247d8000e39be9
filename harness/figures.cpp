#include "harness/figures.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <sstream>

#include "harness/chart.h"
#include "harness/html_report.h"
#include "harness/json_util.h"
#include "harness/report.h"
#include "harness/text_util.h"

namespace tw {
using nlohmann::json;

namespace {

// Plot geometry (SVG user units); the legend sits to the right of the plot.
constexpr double kWidth = 900, kLeft = 64, kPlotWidth = 500, kTop = 50, kPlotHeight = 280;
constexpr double kLegendX = kLeft + kPlotWidth + 26, kLegendRow = 18;
constexpr std::size_t kLegendChars = 42;  // about 300 units of 12-unit text
constexpr const char* kFont = "system-ui,-apple-system,'Segoe UI',Roboto,Helvetica,Arial,sans-serif";
constexpr const char* kBareFaultColor = "#24292f";
// Distinct on white and for the common colour-vision deficiencies as far as ten colours can be;
// past ten, the colours repeat dashed.
constexpr const char* kPalette[] = {"#0969da", "#e16f24", "#1a7f37", "#8250df", "#bf3989",
                                    "#0a8b9c", "#9a6700", "#cf222e", "#57606a", "#4e79a7"};
constexpr std::size_t kPaletteSize = sizeof(kPalette) / sizeof(kPalette[0]);

struct Curve {
  std::vector<double> x, y;  // y may be NaN or infinite (a gap, marked)
};

Curve curve_of(const json& series) {
  Curve c;
  const json& loss = member(series, "loss");
  const json& steps = member(series, "step");
  if (!loss.is_array()) return c;
  for (std::size_t i = 0; i < loss.size(); ++i) {
    double y = 0, x = static_cast<double>(i + 1);
    if (!recorded_number(loss[i], y)) continue;
    if (steps.is_array() && i < steps.size() && steps[i].is_number()) x = steps[i].get<double>();
    if (!std::isfinite(x)) continue;
    c.x.push_back(x);
    c.y.push_back(y);
  }
  return c;
}

bool plottable(double y) { return std::isfinite(y) && y > 0; }
// A finite loss a log axis cannot show (zero, or a negative loss of a custom objective): marked
// at the bottom edge.
bool below_axis(double y) { return std::isfinite(y) && y <= 0; }

// What the legend says of a remedy whose first seed draws no line.
std::string no_curve_note(const Curve& c) {
  if (c.x.empty()) return ", no loss curve";
  for (const double y : c.y)
    if (below_axis(y)) return ", no positive loss";
  return ", no finite loss";
}

// 1, 2 or 5 times a power of ten, giving at most about `ticks` intervals over `range`.
double nice_step(double range, int ticks) {
  const double raw = range / ticks;
  const double p = std::pow(10.0, std::floor(std::log10(raw)));
  for (const double m : {1.0, 2.0, 5.0})
    if (m * p >= raw) return m * p;
  return 10 * p;
}

std::string decade_label(int k) {
  if (k >= -3 && k <= 4) return format_number(std::pow(10.0, k), 6);
  return "1e" + std::to_string(k);
}

std::string shorten(const std::string& s, std::size_t n) { return utf8_shorten(s, n); }

// One remedy: its cell, its curves (first seed, then the others) and how it is drawn.
struct Entry {
  const json* cell = nullptr;
  std::vector<Curve> curves;
  std::string color, dash;
};

// The remedies in legend order, the most seeds any has, and the scenario's target loss (NaN
// when none is given).
struct Remedies {
  std::vector<Entry> entries;
  std::size_t seeds = 1;
  double target = std::numeric_limits<double>::quiet_NaN();
};

Remedies remedies_of(const Matrix& matrix, const std::vector<std::size_t>& cells) {
  const std::vector<MatrixCell>& all = matrix.cells();
  Remedies r;
  for (const std::size_t i : cells) {
    if (i >= all.size()) continue;
    Entry e;
    e.cell = all[i].cell;
    e.curves.push_back(curve_of(member(*e.cell, "series")));
    const json& more = member(*e.cell, "seed_series");
    if (more.is_array())
      for (const auto& s : more) e.curves.push_back(curve_of(s));
    r.seeds = std::max(r.seeds, e.curves.size());
    const std::size_t k = r.entries.size();
    if (all[i].mitigation == "none") {
      e.color = kBareFaultColor;
    } else {
      e.color = kPalette[k % kPaletteSize];
      if (k >= kPaletteSize) e.dash = "6 3";
    }
    double t = 0;
    if (recorded_number(member(member(*e.cell, "evidence"), "target_loss"), t) && plottable(t) && std::isnan(r.target))
      r.target = t;
    r.entries.push_back(std::move(e));
  }
  return r;
}

// Steps over every curve; the loss in whole decades around every positive finite value.
struct Axes {
  double xmin = 0, xmax = 1, lo = 0, hi = 1;
  bool have = false;       // some positive finite loss to draw
  bool any_below = false;  // a first-seed loss <= 0 somewhere: marked, with a key row
  double px(double x) const { return kLeft + (x - xmin) / (xmax - xmin) * kPlotWidth; }
  double py(double y) const { return kTop + (1 - (std::log10(y) - lo) / (hi - lo)) * kPlotHeight; }
  bool drawn(double y) const { return have && plottable(y); }
};

Axes axes_of(const Remedies& r) {
  double xmin = std::numeric_limits<double>::infinity(), xmax = -xmin;
  double ymin = std::numeric_limits<double>::infinity(), ymax = -ymin;
  Axes a;
  for (const auto& e : r.entries) {
    for (const double y : e.curves.front().y) a.any_below = a.any_below || below_axis(y);
    for (const auto& c : e.curves)
      for (std::size_t i = 0; i < c.x.size(); ++i) {
        xmin = std::min(xmin, c.x[i]);
        xmax = std::max(xmax, c.x[i]);
        if (plottable(c.y[i])) {
          ymin = std::min(ymin, c.y[i]);
          ymax = std::max(ymax, c.y[i]);
        }
      }
  }
  a.have = std::isfinite(ymin);
  if (a.have && plottable(r.target)) {
    ymin = std::min(ymin, r.target);
    ymax = std::max(ymax, r.target);
  }
  if (!std::isfinite(xmin)) xmin = 0, xmax = 1;
  if (xmax - xmin < 1) xmax = xmin + 1;
  a.xmin = xmin;
  a.xmax = xmax;
  a.lo = a.have ? std::floor(std::log10(ymin)) : 0;
  a.hi = a.have ? std::ceil(std::log10(ymax)) : 1;
  if (a.hi <= a.lo) a.hi = a.lo + 1;
  return a;
}

// Frame, grid, tick labels, the target line, and a note when nothing can be drawn.
void draw_axes(std::ostringstream& os, const Axes& a, double target) {
  os << "<g class=\"axes\">";
  svg_frame(os, kLeft, kTop, kPlotWidth, kPlotHeight);
  if (a.have) {
    const int lo = static_cast<int>(a.lo), hi = static_cast<int>(a.hi);
    const int every = std::max(1, (hi - lo + 7) / 8);
    for (int k = lo; k <= hi; ++k) {
      const double y = a.py(std::pow(10.0, k));
      if (k != lo && k != hi) svg_grid_line(os, kLeft, kLeft + kPlotWidth, y);
      if ((k - lo) % every == 0)
        os << "<text x=\"" << kLeft - 6 << "\" y=\"" << y + 4
           << "\" font-size=\"11\" text-anchor=\"end\" fill=\"#59636e\">" << decade_label(k) << "</text>";
    }
  }
  const double step = nice_step(a.xmax - a.xmin, 6);
  for (double x = std::ceil(a.xmin / step) * step; x <= a.xmax + 1e-9; x += step) {
    os << "<line x1=\"" << a.px(x) << "\" x2=\"" << a.px(x) << "\" y1=\"" << kTop + kPlotHeight << "\" y2=\""
       << kTop + kPlotHeight + 4 << "\" stroke=\"#8c959f\"/><text x=\"" << a.px(x) << "\" y=\""
       << kTop + kPlotHeight + 16 << "\" font-size=\"11\" text-anchor=\"middle\" fill=\"#59636e\">"
       << format_number(x, 6) << "</text>";
  }
  os << "<text x=\"" << kLeft + kPlotWidth / 2 << "\" y=\"" << kTop + kPlotHeight + 34
     << "\" font-size=\"11\" text-anchor=\"middle\" fill=\"#59636e\">step</text></g>";
  if (a.have && plottable(target))
    os << "<g class=\"target\"><line x1=\"" << kLeft << "\" x2=\"" << kLeft + kPlotWidth << "\" y1=\"" << a.py(target)
       << "\" y2=\"" << a.py(target) << "\" stroke=\"#8c959f\" stroke-dasharray=\"2 3\"/><text x=\""
       << kLeft + kPlotWidth - 4 << "\" y=\"" << a.py(target) - 4
       << "\" font-size=\"10\" text-anchor=\"end\" fill=\"#59636e\">target " << html_escape(format_number(target, 3))
       << " (eval loss)</text></g>";
  if (!a.have)
    svg_note(os, kLeft + kPlotWidth / 2, kTop + kPlotHeight / 2, "#59636e",
             a.any_below ? "no remedy reported a positive loss (the log axis shows none)"
                         : "no remedy reported a finite loss");
}

// A curve's path: a gap at every value the axis cannot show.
SvgPolyline path_of(const Curve& c, const Axes& a) {
  SvgPolyline path;
  for (std::size_t i = 0; i < c.x.size(); ++i) {
    if (a.drawn(c.y[i])) path.point(a.px(c.x[i]), a.py(c.y[i]));
    else path.gap();
  }
  return path;
}

// Every further seed first (thin), then the first seeds (thick) on top, the bare fault last.
void draw_curves(std::ostringstream& os, const std::vector<Entry>& entries, const Axes& a) {
  auto draw = [&](const Entry& e, const Curve& c, bool first) {
    const SvgPolyline path = path_of(c, a);
    if (path.points() == 0) return;
    os << "<path d=\"" << path.data() << "\" fill=\"none\" stroke=\"" << e.color << "\" stroke-width=\""
       << (first ? "2" : "0.9") << "\" stroke-linejoin=\"round\"" << (first ? "" : " stroke-opacity=\"0.55\"")
       << (e.dash.empty() ? "" : " stroke-dasharray=\"" + e.dash + "\"") << "/>";
    if (first && !path.has_segment()) path.dot(os, e.color);  // single points draw no line
  };
  os << "<g class=\"curves\">";
  for (const auto& e : entries)
    for (std::size_t s = 1; s < e.curves.size(); ++s) draw(e, e.curves[s], false);
  for (std::size_t k = entries.size(); k-- > 0;) draw(entries[k], entries[k].curves.front(), true);
  os << "</g>";
}

// Marks on a first-seed curve: symptom, detection, the first loss that is not finite (top edge)
// and the first loss <= 0 (bottom edge).
void draw_marks_of(std::ostringstream& os, const Entry& e, const Axes& a) {
  const Curve& c = e.curves.front();
  const json& ev = member(*e.cell, "evidence");
  auto at = [&](double step, double& x, double& y) {
    x = a.px(std::clamp(step, a.xmin, a.xmax));
    y = kTop;  // no finite loss there: the top edge
    for (std::size_t i = 0; i < c.x.size(); ++i)
      if (c.x[i] <= step && a.drawn(c.y[i])) y = a.py(c.y[i]);
      else if (c.x[i] > step) break;
    for (std::size_t i = 0; i < c.x.size(); ++i)
      if (c.x[i] == step) y = a.drawn(c.y[i]) ? a.py(c.y[i]) : kTop;
  };
  const std::string who = e.cell->value("mitigation", "");
  double v = 0, x = 0, y = 0;
  if (recorded_number(member(ev, "symptom_step"), v) && std::isfinite(v)) {
    at(v, x, y);
    os << "<circle cx=\"" << x << "\" cy=\"" << y << "\" r=\"4.5\" fill=\"#ffffff\" stroke=\"" << e.color
       << "\" stroke-width=\"2\"><title>" << html_escape(who + ": symptom at step " + format_number(v, 6))
       << "</title></circle>";
  }
  if (recorded_number(member(ev, "detected_step"), v) && std::isfinite(v)) {
    at(v, x, y);
    os << "<path d=\"M" << x << " " << y - 6 << " L" << x + 6 << " " << y << " L" << x << " " << y + 6 << " L" << x - 6
       << " " << y << " Z\" fill=\"" << e.color << "\" stroke=\"#ffffff\" stroke-width=\"1\"><title>"
       << html_escape(who + ": guard fired at step " + format_number(v, 6)) << "</title></path>";
  }
  auto where = [&](std::size_t i) {
    return who + ": loss " + format_number(c.y[i], 3) + " at step " + format_number(c.x[i], 6);
  };
  for (std::size_t i = 0; i < c.x.size(); ++i)
    if (!std::isfinite(c.y[i])) {
      svg_cross(os, a.px(c.x[i]), kTop + 10, 12, e.color, where(i));
      break;  // the first one says where it happened
    }
  for (std::size_t i = 0; i < c.x.size(); ++i)
    if (below_axis(c.y[i])) {
      const double bx = a.px(c.x[i]), by = kTop + kPlotHeight;
      os << "<path class=\"below-axis\" d=\"M" << bx - 5 << " " << by - 8 << " L" << bx + 5 << " " << by - 8 << " L"
         << bx << " " << by << " Z\" fill=\"" << e.color << "\"><title>"
         << html_escape(where(i) + " (not on a log axis)") << "</title></path>";
      break;  // the first one says where it happened
    }
}

// One row per remedy with its outcome, then the key of the marks.
void draw_legend(std::ostringstream& os, const std::vector<Entry>& entries, const Axes& a) {
  os << "<g class=\"legend\">";
  double ly = kTop + 4;
  for (const auto& e : entries) {
    const std::string label = e.cell->value("mitigation", "");
    const std::string outcome = outcome_short(*e.cell);
    const bool curve = path_of(e.curves.front(), a).points() > 0;
    os << "<g class=\"legend-entry\"><title>" << html_escape(mitigation_display(*e.cell) + ": " + cell_display(*e.cell))
       << "</title><line x1=\"" << kLegendX << "\" x2=\"" << kLegendX + 20 << "\" y1=\"" << ly + 5 << "\" y2=\""
       << ly + 5 << "\" stroke=\"" << e.color << "\" stroke-width=\"" << (curve ? "2.5" : "1") << "\""
       << (!e.dash.empty() ? " stroke-dasharray=\"" + e.dash + "\""
           : curve         ? ""
                           : " stroke-dasharray=\"1 2\"")
       << "/><text x=\"" << kLegendX + 26 << "\" y=\"" << ly + 9 << "\" font-size=\"12\" fill=\"#1f2328\">"
       << html_escape(shorten(label, 24)) << " <tspan fill=\"#59636e\">"
       << html_escape(shorten(outcome + (curve ? "" : no_curve_note(e.curves.front())),
                              kLegendChars - std::min<std::size_t>(utf8_length(label), 24)))
       << "</tspan></text></g>";
    ly += kLegendRow;
  }
  ly += 8;
  os << "<circle cx=\"" << kLegendX + 10 << "\" cy=\"" << ly + 5 << "\" r=\"4\" fill=\"#ffffff\" stroke=\"#59636e\" "
     << "stroke-width=\"2\"/><text x=\"" << kLegendX + 26 << "\" y=\"" << ly + 9
     << "\" font-size=\"11\" fill=\"#59636e\">symptom appeared</text>";
  ly += kLegendRow;
  os << "<path d=\"M" << kLegendX + 10 << " " << ly - 1 << " L" << kLegendX + 16 << " " << ly + 5 << " L"
     << kLegendX + 10 << " " << ly + 11 << " L" << kLegendX + 4 << " " << ly + 5 << " Z\" fill=\"#59636e\"/><text x=\""
     << kLegendX + 26 << "\" y=\"" << ly + 9 << "\" font-size=\"11\" fill=\"#59636e\">guard stopped the run</text>";
  ly += kLegendRow;
  os << "<text x=\"" << kLegendX + 10 << "\" y=\"" << ly + 10 << "\" font-size=\"12\" text-anchor=\"middle\" "
     << "fill=\"#59636e\">&#215;</text><text x=\"" << kLegendX + 26 << "\" y=\"" << ly + 9
     << "\" font-size=\"11\" fill=\"#59636e\">loss not finite (NaN or Inf)</text>";
  if (a.any_below) {
    ly += kLegendRow;
    os << "<path d=\"M" << kLegendX + 5 << " " << ly + 1 << " L" << kLegendX + 15 << " " << ly + 1 << " L"
       << kLegendX + 10 << " " << ly + 9 << " Z\" fill=\"#59636e\"/><text x=\"" << kLegendX + 26 << "\" y=\"" << ly + 9
       << "\" font-size=\"11\" fill=\"#59636e\">loss &#8804; 0 (below the log axis)</text>";
  }
  os << "</g>";
}

}  // namespace

std::string figure_file_name(const std::string& scenario, const std::string& device) {
  std::string out;
  for (const char c : scenario + "-" + device) {
    const bool safe =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.';
    out += safe ? c : '_';
  }
  if (out.empty() || out[0] == '.') out = "_" + out;
  return out + ".svg";
}

std::string svg_scenario_figure(const Matrix& matrix, const std::vector<std::size_t>& cells, const std::string& title) {
  const Remedies r = remedies_of(matrix, cells);
  const Axes a = axes_of(r);
  const double legend_height = kLegendRow * static_cast<double>(r.entries.size() + (a.any_below ? 5 : 4));
  const double height = std::max(kTop + kPlotHeight + 44, kTop + legend_height);
  std::ostringstream os;
  os.setf(std::ios::fixed);
  os.precision(1);
  svg_open(os, "figure", kWidth, height, title, std::string(" font-family=\"") + kFont + "\"");
  os << "<rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>"
     << "<text x=\"" << kLeft << "\" y=\"20\" font-size=\"14\" font-weight=\"600\" fill=\"#1f2328\">"
     << html_escape(title) << "</text>"
     << "<text x=\"" << kLeft << "\" y=\"38\" font-size=\"11\" fill=\"#59636e\">training loss per step, log scale"
     << (r.seeds > 1 ? "; first seed thick, the other " + std::to_string(r.seeds - 1) + " thin" : std::string())
     << "</text>";
  draw_axes(os, a, r.target);
  draw_curves(os, r.entries, a);
  os << "<g class=\"marks\">";
  for (const auto& e : r.entries) draw_marks_of(os, e, a);
  os << "</g>";
  draw_legend(os, r.entries, a);
  os << "</svg>";
  return os.str();
}

}  // namespace tw
