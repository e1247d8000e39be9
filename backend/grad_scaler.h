#pragma once
// Dynamic loss scaling for fp16 autocast (LibTorch's C++ API has no GradScaler): the loss is
// multiplied by a scale before backward, gradients are unscaled and checked for Inf/NaN, an
// overflowing step is skipped and the scale backed off; after `growth_interval` clean steps
// the scale grows. Same semantics as torch.amp.GradScaler, on the same fused ATen kernels.
#include <ATen/core/Tensor.h>
#include <torch/optim/optimizer.h>

#include <cstdint>

namespace tw {

class GradScaler {
 public:
  struct Options {
    double init_scale = 65536.0;
    double growth_factor = 2.0;
    double backoff_factor = 0.5;
    int64_t growth_interval = 2000;
  };

  explicit GradScaler(Options options);
  GradScaler() : GradScaler(Options{}) {}

  at::Tensor scale(const at::Tensor& loss);
  // Unscales the optimizer's gradients in place (once per step) and records overflow.
  void unscale(torch::optim::Optimizer& optimizer);
  // Steps unless a gradient overflowed; returns whether it stepped.
  bool step(torch::optim::Optimizer& optimizer);
  // Backs off after an overflow, grows after growth_interval clean steps.
  void update();

  double current_scale() const;
  int64_t skipped_steps() const { return skipped_; }

 private:
  Options options_;
  at::Tensor scale_;           // 1-element float tensor on the gradients' device
  at::Tensor growth_tracker_;  // consecutive clean steps (int32)
  at::Tensor found_inf_;
  bool unscaled_ = false;
  int64_t skipped_ = 0;
};

}  // namespace tw
