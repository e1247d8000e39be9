#pragma once
// A finished matrix's cells as typed records, read once from the matrix JSON: the outcome and the
// verdict in their closed sets, so reporters decide by enum (and the failure rule by is_failure),
// while what they print stays the words the matrix recorded.
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
// Every cell of a matrix ("cells"), in its order; none when it has no "cells" array.
std::vector<MatrixCell> matrix_cells(const nlohmann::json& matrix);

// The outcome a recorded word names; nullopt for anything else (a number, an unknown word).
std::optional<Outcome> outcome_of(const nlohmann::json& word);

}  // namespace tw
