#pragma once
// report.html: one self-contained page (no network, no external scripts or fonts). An overview
// per device that fits a 1400-pixel window: one line per scenario, grouped by the article's
// rows, each remedy a chip coloured by outcome in the column that says how it reads (the fault,
// healed, caught, not enough). Then a closed block per scenario: its description, the figure of
// every remedy's loss (inline SVG), a line per remedy, and each cell's own curves (loss,
// first/last-layer gradient norm, memory per step), evidence and output; the context; and,
// given a diff against a baseline, what changed.
#include <nlohmann/json.hpp>
#include <string>

#include "harness/matrix_records.h"

namespace tw {

// `diff`: the value of diff_matrices(baseline, matrix), or null for none.
std::string render_html(const Matrix& matrix, const nlohmann::json& diff = nullptr);

// Text made safe for HTML element content and quoted attribute values, and for XML (the SVG
// figures): invalid UTF-8 becomes '?', a control character XML forbids U+FFFD.
std::string html_escape(const std::string& text);

}  // namespace tw
