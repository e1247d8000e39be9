#pragma once
// Reporters: each renders a matrix (read once into its records, matrix_records.h) in one format.
#include <cstddef>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "harness/matrix_records.h"
#include "harness/verdict.h"

namespace tw {

struct Scenario;
struct Catalog;

// The outcome word with its key number: "diverged@2", "detected@3 (+1)", "oom 512MiB", ...
std::string cell_summary(const nlohmann::json& cell);

// A cell run with several seeds, in words: "3/3 seeds" when they agree, "diverged 2/3, stalled
// 1/3" when they do not; "" for a cell run with one seed.
std::string seeds_text(const nlohmann::json& cell);
bool seeds_disagree(const nlohmann::json& cell);
// The seed count alone when the seeds agree ("3/3"), seeds_text when they disagree, "" for one seed.
std::string seed_count(const nlohmann::json& cell);

// What a reader sees of a cell's outcome: cell_summary with its seeds ("diverged@16 (3/3 seeds)"),
// or only the counts when the seeds disagree (the first seed's numbers are then no evidence).
std::string cell_display(const nlohmann::json& cell);

// A device's heading: "cuda (NVIDIA H100)", "cpu (Intel Xeon ...)", the bare name when the
// context does not name the GPU or CPU.
std::string device_title(const std::string& device, const nlohmann::json& context);

// The mitigation column: the label, and for a stack its members ("resnet [residual+batchnorm]").
std::string mitigation_display(const nlohmann::json& cell);

// Text safe inside a Markdown table cell ('|' escaped; line breaks, CR, LF or CR LF, folded to a space).
std::string md_escape(const std::string& s);

// ---- the layout for people: article rows, one block per scenario ---------------------------------

// The "scenarios" block of a matrix (matrix_records.h), as run writes it: from the scenarios and
// the catalog that planned the cells.
nlohmann::json scenario_info_block(const std::vector<Scenario>& scenarios, const Catalog& catalog);

// One scenario on one device: its cells in plan order, the bare fault ("none") first.
struct ScenarioBlock {
  std::string scenario, device, fault, fault_summary, description;
  std::vector<std::size_t> cells;  // indices into the matrix's cells
};
// A row of the source article ("data", "hyper-parameters", ...): its scenarios.
struct ArticleRow {
  std::string name;  // "" when the matrix does not say (shown as "other scenarios")
  std::vector<ScenarioBlock> scenarios;
};
// Rows in the article's order (data, model too complex, hyper-parameters, hardware, code,
// framework / environment, FAQ, control), then rows the article does not have, then unknown.
std::vector<ArticleRow> article_rows(const Matrix& matrix, const std::string& device);
std::string article_row_title(const std::string& name);  // "" -> "other scenarios"

// How a remedy's cell reads next to its fault: the fault itself (the "none" cell), healed
// (healthy), caught (detected), not enough (anything else, and seeds that disagree).
enum class RemedyRole { kFault, kHealed, kCaught, kNotEnough };
// "fault", "healed", "caught", "not enough": the words of the overview's columns.
const char* to_string(RemedyRole role);
RemedyRole remedy_role(const MatrixCell& cell);
// The outcome with its key number and the seed count, short: "healthy@40 3/3",
// "diverged 2/3, stalled 1/3"; for one seed, cell_summary.
std::string outcome_short(const nlohmann::json& cell);
// Each seed's key number: "@4, @4, @5" (diverged, detected, healthy) or "0.69, 0.71, 0.7"
// (final loss); "" for a cell run with one seed.
std::string per_seed_keys(const nlohmann::json& cell);

// `trainwreck report RUN --format md --out DIR`: file name (relative to DIR) -> content. An
// index.md, a page per article row with a table and a figure per scenario, and the figures
// under figures/. Pages link their figures relatively, so DIR can be moved as a whole.
std::map<std::string, std::string> render_evidence_pages(const Matrix& matrix);
// The figure files alone (figures/<scenario>-<device>.svg), as run writes them.
std::map<std::string, std::string> render_figures(const Matrix& matrix);
// "lr_too_high (cpu)" -> "lr_too_high-cpu": the anchor a code-hosting page gives a heading.
std::string heading_anchor(const std::string& heading);

// The last lines of run: where the results are, then one line per cell that failed.
std::string render_run_footer(const Matrix& matrix, const std::string& dir, bool color);

std::string render_console(const Matrix& matrix, bool color);
std::string render_markdown(const Matrix& matrix);
std::string render_junit(const Matrix& matrix);
std::string render_csv(const Matrix& matrix);
// --format json: the matrix.json value as it was loaded, one space of indent.
std::string render_json(const Matrix& matrix);

}  // namespace tw
