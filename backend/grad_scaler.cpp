#include "backend/grad_scaler.h"

#include <ATen/ATen.h>

namespace tw {

GradScaler::GradScaler(Options options) : options_(options) {}

at::Tensor GradScaler::scale(const at::Tensor& loss) {
  if (!scale_.defined()) {
    const auto opts = at::TensorOptions().dtype(at::kFloat).device(loss.device());
    scale_ = at::full({1}, options_.init_scale, opts);
    growth_tracker_ = at::zeros({1}, opts.dtype(at::kInt));
  }
  return loss * scale_.to(loss.scalar_type());
}

void GradScaler::unscale(torch::optim::Optimizer& optimizer) {
  if (unscaled_ || !scale_.defined()) return;
  std::vector<at::Tensor> grads;
  for (auto& group : optimizer.param_groups())
    for (auto& p : group.params())
      if (p.grad().defined()) grads.push_back(p.grad());
  found_inf_ = at::zeros({1}, scale_.options());
  const at::Tensor inv_scale = scale_.to(at::kDouble).reciprocal().to(at::kFloat);
  if (!grads.empty()) at::_amp_foreach_non_finite_check_and_unscale_(grads, found_inf_, inv_scale);
  unscaled_ = true;
}

bool GradScaler::step(torch::optim::Optimizer& optimizer) {
  unscale(optimizer);
  const bool overflow = found_inf_.defined() && found_inf_.item<float>() != 0.0f;  // the one sync, as in PyTorch
  if (overflow) {
    ++skipped_;
    return false;
  }
  optimizer.step();
  return true;
}

void GradScaler::update() {
  if (!scale_.defined()) return;
  if (!found_inf_.defined()) found_inf_ = at::zeros({1}, scale_.options());
  at::_amp_update_scale_(scale_, growth_tracker_, found_inf_, options_.growth_factor, options_.backoff_factor,
                         options_.growth_interval);
  unscaled_ = false;
  found_inf_ = at::Tensor();
}

double GradScaler::current_scale() const { return scale_.defined() ? scale_.item<double>() : options_.init_scale; }

}  // namespace tw
