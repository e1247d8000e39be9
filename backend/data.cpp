#include "backend/data.h"

#include <ATen/CPUGeneratorImpl.h>

#include <cmath>

#include "backend/workloads.h"

namespace tw {

namespace {
constexpr int64_t kTeacherWidth = 8;     // tanh units of the MLP family's teacher (pairs of them multiply)
constexpr double kProductWeight = 0.5;   // the pair products' weight: about half of the target's variance
constexpr int64_t kEvalSize = 512;
constexpr int64_t kStatsSample = 4096;  // examples used for preprocessing statistics (streaming)
constexpr int64_t kTokenPeriod = 4;     // transformer: each sequence repeats its first 4 tokens
constexpr double kStripeCycles = 2;     // cnn: stripes per image side
constexpr double kPixelNoise = 0.5;     // cnn: Gaussian noise on every pixel
constexpr double kLstmDecay = 0.8;      // lstm: weight of a step relative to the next one
constexpr double kPi = 3.14159265358979323846;

at::Generator generator(uint64_t seed) { return at::make_generator<at::CPUGeneratorImpl>(seed); }

// The MLP family's target: tanh units plus the products of pairs of them, about half of the
// variance each. The products have no linear part, so no linear model fits the task (a linear
// probe stalls near an MSE of 0.8, pinned as a control) while the healthy 4-layer MLP holds 0.1
// from about step 150. Each pair reads one half of the features, so the task splits into one
// function of each half, as the two-branch model does.
at::Tensor teacher(const at::Tensor& z, const at::Tensor& w1, const at::Tensor& w2) {
  const at::Tensor u = at::matmul(z, w1);
  const at::Tensor products = (u.slice(1, 0, kTeacherWidth, 2) * u.slice(1, 1, kTeacherWidth, 2)).sum(1, true);
  return at::matmul(at::tanh(u), w2) + kProductWeight * products;
}
}  // namespace

Dataset::Dataset(const Recipe& r, uint64_t seed, c10::Device device)
    : recipe_(r), seed_(seed), device_(device), size_(r.data.dataset_size) {
  auto g = generator(seed ^ 0x7eac4e5ULL);
  if (!is_mlp_family(r.model.kind)) {
    workload_teacher(g, seed);
    return;
  }
  // The teacher's units read one half of the features each (units 0-3 the first half, 4-7 the
  // second): the two halves the two-branch model splits the input into.
  const int64_t half = r.data.features / 2;
  at::Tensor block = at::zeros({r.data.features, kTeacherWidth});
  block.narrow(0, 0, half).narrow(1, 0, kTeacherWidth / 2).fill_(1);
  block.narrow(0, half, r.data.features - half)
      .narrow(1, kTeacherWidth / 2, kTeacherWidth - kTeacherWidth / 2)
      .fill_(1);
  w1_ = at::randn({r.data.features, kTeacherWidth}, g) * block /
        std::sqrt(static_cast<double>(std::max<int64_t>(1, half)));
  w2_ = at::randn({kTeacherWidth, 1}, g) / std::sqrt(static_cast<double>(kTeacherWidth));
  // Per-feature scales spread over about an order of magnitude around input_scale.
  scale_ = r.data.input_scale * at::exp(at::rand({r.data.features}, g) * 2.0 - 1.0);
  offset_ = r.data.input_offset * (at::rand({r.data.features}, g) * 2.0 - 1.0);

  // Unit-variance targets: 0.1 eval MSE means 90 % of the variance explained.
  {
    auto g2 = generator(seed ^ 0x5ca1eULL);
    at::Tensor z = at::randn({kStatsSample, r.data.features}, g2);
    target_std_ = teacher(z, w1_, w2_).std().item<double>();
  }
  at::Tensor stats_x;
  if (r.data.data_source == DataSource::kMemory) {
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

void Dataset::workload_teacher(at::Generator& g, uint64_t seed) {
  const Recipe& r = recipe_;
  at::Tensor x, y;
  std::vector<int64_t> shape;  // one example's
  if (r.model.kind == ModelKind::kScripted) {
    ScriptedData d = load_scripted_data(r.model.data_file);
    const int64_t n = d.x.size(0), held = std::min<int64_t>(kEvalSize, n / 5);
    size_ = n - held;
    // The weights come from the file: the seed decides the order the training examples come in.
    const at::Tensor order = at::randperm(size_, g, at::kLong);
    x = d.x.narrow(0, 0, size_).index_select(0, order);
    y = d.y.narrow(0, 0, size_).index_select(0, order);
    scripted_eval_x_ = d.x.narrow(0, size_, held);
    scripted_eval_y_ = d.y.narrow(0, size_, held);
    tokens_ = !at::isFloatingType(d.x.scalar_type());
    shape = d.x.sizes().slice(1).vec();
  } else {
    tokens_ = r.model.kind == ModelKind::kTransformer;
    if (r.model.kind == ModelKind::kCnn) shape = {1, r.model.image_size, r.model.image_size};
    if (r.model.kind == ModelKind::kLstm) {
      shape = {r.model.seq_len, r.data.features};
      linear_ = at::randn({r.data.features, 1}, g, at::kDouble) / 2;
    }
  }
  // The workloads' clean data are left as they are; a scale or offset distorts every feature.
  scale_ = at::ones(shape, at::kDouble);
  offset_ = at::zeros(shape, at::kDouble);
  if (r.model.kind == ModelKind::kLstm)
    target_std_ = generate_workload(kStatsSample, seed ^ 0x5ca1eULL).second.std().item<double>();
  if (!tokens_ && (r.data.input_scale != 1 || r.data.input_offset != 0)) {
    scale_ = r.data.input_scale * at::exp(at::rand(shape, g, at::kDouble) * 2.0 - 1.0);
    offset_ = r.data.input_offset * (at::rand(shape, g, at::kDouble) * 2.0 - 1.0);
  }
  at::Tensor ex = scripted_eval_x_, ey = scripted_eval_y_;
  if (r.model.kind != ModelKind::kScripted) {
    std::tie(x, y) = generate_workload(size_, seed);
    std::tie(ex, ey) = generate_workload(kEvalSize, seed ^ 0xe7a1ULL);
  }
  if (!tokens_) {
    const at::Tensor fx = represent(x);
    mean_ = fx.mean(0);
    std_ = fx.std(0).clamp_min(1e-12);
    min_ = std::get<0>(fx.min(0));
    max_ = std::get<0>(fx.max(0));
  }
  x_ = transform(x).to(device_);
  y_ = y.to(device_);
  eval_x_ = transform(ex).to(device_);
  eval_y_ = ey.to(device_);
}

// The workloads' examples: raw inputs (distorted by scale and offset) and targets.
std::pair<at::Tensor, at::Tensor> Dataset::generate_workload(int64_t n, uint64_t seed) const {
  const Recipe& r = recipe_;
  auto g = generator(seed);
  if (r.model.kind == ModelKind::kTransformer) {
    const int64_t t = r.model.seq_len, period = std::min<int64_t>(kTokenPeriod, t - 1);
    at::Tensor first = at::randint(0, r.model.vocab, {n, period}, g, at::kLong);
    at::Tensor tokens = first.repeat({1, (t + 1 + period - 1) / period}).narrow(1, 0, t + 1);
    at::Tensor y = tokens.narrow(1, 1, t).clone();
    y.narrow(1, 0, period - 1).fill_(-100);  // the first tokens of a period cannot be predicted
    return {tokens.narrow(1, 0, t).contiguous(), y};
  }
  at::Tensor z, y;
  if (r.model.kind == ModelKind::kCnn) {
    // Stripes at one of `classes` orientations with a random phase: translation-invariant
    // features (a convolution) decide the class, no fixed pixel does.
    y = at::randint(0, r.model.classes, {n}, g, at::kLong);
    at::Tensor phase = at::rand({n, 1, 1}, g, at::kDouble) * 2 * kPi;
    at::Tensor angle = (y.to(at::kDouble) * kPi / static_cast<double>(r.model.classes)).view({n, 1, 1});
    at::Tensor i = at::arange(r.model.image_size, at::kDouble).view({1, r.model.image_size, 1});
    at::Tensor j = at::arange(r.model.image_size, at::kDouble).view({1, 1, r.model.image_size});
    at::Tensor u = (i * at::cos(angle) + j * at::sin(angle)) / static_cast<double>(r.model.image_size);
    z = (at::cos(2 * kPi * kStripeCycles * u + phase) +
         kPixelNoise * at::randn({n, r.model.image_size, r.model.image_size}, g, at::kDouble))
            .unsqueeze(1);
  } else {
    // lstm: y = sum over steps of decay^(steps after it) * tanh(x_t . a), at unit variance.
    z = at::randn({n, r.model.seq_len, r.data.features}, g, at::kDouble);
    at::Tensor decay =
        at::pow(kLstmDecay, at::arange(r.model.seq_len - 1, -1, -1, at::kDouble)).view({1, r.model.seq_len, 1});
    y = ((at::tanh(at::matmul(z, linear_)) * decay).sum(1) / target_std_).to(at::kFloat);
  }
  return {z * scale_ + offset_, y};
}


std::pair<at::Tensor, at::Tensor> Dataset::generate(int64_t n, uint64_t seed) const {
  if (!is_mlp_family(recipe_.model.kind)) return generate_workload(n, seed);
  auto g = generator(seed);
  at::Tensor z = at::randn({n, recipe_.data.features}, g);
  at::Tensor y = teacher(z, w1_, w2_) / target_std_;
  at::Tensor raw = z * scale_ + offset_;
  return {raw, y};
}

at::Tensor Dataset::represent(const at::Tensor& raw) const {
  at::Tensor x = raw.to(at::kDouble);
  // Integer data are fixed-point counts (as a sensor's or a tokenizer's): nothing is lost to the
  // rounding that a cast and a rescale cannot recover.
  if (recipe_.data.input_dtype == InputDtype::kInt64) return (x * recipe_.data.int_scale).round();
  return x;
}

at::Tensor Dataset::transform(at::Tensor raw) const {
  if (tokens_) return raw;
  at::Tensor x = represent(raw);
  // Preprocessing computes in floating point: its output is float32 (float64 data stay float64).
  if (recipe_.data.input_transform == InputTransform::kStandardize) x = (x - mean_) / std_;
  if (recipe_.data.input_transform == InputTransform::kMinmax)
    x = recipe_.data.minmax_low + (1 - recipe_.data.minmax_low) * (x - min_) / (max_ - min_).clamp_min(1e-12);
  if (recipe_.data.input_dtype == InputDtype::kFloat64) return x;
  if (recipe_.data.input_dtype == InputDtype::kInt64 && recipe_.data.input_transform == InputTransform::kNone)
    return x.to(at::kLong);
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
