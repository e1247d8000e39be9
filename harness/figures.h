#pragma once
// Figures for documentation: one per scenario and device, the training loss of every remedy
// overlaid on a log axis, so a reader sees side by side what the bare fault does and what each
// remedy changes. Plain SVG (no script, no external font), usable inline in report.html and as a
// file of its own in Markdown.
#include <cstddef>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "harness/matrix_records.h"

namespace tw {

// `cells`: indices into the matrix's cells of one scenario on one device, in legend order. Each
// cell's first seed is a thick line; further seeds (the matrix's "seed_series") thin lines of the
// same colour. Marks on a remedy's first-seed curve: an open circle where the symptom appeared,
// a filled diamond where a guard stopped the run; a loss that is not finite is a cross at the
// top edge, a finite loss <= 0 (which a log axis cannot show) a triangle at the bottom edge. The dashed grey line is
// the scenario's target loss (an evaluation loss) when given.
std::string svg_scenario_figure(const Matrix& matrix, const std::vector<std::size_t>& cells, const std::string& title);

// "lr_too_high-cpu.svg": a file name for a scenario's figure (characters other than letters,
// digits, '_', '-' and '.' become '_').
std::string figure_file_name(const std::string& scenario, const std::string& device);

}  // namespace tw
