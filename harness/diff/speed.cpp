// Speed: a cell's median step time, B's against A's, against a band (the threshold, or the A/A
// run's own distance from A when larger); too short a run is not timed.
#include <algorithm>
#include <cmath>

#include "harness/diff/common.h"
#include "harness/diff/comparators.h"
#include "harness/json_util.h"

namespace tw::diff_detail {
using nlohmann::json;

namespace {

constexpr TimingSource kTimingSources[] = {TimingSource::kStepSecondsMedian, TimingSource::kMedianStepMs,
                                           TimingSource::kTrainSecondsPerStep};

struct Timing {
  double step_seconds = 0;
  double total_seconds = -1;  // < 0: not known
  int samples = 0;
};

std::optional<double> step_time(const json& ev, TimingSource source) {
  bool ok = false;
  if (source == TimingSource::kStepSecondsMedian) {
    const double v = number(member(ev, "step_seconds_median"), ok);
    if (ok && v > 0 && std::isfinite(v)) return v;
  } else if (source == TimingSource::kMedianStepMs) {
    const double v = number(member(ev, "median_step_ms"), ok);
    if (ok && v > 0 && std::isfinite(v)) return v / 1000;
  } else {
    bool ok2 = false;
    const double t = number(member(ev, "train_seconds"), ok);
    const double n = number(member(ev, "steps"), ok2);
    if (ok && ok2 && t > 0 && n > 0 && std::isfinite(t)) return t / n;
  }
  return std::nullopt;
}

double total_time(const json& ev, double step_seconds) {
  bool ok = false;
  const double t = number(member(ev, "train_seconds"), ok);
  if (ok && t >= 0) return t;
  const double n = number(member(ev, "steps"), ok);
  return ok && n > 0 ? step_seconds * n : -1;
}

// A cell's step time from one source: the median over its seeds when every seed recorded one,
// else its main record's.
std::optional<Timing> timing_of(const json& cell, TimingSource source) {
  const json& ev = member(cell, "evidence");
  const auto main = step_time(ev, source);
  if (!main) return std::nullopt;
  Timing t;
  t.step_seconds = *main;
  t.total_seconds = total_time(ev, *main);
  t.samples = 1;
  const json& per_seed = member(member(cell, "seeds"), "evidence");
  if (per_seed.is_array() && per_seed.size() > 1) {
    std::vector<double> steps, totals;
    for (const auto& e : per_seed) {
      const auto s = step_time(e, source);
      if (!s) return t;
      steps.push_back(*s);
      totals.push_back(total_time(e, *s));
    }
    t.step_seconds = median(steps);
    // The shortest seed of those whose duration is known: one seed without a duration (-1)
    // must not hide another that trained too briefly to time.
    t.total_seconds = -1;
    for (const double total : totals)
      if (total >= 0 && (t.total_seconds < 0 || total < t.total_seconds)) t.total_seconds = total;
    t.samples = static_cast<int>(steps.size());
  }
  return t;
}

// Why neither source timed both sides.
std::string not_measured_reason(const json& ca, const json& cb, const DiffOptions& o) {
  bool any_a = false, any_b = false;
  for (const TimingSource src : kTimingSources) {
    any_a = any_a || timing_of(ca, src).has_value();
    any_b = any_b || timing_of(cb, src).has_value();
  }
  return !any_a && !any_b ? "no step time recorded"
         : !any_a         ? "no step time in " + o.a_name
         : !any_b         ? "no step time in " + o.b_name
                          : "the two runs recorded different step times";
}

// The verdict from the change's interval: B's ratio to A's, widened by z sigmas of the A/A spread
// on either side (the run's overall shift is not taken out: a whole run slower is what an upgrade
// may do).
SpeedComparison judged_by_spread(SpeedComparison s, const SpeedNoise& spread, double threshold) {
  const double ratio = 1 + s.change;
  const double widen = std::exp(spread.z * spread.sigma);
  s.interval = std::pair(ratio / widen - 1, ratio * widen - 1);
  s.band = (1 + threshold) * widen - 1;
  s.verdict = s.interval->first > threshold     ? SpeedVerdict::kSlower
              : s.interval->second < -threshold ? SpeedVerdict::kFaster
                                                : SpeedVerdict::kWithinBand;
  return s;
}

}  // namespace

const char* to_string(TimingSource source) {
  switch (source) {
    case TimingSource::kStepSecondsMedian: return "step_seconds_median";
    case TimingSource::kMedianStepMs: return "median_step_ms";
    case TimingSource::kTrainSecondsPerStep: return "train_seconds/steps";
    case TimingSource::kInterleaved: return "interleaved";
  }
  return "train_seconds/steps";
}

json SpeedNoise::to_json() const { return {{"cells", cells}, {"shift", shift}, {"sigma", sigma}, {"z", z}}; }

std::optional<SpeedNoise> speed_noise(const std::vector<std::pair<const json*, const json*>>& cells,
                                      const DiffOptions& o) {
  std::vector<double> r;
  for (const auto& [a, n] : cells) {
    if (!a || !n) continue;
    for (const TimingSource src : kTimingSources) {
      const auto ta = timing_of(*a, src), tn = timing_of(*n, src);
      if (!ta || !tn) continue;
      const bool long_enough = (ta->total_seconds < 0 || ta->total_seconds >= o.min_seconds) &&
                               (tn->total_seconds < 0 || tn->total_seconds >= o.min_seconds);
      if (long_enough) r.push_back(std::log(tn->step_seconds / ta->step_seconds));
      break;
    }
  }
  if (static_cast<int>(r.size()) < kMinNoiseCells) return std::nullopt;
  SpeedNoise n;
  n.cells = static_cast<int>(r.size());
  n.shift = median(r);
  std::vector<double> dev;
  for (const double x : r) dev.push_back(std::fabs(x - n.shift));
  n.sigma = 1.4826 * median(dev);
  return n;
}

json SpeedComparison::to_json() const {
  json s = {{"verdict", to_string(verdict)}};
  if (source) {
    s["source"] = to_string(*source);
    s["a_step_seconds"] = a_step_seconds;
    s["b_step_seconds"] = b_step_seconds;
    if (a_seconds) s["a_seconds"] = *a_seconds;
    if (b_seconds) s["b_seconds"] = *b_seconds;
    if (samples) s["samples"] = json::array({samples->first, samples->second});
    s["change"] = change;
    if (noise) s["noise"] = *noise;
    s["band"] = band;
    if (interval) s["interval"] = json::array({interval->first, interval->second});
  }
  if (!reason.empty()) s["reason"] = reason;
  return s;
}

std::optional<SpeedComparison> interleaved_speed(const json& measured, double threshold) {
  const std::string verdict = member(measured, "verdict").is_string() ? measured["verdict"].get<std::string>() : "";
  const json& a = member(measured, "a_step_seconds");
  const json& b = member(measured, "b_step_seconds");
  const json& interval = member(measured, "interval");
  if ((verdict != "slower" && verdict != "faster" && verdict != "same") || !a.is_array() || !b.is_array() ||
      a.empty() || a.size() != b.size() || !interval.is_array() || interval.size() != 2 ||
      !member(measured, "change").is_number())
    return std::nullopt;
  std::vector<double> ta, tb;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (!a[i].is_number() || !b[i].is_number()) return std::nullopt;
    ta.push_back(a[i].get<double>());
    tb.push_back(b[i].get<double>());
  }
  SpeedComparison s;
  s.source = TimingSource::kInterleaved;
  s.verdict = verdict == "slower"   ? SpeedVerdict::kSlower
              : verdict == "faster" ? SpeedVerdict::kFaster
                                    : SpeedVerdict::kWithinBand;
  s.a_step_seconds = median(ta);
  s.b_step_seconds = median(tb);
  s.samples = std::pair(static_cast<int>(ta.size()), static_cast<int>(tb.size()));
  s.change = measured["change"].get<double>();
  s.band = threshold;
  s.interval = std::pair(interval[0].get<double>(), interval[1].get<double>());
  return s;
}

