#include "harness/chart.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "harness/html_report.h"
#include "harness/json_util.h"

namespace tw {
using nlohmann::json;

void svg_open(std::ostream& os, const char* cls, double width, double height, const std::string& title,
              const std::string& attributes) {
  os << "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"" << cls << "\" width=\"" << width << "\" height=\""
     << height << "\" viewBox=\"0 0 " << width << " " << height << "\" role=\"img\"" << attributes << "><title>"
     << html_escape(title) << "</title>";
}

void svg_frame(std::ostream& os, double x, double y, double width, double height) {
  os << "<rect x=\"" << x << "\" y=\"" << y << "\" width=\"" << width << "\" height=\"" << height
     << "\" fill=\"none\" stroke=\"#d0d7de\"/>";
}

void svg_grid_line(std::ostream& os, double x1, double x2, double y) {
  os << "<line x1=\"" << x1 << "\" x2=\"" << x2 << "\" y1=\"" << y << "\" y2=\"" << y << "\" stroke=\"#eaeef2\"/>";
}

void svg_note(std::ostream& os, double x, double y, const std::string& fill, const char* text) {
  os << "<text x=\"" << x << "\" y=\"" << y << "\" font-size=\"12\" text-anchor=\"middle\" fill=\"" << fill << "\">"
     << text << "</text>";
}

void svg_cross(std::ostream& os, double x, double y, int font_size, const std::string& fill, const std::string& title) {
  os << "<text x=\"" << x << "\" y=\"" << y << "\" font-size=\"" << font_size << "\" text-anchor=\"middle\" fill=\""
     << fill << "\">&#215;<title>" << html_escape(title) << "</title></text>";
}

SvgPolyline::SvgPolyline() {
  d_.setf(std::ios::fixed);
  d_.precision(1);
}

void SvgPolyline::point(double x, double y) {
  if (points_ == 0) {
    first_x_ = x;
    first_y_ = y;
  }
  segment_ = segment_ || pen_down_;
  d_ << (pen_down_ ? " L" : " M") << x << " " << y;
  pen_down_ = true;
  ++points_;
}

void SvgPolyline::dot(std::ostream& os, const std::string& fill) const {
  os << "<circle cx=\"" << first_x_ << "\" cy=\"" << first_y_ << "\" r=\"2.5\" fill=\"" << fill << "\"/>";
}

// ---- the per-cell line chart of report.html ------------------------------------------------------

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
  svg_frame(os, kChartLeft, sc.top, sc.pw, sc.ph);
  if (!sc.have) {
    svg_note(os, kChartLeft + sc.pw / 2, sc.top + sc.ph / 2, sc.any_bad ? "#cf222e" : "#59636e",
             sc.any_bad ? "no finite value" : "no data");
  } else {
    for (int k = 0; k <= 2; ++k) {
      const double t = sc.lo + (sc.hi - sc.lo) * k / 2.0;
      const double y = sc.top + (1 - k / 2.0) * sc.ph;
      if (k == 1) svg_grid_line(os, kChartLeft, kChartLeft + sc.pw, y);
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
  SvgPolyline path;
  for (std::size_t i = 0; i < values.size() && i < sc.xs.size(); ++i) {
    double y = 0;
    if (!sc.have || !finite_number(values[i], y)) {
      path.gap();  // the curve does not pretend to pass through NaN
      if (!values[i].is_null())
        svg_cross(os, sc.px(sc.xs[i]), sc.top + 9, 11, "#cf222e",
                  show(values[i]) + " at step " + format_number(sc.xs[i], 6));
      continue;
    }
    path.point(sc.px(sc.xs[i]), sc.py(y * scale));
  }
  if (path.points() == 0) return;
  os << "<path d=\"" << path.data() << "\" fill=\"none\" stroke=\"" << color
     << "\" stroke-width=\"1.6\" stroke-linejoin=\"round\"/>";
  if (path.points() == 1) path.dot(os, color);  // a single point draws no line
}

}  // namespace

std::string svg_line_chart(const std::string& title, const json& steps, const Series& series,
                           const std::vector<std::pair<double, std::string>>& markers, double scale,
                           const std::string& unit) {
  const ChartScale sc = chart_scale(steps, series, scale);
  std::ostringstream os;
  os.setf(std::ios::fixed);
  os.precision(1);
  svg_open(os, "chart", kChartW, kChartH, title);
  chart_frame(os, title, series, sc, markers, unit);
  for (std::size_t k = 0; k < series.size(); ++k) chart_curve(os, series[k].second, kChartColors[k % 4], sc, scale);
  os << "</svg>";
  return os.str();
}

}  // namespace tw
