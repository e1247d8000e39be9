#include "backend/custom_tanh.h"

#include <ATen/ATen.h>
#include <torch/csrc/autograd/custom_function.h>

#include <cmath>

namespace tw {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

struct CustomTanh : torch::autograd::Function<CustomTanh> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, bool wrong) {
    at::Tensor y = at::tanh(x);
    ctx->save_for_backward({y});
    ctx->saved_data["wrong"] = wrong;
    return y;
  }
  static variable_list backward(AutogradContext* ctx, variable_list grad_output) {
    const at::Tensor y = ctx->get_saved_variables()[0];
    at::Tensor dydx = 1 - y * y;
    if (ctx->saved_data["wrong"].toBool()) dydx = -dydx;
    return {grad_output[0] * dydx, at::Tensor()};
  }
};

}  // namespace

at::Tensor custom_tanh(const at::Tensor& x, bool wrong) { return CustomTanh::apply(x, wrong); }

GradcheckResult gradcheck_custom_tanh(bool wrong, double tolerance) {
  constexpr double kEps = 1e-6;
  at::Tensor x = at::randn({4, 5}, at::kDouble).requires_grad_(true);
  const at::Tensor v = at::randn({4, 5}, at::kDouble);
  (custom_tanh(x, wrong) * v).sum().backward();
  const at::Tensor analytic = x.grad().clone();
  at::Tensor numeric = at::zeros_like(analytic);
  // Finite differences of the function under test itself (its forward), not of a reference.
  {
    at::NoGradGuard no_grad;
    at::Tensor flat_x = x.detach().clone().view(-1);
    at::Tensor flat_n = numeric.view(-1);
    for (int64_t i = 0; i < flat_x.numel(); ++i) {
      const double orig = flat_x[i].item<double>();
      flat_x[i] = orig + kEps;
      const double plus = (custom_tanh(flat_x.view({4, 5}), wrong) * v).sum().item<double>();
      flat_x[i] = orig - kEps;
      const double minus = (custom_tanh(flat_x.view({4, 5}), wrong) * v).sum().item<double>();
      flat_x[i] = orig;
      flat_n[i] = (plus - minus) / (2 * kEps);
    }
  }
  GradcheckResult r;
  r.max_abs_error = (analytic - numeric).abs().max().item<double>();
  r.passed = r.max_abs_error <= tolerance;
  return r;
}

}  // namespace tw
