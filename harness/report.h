#pragma once
// Reporters: each renders a matrix (the matrix.json value) in one format.
#include <nlohmann/json.hpp>
#include <string>

namespace tw {

// The outcome word with its key number: "diverged@2", "detected@3 (+1)", "oom 512MiB", ...
std::string cell_summary(const nlohmann::json& cell);

// Text safe inside a Markdown table cell ('|' escaped, newlines folded).
std::string md_escape(const std::string& s);

std::string render_console(const nlohmann::json& matrix, bool color);
std::string render_markdown(const nlohmann::json& matrix);
std::string render_junit(const nlohmann::json& matrix);
std::string render_csv(const nlohmann::json& matrix);

// A finished run's matrix: a results directory (its matrix.json) or a matrix.json file.
// Throws InputError naming the path when it is missing or not a matrix.
nlohmann::json load_matrix(const std::string& path);

// Counts of verdicts: {"total", "pass", "unexpected", "unpinned", "flaky"}.
nlohmann::json summarize_verdicts(const nlohmann::json& matrix);

}  // namespace tw
