#pragma once
// Classification: a pure function of what the harness observed of a cell (exit statuses,
// watchdog action, event stream, limits) into one outcome with its evidence.
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "harness/outcome.h"
#include "harness/scenario.h"
#include "harness/slope.h"  // robust_slope

namespace tw {

struct RankExit {
  bool exited = false;  // false: still running when torn down
  int exit_code = 0;
  int signal = 0;  // nonzero when killed by a signal
};

struct Observation {
  std::vector<RankExit> ranks;
  std::string watchdog;  // "", "heartbeat" or "wall": why the harness killed the cell
  double wall_seconds = 0;
  double silence_seconds = 0;          // time since the last event when the watchdog fired
  std::vector<nlohmann::json> events;  // valid events in arrival order, each with "rank"
  int protocol_errors = 0;             // lines on the event pipe that were not events
  std::vector<std::string> bad_lines;  // the first few of them, truncated
  Limits limits;
  std::string unsupported_reason;  // the plan found the machine lacking: nothing was run
};

struct Classification {
  Outcome outcome = Outcome::kError;
  nlohmann::json evidence = nlohmann::json::object();
};

// A finite training loss this many times the first one is a blow-up: a divergence that never
// became NaN. The loss-spike guard stops at the same factor. An MSE model starting near 1 and a
// cross-entropy model starting at ln(classes) both reach it when they blow up (the Transformer's
// LR 1.0 climbs 26x from ln 16).
constexpr double kBlowUpFactor = 10;

// The last quarter of the horizon, and at least this many evaluations, decide "healthy".
constexpr std::size_t kMinWindowEvals = 3;

// A run that is not healthy but whose eval loss, falling at the rate it fell from the second quarter
// of the horizon to the last (median against median), would reach the target within this many
// more horizons is still converging: slow, not stalled. A plateau (a fall of a few percent per
// half horizon, or none) projects to hundreds of horizons; a run still halving its loss, to one or two.
constexpr double kSlowHorizons = 10;
// ... and whose eval loss fell by at least a fifth over that half horizon: a plateau's median moves
// by a few percent either way (0.93 to 1.03 in the reference), a converging run's by a third or
// more (0.25 to 0.6), so a plateau near its target is not called slow.
constexpr double kSlowMaxTrend = 0.8;

Classification classify(const Observation& obs);

// Loss values travel as numbers, or as the strings "nan", "inf", "-inf".
double json_number(const nlohmann::json& v);

}  // namespace tw
