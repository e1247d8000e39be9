#pragma once
// SVG charts, plain (no script, no external font): the per-cell line charts of report.html, and
// the drawing both they and the scenario figures (figures.h) are made of: the <svg> element, the
// plot's frame and grid, notes and marks, and curves broken where a value cannot be drawn.
// Numbers are written as the stream is set (the charts set fixed, one decimal).
#include <cstddef>
#include <nlohmann/json.hpp>
#include <ostream>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

namespace tw {

// One line chart as an <svg> element. `series` maps a legend name to its values (numbers, or
// "nan"/"inf"/null for steps without a finite value); `steps` gives the x of each value.
// Non-finite values break the line and are marked. `markers` are vertical lines: {step, label}.
std::string svg_line_chart(const std::string& title, const nlohmann::json& steps,
                           const std::vector<std::pair<std::string, nlohmann::json>>& series,
                           const std::vector<std::pair<double, std::string>>& markers, double scale = 1.0,
                           const std::string& unit = "");

// The opening <svg> element of class `cls`, `width` by `height` (also its viewBox), role="img",
// then `attributes` as given (" font-family=\"...\"" or ""), and its <title>.
void svg_open(std::ostream& os, const char* cls, double width, double height, const std::string& title,
              const std::string& attributes = "");
// The plot's frame: an unfilled rectangle with a light border.
void svg_frame(std::ostream& os, double x, double y, double width, double height);
// A light horizontal grid line from x1 to x2 at y.
void svg_grid_line(std::ostream& os, double x1, double x2, double y);
// A note centred on (x, y) in 12-unit text, such as "no data"; `text` is written as it is.
void svg_note(std::ostream& os, double x, double y, const std::string& fill, const char* text);
// The mark of a value that is not finite: a cross centred at x, with `title` as its tooltip.
void svg_cross(std::ostream& os, double x, double y, int font_size, const std::string& fill, const std::string& title);

// A curve's path data, " M x y L x y ...", one decimal: gap() lifts the pen, so the next point
// starts a new piece (the curve does not pretend to pass through a value it cannot draw).
class SvgPolyline {
 public:
  SvgPolyline();
  void point(double x, double y);
  void gap() { pen_down_ = false; }
  std::string data() const { return d_.str(); }
  std::size_t points() const { return points_; }
  bool has_segment() const { return segment_; }  // some point joined to the one before
  // A dot at the first point, for a curve that draws no line.
  void dot(std::ostream& os, const std::string& fill) const;

 private:
  std::ostringstream d_;
  bool pen_down_ = false, segment_ = false;
  std::size_t points_ = 0;
  double first_x_ = 0, first_y_ = 0;
};

}  // namespace tw
