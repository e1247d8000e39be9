#pragma once
// A finished matrix read once into typed records: its context and its cells, each with the outcome
// and the verdict in their closed sets, so that reporters, diff, merge and the CLI decide by enum
// (and the failure rule by is_failure), while what they print stays the words the matrix recorded.
// The matrix.json value itself is kept: JSON output, and renderers that print fields verbatim
// (evidence, series, seeds), read it there.
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "harness/outcome.h"

namespace tw {

struct MatrixCell {
  const nlohmann::json* cell = nullptr;  // as the matrix holds it: evidence, series, seeds, ...
  std::string id, scenario, fault, mitigation, device;
  std::string outcome_name;        // as recorded; "" when missing
  std::optional<Outcome> outcome;  // nullopt: missing, or a word the closed set lacks
  std::string verdict_name;        // as recorded; "unpinned" when missing
  std::optional<Verdict> verdict;  // nullopt: a word the closed set lacks

  const nlohmann::json& evidence() const;  // an empty object when there is none
  const nlohmann::json& expected() const;  // null when no expectation is pinned
  // lit's rule, through is_failure: an unknown verdict counts as a failure.
  bool failure() const { return is_failure(verdict.value_or(Verdict::kUnexpected)); }
  bool is(Verdict v) const { return verdict == v; }
  bool is(Outcome o) const { return outcome == o; }
  // The machine lacked what the cell needs (a GPU, a second GPU, ...): it did not run.
  bool not_run() const { return is(Outcome::kUnsupported); }
};

// `cell` must outlive the record.
MatrixCell matrix_cell(const nlohmann::json& cell);

// A matrix: the matrix.json value and a record per cell, in the matrix's order, built once when
// the matrix is made. Copies share nothing: a copy builds its own records over its own value.
class Matrix {
 public:
  Matrix() = default;  // no matrix: a null value, no cells
  // Implicit, so that a caller holding a matrix value (the one run has just assembled, a test's)
  // passes it as it is; the records are built here, once.
  Matrix(nlohmann::json raw);  // NOLINT(google-explicit-constructor)
  // A braced list would be read as the array it also is ({{"cells", c}} as ["cells", c]): spell
  // the value out, nlohmann::json{{"cells", c}}.
  Matrix(nlohmann::json::initializer_list_t) = delete;
  Matrix(const Matrix& other) : Matrix(other.raw_) {}
  // A moved json keeps its array where it was, so the records still point into it.
  Matrix(Matrix&& other) noexcept = default;
  Matrix& operator=(Matrix other) noexcept;

  // False for the default matrix (no value, e.g. no A/A run given to diff).
  bool present() const { return raw_.is_object(); }
  const nlohmann::json& raw() const { return raw_; }
  // Its "context"; an empty object when it has none.
  const nlohmann::json& context() const;
  const std::vector<MatrixCell>& cells() const { return cells_; }
  // The devices of its cells, in the order they first appear.
  std::vector<std::string> devices() const;
  // Adds to the "scenarios" block what a catalog listing knows (fill_scenario_info); the cells,
  // and so the records, are left as they are.
  void add_scenario_info(const nlohmann::json& listing);

 private:
  nlohmann::json raw_;
  std::vector<MatrixCell> cells_;
};

// A finished run's matrix, read once: a results directory (its matrix.json) or a matrix.json
// file. Every cell gets the members the renderers rely on ("expected" null, "verdict" "unpinned",
// "evidence" an object, when it lacks them). Throws InputError naming the path when it is missing
// or not a matrix.
Matrix load_matrix(const std::string& path);

// A cell's "evidence" object; an empty object when it has none (or it is not an object).
const nlohmann::json& evidence_of(const nlohmann::json& cell);

// The outcome a recorded word names; nullopt for anything else (a number, an unknown word).
std::optional<Outcome> outcome_of(const nlohmann::json& word);

// Which evidence tells an outcome, in one place for every report. The step: diverged at its
// symptom_step, detected at its detected_step, healthy at its reached_step; nullptr for the
// others. The loss a run that missed its target ended with: stalled and slow by their
// final_eval_loss, stalled (a run without evaluations) by its final_loss; nullptr when `ev` has
// neither or the outcome is another.
const char* outcome_step_key(std::optional<Outcome> outcome);
const char* outcome_loss_key(std::optional<Outcome> outcome, const nlohmann::json& ev);

// ---- what a matrix says of its scenarios ---------------------------------------------------------

// What a matrix says of its scenarios ("scenarios": {name: {"fault", "fault_summary",
// "article_row", "description"}}), written by run since that block exists. An older matrix has
// none: fill_scenario_info adds what `listing` (the value of `trainwreck list --json`: its
// "faults" with "article_row" and "summary", its "scenarios" with "description") knows, and
// leaves the rest unknown. Entries the matrix has are kept.
void fill_scenario_info(nlohmann::json& matrix, const nlohmann::json& listing);
// A scenario's entry of that block; an empty object when there is none.
const nlohmann::json& scenario_info(const nlohmann::json& matrix, const std::string& scenario);

}  // namespace tw
