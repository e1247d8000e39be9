#pragma once
// The closed set of cell outcomes, and the verdict of comparing one with its expectation.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tw {

enum class Outcome {
  kHealthy,      // median eval loss of the last quarter of the horizon at or under the target
  kDiverged,     // non-finite loss or weights, or a loss blown up (kBlowUpFactor) without recovery
  kStalled,      // trained to the end without reaching the target, the eval loss no longer falling
  kOom,          // out of memory (device or cell budget)
  kLeak,         // memory grew without bound
  kHang,         // no heartbeat or over the wall-clock limit: killed by the watchdog
  kCrash,        // killed by a signal
  kError,        // exception with a message, or an exit without a result
  kDetected,     // a guard stopped the run with a diagnosis
  kUnsupported,  // needs a device or GPU count that is not there
  kSlow,         // trained to the end without reaching the target, the eval loss still falling
};

const char* to_string(Outcome outcome);
std::optional<Outcome> parse_outcome(std::string_view name);
const std::vector<std::string>& outcome_names();

// lit-style result codes: each knows whether it is a failure.
enum class Verdict {
  kPass,           // outcome == expectation
  kUnexpected,     // outcome != expectation
  kUnpinned,       // no expectation pinned for this device class (reported, not a failure)
  kFlaky,          // repeats disagreed
  kSeedDependent,  // seeds disagreed: the outcome is not evidence of the setting alone
};

const char* to_string(Verdict verdict);
std::optional<Verdict> parse_verdict(std::string_view name);
bool is_failure(Verdict verdict);

}  // namespace tw
