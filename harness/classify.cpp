#include "harness/classify.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>

#include "harness/process.h"

namespace tw {
using nlohmann::json;

double json_number(const json& v) {
  if (v.is_number()) return v.get<double>();
  if (v.is_string()) {
    const auto& s = v.get_ref<const std::string&>();
    if (s == "nan") return std::numeric_limits<double>::quiet_NaN();
    if (s == "inf") return std::numeric_limits<double>::infinity();
    if (s == "-inf") return -std::numeric_limits<double>::infinity();
  }
  return std::numeric_limits<double>::quiet_NaN();
}

namespace {

json number_or_text(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  return v;
}

struct Summary {
  const json* end = nullptr;
  const json* guard_stop = nullptr;
  const json* error = nullptr;
  const json* unsupported = nullptr;
  long long steps = 0;
  long long first_nonfinite_step = -1;     // first step whose loss was not finite
  std::optional<long long> diverged_step;  // the run ended on a non-finite loss (not skipped)
  std::vector<double> step_x, mem_y;
  double peak_mem = -1;
  // Rank 0's finite losses: the first, the largest, and the first step past the blow-up bound.
  std::optional<double> initial_finite;
  double max_finite = -std::numeric_limits<double>::infinity();
  std::optional<long long> blowup_step;
};

Summary summarize(const Observation& obs, json& ev) {
  Summary s;
  bool have_initial = false;
  for (const auto& e : obs.events) {
    const std::string type = e.value("event", "");
    if (type == "step") {
      const long long step = e.value("step", 0LL);
      s.steps = std::max(s.steps, step);
      if (e.contains("loss")) {
        const double loss = json_number(e["loss"]);
        if (!have_initial) {
          ev["initial_loss"] = number_or_text(loss);
          have_initial = true;
        }
        ev["final_loss"] = number_or_text(loss);
        if (!std::isfinite(loss) && s.first_nonfinite_step < 0) s.first_nonfinite_step = step;
        if (std::isfinite(loss) && e.value("rank", 0) == 0) {
          if (!s.initial_finite) s.initial_finite = loss;
          s.max_finite = std::max(s.max_finite, loss);
          // The floor keeps a run that starts at (almost) zero loss from dividing by zero.
          if (!s.blowup_step && loss > kBlowUpFactor * std::max(*s.initial_finite, 1e-12)) s.blowup_step = step;
        }
      }
      for (const char* key : {"grad_norm", "grad_first", "grad_last"})
        if (e.contains(key)) ev[key] = e[key];
      if (e.contains("mem") && e["mem"].is_number()) {
        const double m = e["mem"].get<double>();
        s.step_x.push_back(static_cast<double>(step));
        s.mem_y.push_back(m);
        s.peak_mem = std::max(s.peak_mem, m);
      }
    } else if (type == "symptom") {
      if (e.value("kind", "") == "nonfinite" && !s.diverged_step) s.diverged_step = e.value("step", 0LL);
    } else if (type == "evidence") {
      for (const auto& [k, v] : e.items())
        if (k != "event" && k != "rank") ev[k] = v;
    } else if (type == "guard") {
      if (e.value("action", "") == "stop" && !s.guard_stop) s.guard_stop = &e;
    } else if (type == "error") {
      if (e.value("kind", "") == "unsupported") {
        if (!s.unsupported) s.unsupported = &e;
      } else if (!s.error) {
        s.error = &e;
      }
    } else if (type == "end") {
      if (!s.end || e.value("rank", 0) == 0) s.end = &e;
    }
  }
  // A run whose last loss is non-finite diverged even without a symptom event.
  if (!s.diverged_step && have_initial && !std::isfinite(json_number(ev["final_loss"]))) s.diverged_step = s.steps;
  if (s.steps > 0) ev["steps"] = s.steps;
  if (s.peak_mem >= 0) {
    ev["peak_mem_bytes"] = s.peak_mem;
    ev["mem_growth_bytes_per_step"] = robust_slope(s.step_x, s.mem_y);
    ev["mem_growth_bytes"] = s.mem_y.back() - s.mem_y.front();
  }
  if (s.first_nonfinite_step >= 0) ev["symptom_step"] = s.first_nonfinite_step;
  return s;
}

bool is_leak(const Summary& s) {
  if (s.mem_y.size() < 8) return false;
  const double growth = s.mem_y.back() - s.mem_y.front();
  const double slope = robust_slope(s.step_x, s.mem_y);
  const double span = s.step_x.back() - s.step_x.front();
  // Steady growth: the robust slope accounts for most of the total, not one late jump.
  return growth > kLeakMinGrowthBytes && slope > 0 && slope * span > 0.5 * growth;
}

}  // namespace

namespace {

// The harness ended it (the watchdog: hang) or a rank died by a signal (crash).
std::optional<Outcome> killed(const Observation& obs, const Summary& s, json& ev) {
  if (!obs.watchdog.empty()) {
    ev["watchdog"] = obs.watchdog;
    ev["message"] =
        obs.watchdog == "heartbeat"
            ? "no event for " + std::to_string(static_cast<int>(obs.silence_seconds)) + " s (limit " +
                  std::to_string(static_cast<int>(obs.limits.heartbeat_seconds)) + " s)"
            : "over the wall-clock limit of " + std::to_string(static_cast<int>(obs.limits.wall_seconds)) + " s";
    if (!obs.events.empty()) ev["last_event"] = obs.events.back();
    return Outcome::kHang;
  }
  for (std::size_t r = 0; r < obs.ranks.size(); ++r) {
    const RankExit& x = obs.ranks[r];
    if (x.signal != 0) {
      ev["signal"] = signal_name(x.signal);
      ev["rank"] = r;
      if (s.error) ev["message"] = s.error->value("message", "");
      return Outcome::kCrash;
    }
  }
  return std::nullopt;
}

// The cell stopped itself and said why: a missing requirement, a guard's diagnosis, an error;
// or it exited with a failing code, or without its end event.
std::optional<Outcome> stopped(const Observation& obs, const Summary& s, json& ev) {
  if (s.unsupported) {
    ev["reason"] = s.unsupported->value("message", "");
    return Outcome::kUnsupported;
  }
  if (s.guard_stop) {
    const json& g = *s.guard_stop;
    ev["guard"] = g.value("guard", "");
    ev["message"] = g.value("message", "");
    if (g.contains("step")) ev["detected_step"] = g["step"];
    if (g.contains("symptom_step")) ev["symptom_step"] = g["symptom_step"];
    if (ev.contains("detected_step") && ev.contains("symptom_step"))
      ev["detection_latency_steps"] = ev["detected_step"].get<long long>() - ev["symptom_step"].get<long long>();
    if (g.contains("details")) ev["details"] = g["details"];
    return Outcome::kDetected;
  }
  if (s.error) {
    const std::string kind = s.error->value("kind", "exception");
    ev["message"] = s.error->value("message", "");
    if (s.error->contains("step")) ev["error_step"] = (*s.error)["step"];
    return kind == "oom" ? Outcome::kOom : Outcome::kError;
  }
  for (std::size_t r = 0; r < obs.ranks.size(); ++r) {
    if (obs.ranks[r].exit_code != 0) {
      ev["exit_code"] = obs.ranks[r].exit_code;
      ev["rank"] = r;
      ev["message"] = "exited with code " + std::to_string(obs.ranks[r].exit_code) + " without an error event";
      return Outcome::kError;
    }
  }
  if (!s.end) {
    ev["message"] = "exited without an end event";
    return Outcome::kError;
  }
  return std::nullopt;
}

// A run that trained to its end event: diverged (a non-finite loss, or a blow-up it never
// recovered from), leaked, or healthy or stalled by whether it reached its target.
Outcome trained(const Summary& s, json& ev) {
  if (s.blowup_step) {
    ev["blowup_step"] = *s.blowup_step;
    ev["max_loss"] = s.max_finite;
    ev["blowup_factor"] = s.max_finite / *s.initial_finite;
  }
  if (s.diverged_step) {
    ev["divergence"] = "nonfinite";
    ev["symptom_step"] = s.first_nonfinite_step >= 0 ? s.first_nonfinite_step : *s.diverged_step;
    return Outcome::kDiverged;
  }
  if (s.first_nonfinite_step >= 0) ev["recovered_from_nonfinite"] = true;
  if (is_leak(s)) return Outcome::kLeak;
  const json& end = *s.end;
  if (end.contains("target_loss")) ev["target_loss"] = end["target_loss"];
  const bool reached = end.value("reached_target", false);
  if (end.contains("reached_step")) ev["reached_step"] = end["reached_step"];
  if (s.blowup_step && !reached) {
    // 0.91 -> 28,896 without a NaN is as much a divergence as a NaN; "stalled" would hide it.
    ev["divergence"] = "blow-up";
    ev["symptom_step"] = *s.blowup_step;
    return Outcome::kDiverged;
  }
  if (s.blowup_step) ev["recovered_from_blowup"] = true;
  return reached ? Outcome::kHealthy : Outcome::kStalled;
}

Classification classify_checked(const Observation& obs) {
  Classification c;
  json& ev = c.evidence;
  if (!obs.unsupported_reason.empty()) {
    c.outcome = Outcome::kUnsupported;
    ev["reason"] = obs.unsupported_reason;
    return c;
  }
  ev["wall_seconds"] = std::round(obs.wall_seconds * 1000) / 1000;
  if (obs.protocol_errors > 0) {
    ev["protocol_errors"] = obs.protocol_errors;
    ev["bad_lines"] = obs.bad_lines;
  }
  const Summary s = summarize(obs, ev);
  if (const auto o = killed(obs, s, ev)) c.outcome = *o;
  else if (const auto o2 = stopped(obs, s, ev)) c.outcome = *o2;
  else c.outcome = trained(s, ev);
  return c;
}

}  // namespace

Classification classify(const Observation& obs) {
  try {
    return classify_checked(obs);
  } catch (const json::exception& e) {
    // Valid JSON with a wrongly typed field: the cell broke the protocol. Exits and the
    // watchdog still decide, as if it had sent no events.
    Observation bare = obs;
    bare.events.clear();
    Classification c = classify_checked(bare);
    c.evidence["malformed_event"] = e.what();
    return c;
  }
}

}  // namespace tw
