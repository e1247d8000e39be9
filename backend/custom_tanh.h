#pragma once
// A custom autograd function (tanh with a hand-written backward), in a correct and a wrong
// version, and the finite-difference check that tells them apart.
#include <ATen/core/Tensor.h>

#include <string>

namespace tw {

// wrong = true: the backward has a sign error (-(1 - y^2) instead of 1 - y^2).
at::Tensor custom_tanh(const at::Tensor& x, bool wrong);

struct GradcheckResult {
  double max_abs_error = 0;  // |analytic - numeric| over a random double input
  bool passed = true;
};

// Central differences (eps 1e-6, float64) against the analytic gradient of sum(f(x) * v).
GradcheckResult gradcheck_custom_tanh(bool wrong, double tolerance = 1e-5);

}  // namespace tw
