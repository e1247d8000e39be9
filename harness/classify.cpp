#include "harness/classify.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>

#include "harness/leak_rule.h"
#include "harness/process.h"
#include "protocol/events.h"

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
  const json* end = nullptr;           // rank 0's last end event (a serving phase's, if any)
  const json* training_end = nullptr;  // rank 0's end of training
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
  std::vector<std::pair<long long, double>> evals;  // rank 0's evaluations (step, eval loss)
};

Summary summarize(const Observation& obs, json& ev) {
  Summary s;
  bool have_initial = false;
  for (const auto& e : obs.events) {
    const std::optional<EventType> type = event_type_of(e);
    if (!type) continue;
    if (*type == EventType::kStep) {
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
    } else if (*type == EventType::kSymptom) {
      if (parse_symptom_kind(e.value("kind", "")) == SymptomKind::kNonfinite && !s.diverged_step)
        s.diverged_step = e.value("step", 0LL);
    } else if (*type == EventType::kEvidence) {
      for (const auto& [k, v] : e.items())
        if (k != "event" && k != "rank") ev[k] = v;
    } else if (*type == EventType::kGuard) {
      if (parse_guard_action(e.value("action", "")) == GuardAction::kStop && !s.guard_stop) s.guard_stop = &e;
    } else if (*type == EventType::kError) {
      if (parse_error_kind(e.value("kind", "")) == ErrorKind::kUnsupported) {
        if (!s.unsupported) s.unsupported = &e;
      } else if (!s.error) {
        s.error = &e;
      }
    } else if (*type == EventType::kEval) {
      if (e.value("rank", 0) == 0 && e.contains("eval_loss"))
        s.evals.emplace_back(e.value("step", 0LL), json_number(e["eval_loss"]));
    } else if (*type == EventType::kEnd) {
      if (!s.end || e.value("rank", 0) == 0) s.end = &e;
      if (e.value("rank", 0) == 0 && e.value("phase", "") != "serving" && !s.training_end) s.training_end = &e;
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

// Steady growth (the robust slope accounts for most of the total, and memory grows in each half
// of the run, so one jump, early, midway or late, is no leak) at a rate that would exhaust the
// cell's budget within kLeakProjectionSteps: the same verdict whether the run was 300 steps long
// or 20,000.
bool is_leak(const Summary& s, const Limits& limits, json& ev) {
  if (s.mem_y.size() < 8) return false;
  const double growth = s.mem_y.back() - s.mem_y.front();
  const double slope = robust_slope(s.step_x, s.mem_y);
  const double span = s.step_x.back() - s.step_x.front();
  if (!(growth > 0 && slope > 0 && slope * span > 0.5 * growth)) return false;
  if (!grows_in_both_halves(s.step_x, s.mem_y)) return false;
  const double budget = static_cast<double>(limits.memory_mb) * 1024 * 1024;
  const double steps = steps_to_budget(slope, s.mem_y.back(), budget);
  ev["steps_to_budget"] = std::round(steps);
  return leak_projects_past_budget(slope, s.mem_y.back(), budget);
}

double median(std::vector<double> v) {
  if (v.empty()) return std::numeric_limits<double>::quiet_NaN();
  auto mid = v.begin() + static_cast<std::ptrdiff_t>(v.size() / 2);
  std::nth_element(v.begin(), mid, v.end());
  return *mid;
}

// The evaluations of a run that trained to its horizon, read as a whole: healthy when the median
// evaluation of the last quarter of the horizon (at least the last kMinWindowEvals) is at or under
// the target and none of them is non-finite, so a run that touched the target and drifted back
// above it is not, and one evaluation spike of a run that holds the target does not decide it. A
// run that is not healthy is slow while its eval loss still falls, by a fifth or more from the
// second quarter to the last (median against median), fast enough to reach the target within
// kSlowHorizons more horizons at that rate, and has come down by a fifth from the loss it started
// from; else stalled.
struct EvalVerdict {
  bool healthy = false;
  bool slow = false;
};

EvalVerdict judge_evals(const Summary& s, const json& end, json& ev) {
  // The loss the run started from: its first finite training loss (rank 0), else its first evaluation.
  const double start = s.initial_finite ? *s.initial_finite : s.evals.front().second;
  EvalVerdict v;
  const double target = json_number(end.value("target_loss", json(0.0)));
  const auto& evals = s.evals;
  const long long horizon = end.value("horizon", evals.back().first);
  ev["final_eval_loss"] = number_or_text(evals.back().second);
  json curve = json::array();
  for (const auto& [step, loss] : evals) curve.push_back({step, number_or_text(loss)});
  ev["eval_curve"] = std::move(curve);
  ev["horizon"] = horizon;

  std::size_t first = evals.size();
  while (first > 0 && evals[first - 1].first > horizon - horizon / 4) --first;
  first = std::min(first, evals.size() - std::min(evals.size(), kMinWindowEvals));
  double worst = -std::numeric_limits<double>::infinity();
  bool finite = true;
  std::vector<double> window;
  for (std::size_t i = first; i < evals.size(); ++i) {
    finite = finite && std::isfinite(evals[i].second);
    worst = std::max(worst, evals[i].second);
    window.push_back(evals[i].second);
  }
  const double typical = median(window);
  ev["window_from_step"] = evals[first].first;
  ev["window_max_eval_loss"] = number_or_text(finite ? worst : std::numeric_limits<double>::quiet_NaN());
  ev["window_median_eval_loss"] = number_or_text(finite ? typical : std::numeric_limits<double>::quiet_NaN());
  if (finite && typical > 0) ev["target_margin"] = target / typical;
  v.healthy = finite && typical <= target;
  if (v.healthy) {
    // The first evaluation at or under the target from which the median of the rest stays there.
    for (std::size_t k = 0; k < evals.size(); ++k) {
      if (!(evals[k].second <= target)) continue;
      std::vector<double> rest;
      for (std::size_t j = k; j < evals.size(); ++j) rest.push_back(evals[j].second);
      if (median(rest) <= target) {
        ev["reached_step"] = evals[k].first;
        break;
      }
    }
    return v;
  }
  std::vector<double> second, last;
  for (const auto& [step, loss] : evals) {
    if (step > horizon / 4 && step <= horizon / 2) second.push_back(loss);
    if (step > horizon - horizon / 4) last.push_back(loss);
  }
  // The fall from the second quarter to the last (half a horizon), projected at the same rate.
  const double now = median(last), trend = now / median(second);
  if (std::isfinite(trend) && trend > 0) {
    ev["eval_trend"] = trend;
    const double horizons = trend < 1 ? 0.5 * std::log(std::min(1.0, target / now)) / std::log(trend) : INFINITY;
    if (std::isfinite(horizons)) ev["horizons_to_target"] = horizons;
    // Learning, not recovering: below the loss it started from by the same fifth (a model climbing
    // back from a blow-up to chance level falls fast without having learned anything).
    v.slow = trend <= kSlowMaxTrend && horizons <= kSlowHorizons && now <= kSlowMaxTrend * start;
  }
  return v;
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
    const std::optional<ErrorKind> kind = parse_error_kind(s.error->value("kind", ""));
    ev["message"] = s.error->value("message", "");
    if (s.error->contains("step")) ev["error_step"] = (*s.error)["step"];
    return kind == ErrorKind::kOom ? Outcome::kOom : Outcome::kError;
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
Outcome trained(const Summary& s, const Limits& limits, json& ev) {
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
  if (is_leak(s, limits, ev)) return Outcome::kLeak;
  const json& end = *s.end;
  if (end.contains("target_loss")) ev["target_loss"] = end["target_loss"];
  // The evaluations decide; a cell that sent none (it judged itself) says so in its end event.
  EvalVerdict v;
  if (!s.evals.empty()) v = judge_evals(s, s.training_end ? *s.training_end : end, ev);
  else v.healthy = end.value("reached_target", false);
  if (end.value("phase", "") == "serving") {
    // The deployed model decides too: trained to the target and served within it.
    ev["serving_reached_target"] = end.value("reached_target", false);
    v.healthy = v.healthy && end.value("reached_target", false);
  }
  if (s.evals.empty() && end.contains("reached_step")) ev["reached_step"] = end["reached_step"];
  if (s.blowup_step && !v.healthy) {
    // 0.91 -> 28,896 without a NaN is as much a divergence as a NaN; "stalled" would hide it.
    ev["divergence"] = "blow-up";
    ev["symptom_step"] = *s.blowup_step;
    return Outcome::kDiverged;
  }
  if (s.blowup_step) ev["recovered_from_blowup"] = true;
  if (v.healthy) return Outcome::kHealthy;
  return v.slow ? Outcome::kSlow : Outcome::kStalled;
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
  else c.outcome = trained(s, obs.limits, ev);
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
