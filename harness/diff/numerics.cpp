// Numerics: loss curves compared step by step on the steps both recorded (identical, within
// tolerance, drifted), per seed, with the A/A run telling A's own drift from B's.
#include <algorithm>
#include <cmath>
#include <limits>
#include <map>

#include "harness/diff/common.h"
#include "harness/diff/comparators.h"
#include "harness/json_util.h"

namespace tw {
using nlohmann::json;

namespace diff_detail {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

// The relative difference of two recorded values: 0 when they are the same (bit for bit, or the
// same word), infinite when only one is finite or they are different words.
double relative_difference(const json& x, const json& y) {
  if (x == y) return 0;
  bool ox = false, oy = false;
  const double a = number(x, ox), b = number(y, oy);
  if (!ox || !oy || !std::isfinite(a) || !std::isfinite(b)) return kInf;
  const double m = std::max(std::fabs(a), std::fabs(b));
  return m == 0 ? 0 : std::fabs(a - b) / m;
}

json fraction_json(double v) { return std::isinf(v) ? json("inf") : json(v); }

// A curve with steps, and a loss at each.
bool usable(const json& series) {
  const json& steps = member(series, "step");
  const json& loss = member(series, "loss");
  return steps.is_array() && loss.is_array() && !steps.empty() && steps.size() == loss.size();
}

CurveComparison not_comparable(const std::string& reason) {
  CurveComparison c;
  c.reason = reason;
  return c;
}

// The curve of seed i of a cell: 0 is its main series, i > 0 its seed_series[i - 1].
const json& seed_curve(const json& cell, std::size_t i) {
  static const json none;
  if (i == 0) return member(cell, "series");
  const json& more = member(cell, "seed_series");
  return more.is_array() && more.size() >= i ? more[i - 1] : none;
}

// Each seed's curves, A's against B's: the main record's, then with the same seeds the others.
std::vector<SeedCurves> seed_curves(const json& ca, const json& cb, const json& seed_a, const json& seed_b,
                                    double tolerance) {
  std::vector<SeedCurves> seeds;
  SeedCurves main;
  if (!seed_a.is_null() && !seed_b.is_null() && seed_a != seed_b)
    main.curves = not_comparable("different seeds (" + show(seed_a) + ", " + show(seed_b) + ")");
  else main.curves = curve_comparison(member(ca, "series"), member(cb, "series"), tolerance);
  main.seed = seed_a.is_null() ? seed_b : seed_a;
  seeds.push_back(main);
  if (!same_seed_values(ca, cb)) return seeds;
  const json& values = ca["seeds"]["values"];
  const json& sa = member(ca, "seed_series");
  const json& sb = member(cb, "seed_series");
  for (std::size_t i = 1; i < values.size(); ++i) {
    SeedCurves s;
    if (sa.is_array() && sb.is_array() && sa.size() >= i && sb.size() >= i)
      s.curves = curve_comparison(sa[i - 1], sb[i - 1], tolerance);
    else s.curves = not_comparable("no loss curve of this seed");
    s.seed = values[i];
    seeds.push_back(s);
  }
  return seeds;
}

}  // namespace

json main_seed(const json& cell, const json& context) {
  const json& values = member(member(cell, "seeds"), "values");
  if (values.is_array() && !values.empty()) return values[0];
  return member(context, "seed");
}

bool same_seed_values(const json& ca, const json& cb) {
  const json& va = member(member(ca, "seeds"), "values");
  const json& vb = member(member(cb, "seeds"), "values");
  return va.is_array() && va == vb;
}

json CurveComparison::to_json() const {
  json out = {{"tier", to_string(tier)}};
  if (!reason.empty()) out["reason"] = reason;
  if (steps_compared) {
    out["steps_compared"] = *steps_compared;
    out["a_last_step"] = a_last_step;
    out["b_last_step"] = b_last_step;
  }
  if (!differs) return out;
  out["first_differing_step"] = first_differing_step;
  out["last_equal_step"] = last_equal_step;
  out["max_rel_diff"] = fraction_json(max_rel_diff);
  out["max_rel_diff_step"] = max_rel_diff_step;
  if (!first_drift_step.is_null()) out["first_drift_step"] = first_drift_step;
  return out;
}

CurveComparison curve_comparison(const json& a, const json& b, double tolerance) {
  if (!usable(a) || !usable(b)) {
    const std::string which = !usable(a) && !usable(b) ? "either run" : !usable(a) ? "the baseline" : "the candidate";
    return not_comparable("no loss curve in " + which);
  }
  const json& sa = a["step"];
  const json& la = a["loss"];
  std::map<double, const json*> b_at;
  for (std::size_t i = 0; i < b["step"].size(); ++i)
    if (b["step"][i].is_number()) b_at.emplace(b["step"][i].get<double>(), &b["loss"][i]);
  CurveComparison c;
  int compared = 0;
  for (std::size_t i = 0; i < sa.size(); ++i) {
    if (!sa[i].is_number()) continue;
    auto it = b_at.find(sa[i].get<double>());
    if (it == b_at.end()) continue;
    ++compared;
    const json& x = la[i];
    const json& y = *it->second;
    const bool differs = !(x == y);
    if (differs && c.first_differing_step.is_null()) c.first_differing_step = sa[i];
    if (!differs && c.first_differing_step.is_null()) c.last_equal_step = sa[i];
    const double r = relative_difference(x, y);
    if (differs && (c.max_rel_diff_step.is_null() || r > c.max_rel_diff)) {
      c.max_rel_diff = r;
      c.max_rel_diff_step = sa[i];
    }
    if (r > tolerance && c.first_drift_step.is_null()) c.first_drift_step = sa[i];
  }
  c.steps_compared = compared;
  c.a_last_step = sa.back();
  c.b_last_step = b["step"].back();
  if (compared == 0) {
    c.reason = "no step in common";
    return c;
  }
  if (c.first_differing_step.is_null()) {
    // Equal where both have a value; a curve with steps the other lacks (a run cut short) is not
    // identical as a whole.
    std::size_t a_steps = 0;
    for (const auto& x : sa) a_steps += x.is_number() ? 1 : 0;
    const auto n = static_cast<std::size_t>(compared);
    c.tier = n < a_steps || n < b_at.size() ? CurveTier::kIdenticalOnSharedSteps : CurveTier::kIdentical;
    return c;
  }
  c.differs = true;
  c.tier = c.max_rel_diff <= tolerance ? CurveTier::kWithinTolerance : CurveTier::kDrifted;
  return c;
}

json SeedCurves::to_json() const {
  json s = curves.to_json();
  s["seed"] = seed;
  if (noise_tier) s["noise_tier"] = to_string(*noise_tier);
  if (drifts_in_noise) s["drifts_in_noise"] = true;
  return s;
}

json NumericsComparison::to_json() const {
  json list = json::array();
  for (const auto& s : seeds) list.push_back(s.to_json());
  json n = {{"tier", to_string(tier)}, {"seeds", list}};
  if (!seeds.empty() && seeds[0].noise_tier) n["noise_tier"] = to_string(*seeds[0].noise_tier);
  if (tier == CurveTier::kDrifted) n["drifts_in_noise"] = drifts_in_noise;
  return n;
}

NumericsComparison compare_numerics(const json& ca, const json& cb, const json& ctx_a, const json& ctx_b,
                                    const json* noise_cell, const json& ctx_noise, double tolerance) {
  const json seed_a = main_seed(ca, ctx_a);
  NumericsComparison n;
  n.seeds = seed_curves(ca, cb, seed_a, main_seed(cb, ctx_b), tolerance);
  // The A/A run's curve of the same seed against A's: a drift it shows too is A's own noise
  // (a nondeterministic kernel, another thread count), not something B changed.
  if (noise_cell) {
    const json seed_n = main_seed(*noise_cell, ctx_noise);
    const bool same_seeds = same_seed_values(ca, *noise_cell);
    for (std::size_t i = 0; i < n.seeds.size(); ++i) {
      if (i == 0 && !(seed_n.is_null() || seed_a.is_null() || seed_n == seed_a)) continue;
      if (i > 0 && !same_seeds) break;
      const CurveTier noise = curve_comparison(seed_curve(ca, i), seed_curve(*noise_cell, i), tolerance).tier;
      n.seeds[i].noise_tier = noise;
      n.seeds[i].drifts_in_noise = n.seeds[i].curves.tier == CurveTier::kDrifted && noise == CurveTier::kDrifted;
    }
  }
  // The cell's tier is its most different seed's (CurveTier is ordered so).
  for (const auto& s : n.seeds) n.tier = std::max(n.tier, s.curves.tier);
  n.drifts_in_noise = true;
  for (const auto& s : n.seeds)
    if (s.curves.tier == CurveTier::kDrifted) n.drifts_in_noise = n.drifts_in_noise && s.drifts_in_noise;
  return n;
}

}  // namespace diff_detail

bool within_tolerance(const json& a, const json& b, double relative) {
  bool oa = false, ob = false;
  const double x = diff_detail::number(a, oa), y = diff_detail::number(b, ob);
  if (!oa || !ob) return a == b;  // "nan", "inf", missing: only the same word is no change
  if (x == y) return true;
  return std::fabs(x - y) <= relative * std::max(std::fabs(x), std::fabs(y));
}

json compare_curves(const json& a, const json& b, double tolerance) {
  return diff_detail::curve_comparison(a, b, tolerance).to_json();
}

}  // namespace tw
