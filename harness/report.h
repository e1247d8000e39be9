#pragma once
// Reporters: each renders a matrix (the matrix.json value) in one format.
#include <cstddef>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace tw {

struct Scenario;
struct Catalog;

// The outcome word with its key number: "diverged@2", "detected@3 (+1)", "oom 512MiB", ...
std::string cell_summary(const nlohmann::json& cell);

// A cell run with several seeds, in words: "3/3 seeds" when they agree, "diverged 2/3, stalled
// 1/3" when they do not; "" for a cell run with one seed.
std::string seeds_text(const nlohmann::json& cell);
bool seeds_disagree(const nlohmann::json& cell);

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

// What a matrix says of its scenarios ("scenarios": {name: {"fault", "fault_summary",
// "article_row", "description"}}), written by run since that block exists. An older matrix has
// none: fill_scenario_info adds what `listing` (the value of `trainwreck list --json`: its
// "faults" with "article_row" and "summary", its "scenarios" with "description") knows, and
// leaves the rest unknown. Entries the matrix has are kept.
void fill_scenario_info(nlohmann::json& matrix, const nlohmann::json& listing);
// The block itself, as run writes it: from the scenarios and the catalog that planned the cells.
nlohmann::json scenario_info_block(const std::vector<Scenario>& scenarios, const Catalog& catalog);
const nlohmann::json& scenario_info(const nlohmann::json& matrix, const std::string& scenario);

// One scenario on one device: its cells in plan order, the bare fault ("none") first.
struct ScenarioBlock {
  std::string scenario, device, fault, fault_summary, description;
  std::vector<std::size_t> cells;  // indices into matrix["cells"]
};
// A row of the source article ("data", "hyper-parameters", ...): its scenarios.
struct ArticleRow {
  std::string name;  // "" when the matrix does not say (shown as "other scenarios")
  std::vector<ScenarioBlock> scenarios;
};
// Rows in the article's order (data, model too complex, hyper-parameters, hardware, code,
// framework / environment, FAQ, control), then rows the article does not have, then unknown.
std::vector<ArticleRow> article_rows(const nlohmann::json& matrix, const std::string& device);
std::vector<std::string> matrix_devices(const nlohmann::json& matrix);
std::string article_row_title(const std::string& name);  // "" -> "other scenarios"

// How a remedy's cell reads next to its fault: "fault" (the "none" cell), "healed" (healthy),
// "caught" (detected), "not enough" (anything else).
std::string remedy_role(const nlohmann::json& cell);
// The outcome with its key number and the seed count, short: "healthy@40 3/3",
// "diverged 2/3, stalled 1/3"; for one seed, cell_summary.
std::string outcome_short(const nlohmann::json& cell);
// Each seed's key number: "@4, @4, @5" (diverged, detected, healthy) or "0.69, 0.71, 0.7"
// (final loss); "" for a cell run with one seed.
std::string per_seed_keys(const nlohmann::json& cell);

// `trainwreck report RUN --format md --out DIR`: file name (relative to DIR) -> content. An
// index.md, a page per article row with a table and a figure per scenario, and the figures
// under figures/. Pages link their figures relatively, so DIR can be moved as a whole.
std::map<std::string, std::string> render_evidence_pages(const nlohmann::json& matrix);
// The figure files alone (figures/<scenario>-<device>.svg), as run writes them.
std::map<std::string, std::string> render_figures(const nlohmann::json& matrix);
// "lr_too_high (cpu)" -> "lr_too_high-cpu": the anchor a code-hosting page gives a heading.
std::string heading_anchor(const std::string& heading);

// The last lines of run: where the results are, then one line per cell that failed.
std::string render_run_footer(const nlohmann::json& matrix, const std::string& dir, bool color);

std::string render_console(const nlohmann::json& matrix, bool color);
std::string render_markdown(const nlohmann::json& matrix);
std::string render_junit(const nlohmann::json& matrix);
std::string render_csv(const nlohmann::json& matrix);

// A finished run's matrix: a results directory (its matrix.json) or a matrix.json file.
// Throws InputError naming the path when it is missing or not a matrix.
nlohmann::json load_matrix(const std::string& path);

// Counts of verdicts: {"total", "pass", "unexpected", "unpinned", "flaky", "seed_dependent"}.
nlohmann::json summarize_verdicts(const nlohmann::json& matrix);

// Cells whose verdict is a failure (is_failure; an unknown verdict counts as one).
int count_failures(const nlohmann::json& matrix);

}  // namespace tw
