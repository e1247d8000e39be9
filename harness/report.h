#pragma once
// Reporters: each renders a matrix (the matrix.json value) in one format.
#include <nlohmann/json.hpp>
#include <string>

namespace tw {

// The outcome word with its key number: "diverged@2", "detected@3 (+1)", "oom 512MiB", ...
std::string cell_summary(const nlohmann::json& cell);

// A cell run with several seeds, in words: "3/3 seeds" when they agree, "diverged 2/3, stalled
// 1/3" when they do not; "" for a cell run with one seed.
std::string seeds_text(const nlohmann::json& cell);
bool seeds_disagree(const nlohmann::json& cell);

// What a reader sees of a cell's outcome: cell_summary with its seeds ("diverged@16 (3/3 seeds)"),
// or only the counts when the seeds disagree (the first seed's numbers are then no evidence).
std::string cell_display(const nlohmann::json& cell);

// The mitigation column: the label, and for a stack its members ("resnet [residual+batchnorm]").
std::string mitigation_display(const nlohmann::json& cell);

// Text safe inside a Markdown table cell ('|' escaped, newlines folded).
std::string md_escape(const std::string& s);

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
