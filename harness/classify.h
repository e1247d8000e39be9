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

// Memory that grows by more than this across a run, steadily, is a leak.
constexpr double kLeakMinGrowthBytes = 32.0 * 1024 * 1024;

// A finite loss this many times the first one is a blow-up: a divergence that never became NaN.
constexpr double kBlowUpFactor = 100;

Classification classify(const Observation& obs);

// Loss values travel as numbers, or as the strings "nan", "inf", "-inf".
double json_number(const nlohmann::json& v);

}  // namespace tw