SpeedComparison compare_speed(const json& ca, const json& cb, const json* noise_cell, const DiffOptions& o,
                              const SpeedNoise* spread) {
  SpeedComparison s;
  std::optional<Timing> ta, tb;
  for (const TimingSource src : kTimingSources) {
    ta = timing_of(ca, src);
    tb = timing_of(cb, src);
    if (ta && tb) {
      s.source = src;
      break;
    }
  }
  if (!s.source) {
    s.reason = not_measured_reason(ca, cb, o);
    return s;
  }
  s.a_step_seconds = ta->step_seconds;
  s.b_step_seconds = tb->step_seconds;
  if (ta->total_seconds >= 0) s.a_seconds = ta->total_seconds;
  if (tb->total_seconds >= 0) s.b_seconds = tb->total_seconds;
  if (ta->samples > 1 || tb->samples > 1) s.samples = std::pair(ta->samples, tb->samples);
  s.change = (tb->step_seconds - ta->step_seconds) / ta->step_seconds;
  s.band = o.speed_threshold;
  if (noise_cell) {
    const auto tn = timing_of(*noise_cell, *s.source);
    if (tn && (tn->total_seconds < 0 || tn->total_seconds >= o.min_seconds)) {
      s.noise = std::fabs(tn->step_seconds - ta->step_seconds) / ta->step_seconds;
      s.band = std::max(s.band, *s.noise);
    }
  }
  const bool short_a = ta->total_seconds >= 0 && ta->total_seconds < o.min_seconds;
  const bool short_b = tb->total_seconds >= 0 && tb->total_seconds < o.min_seconds;
  if (short_a || short_b) {
    s.verdict = SpeedVerdict::kTooShort;
    s.reason = "trained for less than " + milliseconds(o.min_seconds);
    return s;
  }
  if (spread) return judged_by_spread(s, *spread, o.speed_threshold);
  s.verdict = s.change > s.band    ? SpeedVerdict::kSlower
              : s.change < -s.band ? SpeedVerdict::kFaster
                                   : SpeedVerdict::kWithinBand;
  return s;
}

}  // namespace tw::diff_detail
