#include "harness/verdict.h"

#include "harness/matrix_records.h"

namespace tw {

Verdict verdict_for(const std::optional<Outcome>& expected, Outcome outcome) {
  if (!expected) return Verdict::kUnpinned;
  return *expected == outcome ? Verdict::kPass : Verdict::kUnexpected;
}

Verdict verdict_over(const std::optional<Outcome>& expected, const std::vector<Outcome>& outcomes, RunKind runs) {
  if (outcomes.empty()) return Verdict::kUnpinned;
  for (const Outcome o : outcomes)
    if (o != outcomes.front()) return runs == RunKind::kSeeds ? Verdict::kSeedDependent : Verdict::kFlaky;
  return verdict_for(expected, outcomes.front());
}

nlohmann::json VerdictCounts::to_json() const {
  return {{"total", total},       {"pass", pass},   {"unexpected", unexpected},
          {"unpinned", unpinned}, {"flaky", flaky}, {"seed_dependent", seed_dependent}};
}

std::string VerdictCounts::text() const {
  std::string out = std::to_string(total) + " cells: " + std::to_string(pass) + " as expected, " +
                    std::to_string(unexpected) + " unexpected, " + std::to_string(unpinned) + " unpinned";
  if (flaky > 0) out += ", " + std::to_string(flaky) + " flaky";
  if (seed_dependent > 0) out += ", " + std::to_string(seed_dependent) + " seed-dependent";
  return out;
}

VerdictCounts count_verdicts(const Matrix& matrix) {
  VerdictCounts n;
  for (const MatrixCell& c : matrix.cells()) {
    ++n.total;
    if (!c.verdict) continue;
    switch (*c.verdict) {
      case Verdict::kPass: ++n.pass; break;
      case Verdict::kUnexpected: ++n.unexpected; break;
      case Verdict::kUnpinned: ++n.unpinned; break;
      case Verdict::kFlaky: ++n.flaky; break;
      case Verdict::kSeedDependent: ++n.seed_dependent; break;
    }
  }
  return n;
}

nlohmann::json summarize_verdicts(const Matrix& matrix) { return count_verdicts(matrix).to_json(); }

int count_failures(const Matrix& matrix) {
  int n = 0;
  for (const MatrixCell& c : matrix.cells()) n += c.failure() ? 1 : 0;
  return n;
}

}  // namespace tw
