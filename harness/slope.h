#pragma once
// The slope of a series, estimated robustly: Theil-Sen, the median of the slopes between pairs
// of points, so a few outliers or one late jump do not decide it. Header-only and free of
// LibTorch: the harness's leak classification and the kernel's leak guard share it.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace tw {

// The median slope over the pairs of every `stride`-th of n points; `point_at(i)` is the i-th
// point as a pair (x, y) of doubles. Pairs with the same x are skipped; 0 when none is left.
template <class PointAt>
double median_pairwise_slope(std::size_t n, std::size_t stride, PointAt point_at) {
  std::vector<double> slopes;
  for (std::size_t i = 0; i < n; i += stride) {
    const auto [xi, yi] = point_at(i);
    for (std::size_t j = i + stride; j < n; j += stride) {
      const auto [xj, yj] = point_at(j);
      if (xj != xi) slopes.push_back((yj - yi) / (xj - xi));
    }
  }
  if (slopes.empty()) return 0;
  auto mid = slopes.begin() + static_cast<std::ptrdiff_t>(slopes.size() / 2);
  std::nth_element(slopes.begin(), mid, slopes.end());
  return *mid;
}

// The slope of y over x (the shorter of the two decides the length). On long series only about
// 200 points are paired, so the cost stays bounded.
inline double robust_slope(const std::vector<double>& x, const std::vector<double>& y) {
  const std::size_t n = std::min(x.size(), y.size());
  if (n < 2) return 0;
  const std::size_t stride = std::max<std::size_t>(1, n / 200);
  return median_pairwise_slope(n, stride, [&](std::size_t i) { return std::pair{x[i], y[i]}; });
}

// The slope of (step, bytes) samples, every pair of them (a guard's window is short).
inline double robust_slope(const std::vector<std::pair<int64_t, int64_t>>& samples) {
  return median_pairwise_slope(samples.size(), 1, [&](std::size_t i) {
    return std::pair{static_cast<double>(samples[i].first), static_cast<double>(samples[i].second)};
  });
}

}  // namespace tw
