// Helpers shared by the classifier tests: the events a run sends (steps, end, errors, evaluations)
// and the observations the harness makes of its ranks (exited, killed, stopped by the watchdog).
#pragma once

#include <signal.h>

#include <cstddef>
#include <nlohmann/json.hpp>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "harness/classify.h"

namespace tw {
// Outcome names in failure messages instead of raw bytes.
inline void PrintTo(Outcome o, std::ostream* os) { *os << to_string(o); }
}  // namespace tw

namespace tw_test::classify_util {
using nlohmann::json;
using tw::Observation;

inline constexpr double kMiB = 1024.0 * 1024.0;

inline json step(long long k, json loss, json extra = json::object()) {
  json e = {{"event", "step"}, {"rank", 0}, {"step", k}, {"loss", loss}};
  e.update(extra);
  return e;
}

inline json end(bool reached, json extra = json::object()) {
  json e = {{"event", "end"}, {"rank", 0}, {"reached_target", reached}, {"target_loss", 0.1}};
  e.update(extra);
  return e;
}

inline json error_event(const std::string& kind, const std::string& message, json extra = json::object()) {
  json e = {{"event", "error"}, {"rank", 0}, {"kind", kind}, {"message", message}};
  e.update(extra);
  return e;
}

// One rank that exited normally with `code`, having sent `events`.
inline Observation exited(int code, std::vector<json> events) {
  Observation o;
  o.ranks = {tw::RankExit{true, code, 0}};
  o.events = std::move(events);
  o.wall_seconds = 1.25;
  return o;
}

inline Observation killed(int sig, std::vector<json> events) {
  Observation o = exited(0, std::move(events));
  o.ranks[0].signal = sig;
  return o;
}

inline Observation watchdog(const std::string& why, std::vector<json> events) {
  Observation o;
  o.ranks = {tw::RankExit{true, 0, SIGKILL}};  // what the harness's own kill leaves behind
  o.events = std::move(events);
  o.watchdog = why;
  o.silence_seconds = 7.4;
  o.limits.heartbeat_seconds = 5;
  o.limits.wall_seconds = 60;
  return o;
}

inline std::vector<json> training(int steps, double first_loss = 1.0) {
  std::vector<json> out = {{{"event", "start"}, {"rank", 0}, {"pid", 1234}}};
  for (int k = 1; k <= steps; ++k) out.push_back(step(k, first_loss / k));
  return out;
}

// Memory samples per step; everything else healthy, so only the memory decides.
inline Observation with_memory(const std::vector<double>& mem) {
  std::vector<json> events;
  for (std::size_t i = 0; i < mem.size(); ++i)
    events.push_back(step(static_cast<long long>(i + 1), 1.0 / static_cast<double>(i + 1), {{"mem", mem[i]}}));
  events.push_back(end(true, {{"reached_step", mem.size()}}));
  return exited(0, events);
}

// Evaluations every 10 steps to a horizon of 10 x losses.size(), then the end event.
inline std::vector<json> evaluated(const std::vector<double>& losses, json end_extra = json::object()) {
  std::vector<json> events = training(static_cast<int>(losses.size() * 10), losses.front());
  for (std::size_t i = 0; i < losses.size(); ++i)
    events.push_back({{"event", "eval"}, {"rank", 0}, {"step", (i + 1) * 10}, {"eval_loss", losses[i]}});
  json e = {{"event", "end"}, {"rank", 0}, {"target_loss", 0.1}, {"horizon", losses.size() * 10}};
  e.update(end_extra);
  events.push_back(e);
  return events;
}

}  // namespace tw_test::classify_util
