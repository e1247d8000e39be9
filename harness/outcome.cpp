#include "harness/outcome.h"

namespace tw {
namespace {
constexpr const char* kOutcomeNames[] = {"healthy", "diverged", "stalled", "oom",      "leak",
                                         "hang",    "crash",    "error",   "detected", "unsupported", "slow"};
constexpr const char* kVerdictNames[] = {"pass", "unexpected", "unpinned", "flaky", "seed-dependent"};
}  // namespace

const char* to_string(Outcome outcome) { return kOutcomeNames[static_cast<int>(outcome)]; }

std::optional<Outcome> parse_outcome(std::string_view name) {
  for (int i = 0; i < static_cast<int>(std::size(kOutcomeNames)); ++i)
    if (name == kOutcomeNames[i]) return static_cast<Outcome>(i);
  return std::nullopt;
}

const std::vector<std::string>& outcome_names() {
  static const std::vector<std::string> names(std::begin(kOutcomeNames), std::end(kOutcomeNames));
  return names;
}

const char* to_string(Verdict verdict) { return kVerdictNames[static_cast<int>(verdict)]; }

std::optional<Verdict> parse_verdict(std::string_view name) {
  for (int i = 0; i < static_cast<int>(std::size(kVerdictNames)); ++i)
    if (name == kVerdictNames[i]) return static_cast<Verdict>(i);
  return std::nullopt;
}

bool is_failure(Verdict verdict) {
  return verdict == Verdict::kUnexpected || verdict == Verdict::kFlaky || verdict == Verdict::kSeedDependent;
}

}  // namespace tw
