#pragma once
// report.html: one self-contained page (no network, no external scripts or fonts). The matrix
// per device coloured by outcome; every cell opens its curves (loss, first/last-layer gradient
// norm, memory per step, as inline SVG), its evidence and output; the context; and, given a
// diff against a baseline, what changed.
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

namespace tw {

// `diff`: the value of diff_matrices(baseline, matrix), or null for none.
std::string render_html(const nlohmann::json& matrix, const nlohmann::json& diff = nullptr);

// Text made safe for HTML element content and quoted attribute values.
std::string html_escape(const std::string& text);

// One line chart as an <svg> element. `series` maps a legend name to its values (numbers, or
// "nan"/"inf"/null for steps without a finite value); `steps` gives the x of each value.
// Non-finite values break the line and are marked. `markers` are vertical lines: {step, label}.
std::string svg_line_chart(const std::string& title, const nlohmann::json& steps,
                           const std::vector<std::pair<std::string, nlohmann::json>>& series,
                           const std::vector<std::pair<double, std::string>>& markers, double scale = 1.0,
                           const std::string& unit = "");

}  // namespace tw
