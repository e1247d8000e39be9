#pragma once
// When steady memory growth is a leak: the rate projected against the budget. Header-only and
// free of LibTorch: the harness's classification and the kernel's leak guard share one rule, so
// a verdict does not depend on how long a run was or on a per-scenario threshold.
#include <cmath>
#include <cstddef>
#include <vector>

#include "harness/slope.h"

namespace tw {

// A run that, at its measured rate, would exhaust its memory budget within this many steps is
// leaking: a million steps is a long but ordinary training run. A constant footprint (rate 0)
// never is, however large; 2 KiB a step against 1 GiB is (about 500,000 steps).
constexpr double kLeakProjectionSteps = 1e6;

// Steps until `budget_bytes` is exhausted from `current_bytes` at `bytes_per_step` (infinite when
// memory does not grow).
inline double steps_to_budget(double bytes_per_step, double current_bytes, double budget_bytes) {
  if (!(bytes_per_step > 0)) return INFINITY;
  return std::fmax(0.0, budget_bytes - current_bytes) / bytes_per_step;
}

// Memory grows within each half of the series (robust slope > 0 in both): a leak does, a single
// allocation that stays (a cache filled once, masks made midway) does not.
inline bool grows_in_both_halves(const std::vector<double>& x, const std::vector<double>& y) {
  const std::size_t n = std::min(x.size(), y.size()), half = n / 2;
  if (half < 2) return false;
  const std::vector<double> x1(x.begin(), x.begin() + half), y1(y.begin(), y.begin() + half);
  const std::vector<double> x2(x.begin() + half, x.begin() + n), y2(y.begin() + half, y.begin() + n);
  return robust_slope(x1, y1) > 0 && robust_slope(x2, y2) > 0;
}

inline bool leak_projects_past_budget(double bytes_per_step, double current_bytes, double budget_bytes) {
  return steps_to_budget(bytes_per_step, current_bytes, budget_bytes) <= kLeakProjectionSteps;
}

}  // namespace tw
