#pragma once
// The verdict of a cell, decided here and nowhere else: the outcome its runs had against the one
// its scenario pins, and the counts of a matrix's verdicts that every report prints.
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "harness/outcome.h"

namespace tw {

class Matrix;

// What several runs of one cell are: repeats of one seed (a disagreement is `flaky`) or seeds
// (a disagreement is `seed-dependent`).
enum class RunKind { kRepeats, kSeeds };

// One run: pass when the outcome is the pinned one, unexpected when it is another, unpinned when
// nothing is pinned.
Verdict verdict_for(const std::optional<Outcome>& expected, Outcome outcome);
// Several runs of one cell: pass only when every run met the expectation; runs that agree on
// another outcome are unexpected; runs that disagree are flaky (repeats) or seed-dependent
// (seeds), pinned or not. No run: unpinned.
Verdict verdict_over(const std::optional<Outcome>& expected, const std::vector<Outcome>& outcomes, RunKind runs);

// How many cells of a matrix have each verdict; an unknown verdict word counts in `total` only.
struct VerdictCounts {
  int total = 0, pass = 0, unexpected = 0, unpinned = 0, flaky = 0, seed_dependent = 0;
  // {"total", "pass", "unexpected", "unpinned", "flaky", "seed_dependent"}: matrix.json's "summary".
  nlohmann::json to_json() const;
  // "12 cells: 10 as expected, 1 unexpected, 1 unpinned", then ", 2 flaky" and ", 1
  // seed-dependent" when there are any.
  std::string text() const;
};
VerdictCounts count_verdicts(const Matrix& matrix);

// count_verdicts(matrix).to_json().
nlohmann::json summarize_verdicts(const Matrix& matrix);
// Cells whose verdict is a failure (is_failure; an unknown verdict counts as one).
int count_failures(const Matrix& matrix);

}  // namespace tw
