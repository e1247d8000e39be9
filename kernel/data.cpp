#include "kernel/data.h"

#include <ATen/CPUGeneratorImpl.h>

namespace tw {

namespace {
constexpr int64_t kTeacherWidth = 8;
constexpr int64_t kEvalSize = 512;
constexpr int64_t kStatsSample = 4096;  // examples used for preprocessing statistics (streaming)

at::Generator generator(uint64_t seed) { return at::make_generator<at::CPUGeneratorImpl>(seed); }
}  // namespace

Dataset::Dataset(const Recipe& r, uint64_t seed, c10::Device device)
    : recipe_(r), seed_(seed), device_(device), size_(r.dataset_size) {
  auto g = generator(seed ^ 0x7eac4e5ULL);
  w1_ = at::randn({r.features, kTeacherWidth}, g) / std::sqrt(static_cast<double>(r.features));
  w2_ = at::randn({kTeacherWidth, 1}, g) / std::sqrt(static_cast<double>(kTeacherWidth));
  linear_ = at::randn({r.features, 1}, g) / std::sqrt(static_cast<double>(r.features));
  // Per-feature scales spread over about an order of magnitude around input_scale.
  scale_ = r.input_scale * at::exp(at::rand({r.features}, g) * 2.0 - 1.0);
  offset_ = r.input_offset * (at::rand({r.features}, g) * 2.0 - 1.0);

  // Unit-variance targets: 0.1 eval MSE means 90 % of the variance explained.
  {
    auto g2 = generator(seed ^ 0x5ca1eULL);
    at::Tensor z = at::randn({kStatsSample, r.features}, g2);
    target_std_ = (at::matmul(z, linear_) + at::matmul(at::tanh(at::matmul(z, w1_)), w2_)).std().item<double>();
  }
  at::Tensor stats_x;
  if (r.data_source == DataSource::kMemory) {
    auto [x, y] = generate(size_, seed);
    stats_x = x;
    x_ = x;
    y_ = y;
  } else {
    stats_x = generate(std::min<int64_t>(size_, kStatsSample), seed).first;
  }
  const at::Tensor fx = represent(stats_x);
  mean_ = fx.mean(0);
  std_ = fx.std(0).clamp_min(1e-12);
  min_ = std::get<0>(fx.min(0));
  max_ = std::get<0>(fx.max(0));
  if (x_.defined()) {
    x_ = transform(x_).to(device_);
    y_ = y_.to(device_);
  }
  auto [ex, ey] = generate(kEvalSize, seed ^ 0xe7a1ULL);
  eval_x_ = transform(ex).to(device_);
  eval_y_ = ey.to(device_);
}

std::pair<at::Tensor, at::Tensor> Dataset::generate(int64_t n, uint64_t seed) const {
  auto g = generator(seed);
  at::Tensor z = at::randn({n, recipe_.features}, g);
  // A linear part plus a nonlinear one: learnable in a few hundred steps by the healthy recipe.
  at::Tensor y = (at::matmul(z, linear_) + at::matmul(at::tanh(at::matmul(z, w1_)), w2_)) / target_std_;
  at::Tensor raw = z * scale_ + offset_;
  return {raw, y};
}

at::Tensor Dataset::represent(const at::Tensor& raw) const {
  at::Tensor x = raw.to(at::kDouble);
  // Integer data are fixed-point counts (as a sensor's or a tokenizer's): nothing is lost to the
  // rounding that a cast and a rescale cannot recover.
  if (recipe_.input_dtype == InputDtype::kInt64) return (x * recipe_.int_scale).round();
  return x;
}

at::Tensor Dataset::transform(at::Tensor raw) const {
  at::Tensor x = represent(raw);
  // Preprocessing computes in floating point: its output is float32 (float64 data stay float64).
  if (recipe_.input_transform == InputTransform::kStandardize) x = (x - mean_) / std_;
  if (recipe_.input_transform == InputTransform::kMinmax)
    x = recipe_.minmax_low + (1 - recipe_.minmax_low) * (x - min_) / (max_ - min_).clamp_min(1e-12);
  if (recipe_.input_dtype == InputDtype::kFloat64) return x;
  if (recipe_.input_dtype == InputDtype::kInt64 && recipe_.input_transform == InputTransform::kNone) return x.to(at::kLong);
  return x.to(at::kFloat);
}

std::pair<at::Tensor, at::Tensor> Dataset::batch(int64_t step, int64_t batch_size, int64_t micro,
                                                 int64_t micro_count) const {
  const int64_t per = std::max<int64_t>(1, batch_size / micro_count);
  if (!x_.defined()) {
    // Streaming: each (step, micro) slice is generated on demand from its own seed.
    auto [x, y] = generate(per, seed_ * 1000003ULL + static_cast<uint64_t>(step) * 4099ULL + static_cast<uint64_t>(micro));
    return {transform(x).to(device_), y.to(device_)};
  }
  // Deterministic cyclic sampling with a per-epoch stride keeps batches cheap and reproducible.
  const int64_t start = ((step - 1) * batch_size + micro * per) % size_;
  at::Tensor idx = (at::arange(start, start + per, at::kLong) % size_).to(device_);
  return {x_.index_select(0, idx), y_.index_select(0, idx)};
}

}  // namespace tw
