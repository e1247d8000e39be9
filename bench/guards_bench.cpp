// Cost of the guards on a reference training step, next to the usual alternatives: LibTorch's
// anomaly mode, reading the loss every step, and an isfinite check per parameter.
//
//   guards_bench --benchmark_repetitions=21 --benchmark_min_time=0.3 \
//     --benchmark_enable_random_interleaving=true --benchmark_out=guards.json
//   scripts/bench-table guards.json --limit 'cpu/*/all_guards=1.05' --limit 'cuda/*/all_guards=1.02'
//
// CPU: an 8x256 ReLU MLP, batch 128, one intra-op thread. CUDA (registered only when a device
// is present): a 16x1024 ReLU MLP, batch 512. Times are per training step. Besides one benchmark
// per variant, <shape>/paired/<variant> runs a variant and the plain step in alternating blocks
// and reports their time ratio (counter ratio_vs_plain), and guard_calls_only times the guard
// calls alone on one backward's gradients.
#include <benchmark/benchmark.h>

#include <ATen/Context.h>
#include <ATen/Parallel.h>
#include <ATen/ops/isfinite.h>
#include <ATen/ops/mse_loss.h>
#include <ATen/ops/randn.h>
#include <ATen/ops/relu.h>
#include <torch/csrc/autograd/anomaly_mode.h>
#include <torch/cuda.h>
#include <torch/nn/modules/linear.h>
#include <torch/optim/sgd.h>
#include <torch/utils.h>
#include <torch/version.h>

#include <malloc.h>
#include <time.h>

#include <chrono>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "trainwreck/guards.h"

namespace {

// Small enough that the weights never leave the healthy regime over a long run.
constexpr double kLearningRate = 1e-3;
// Steps before timing: allocator caches, first-call dispatch, the first monitor report.
constexpr int kWarmupSteps = 5;

struct MlpImpl : torch::nn::Module {
  MlpImpl(int64_t depth, int64_t width) {
    for (int64_t i = 0; i < depth; ++i)
      layers.push_back(register_module("fc" + std::to_string(i), torch::nn::Linear(width, width)));
  }
  at::Tensor forward(at::Tensor x) {
    for (std::size_t i = 0; i < layers.size(); ++i) {
      x = layers[i]->forward(x);
      if (i + 1 < layers.size()) x = at::relu(x);
    }
    return x;
  }
  std::vector<torch::nn::Linear> layers;
};
TORCH_MODULE(Mlp);

enum class Variant { kPlain, kGuards, kAnomalyMode, kLossItem, kIsfinitePerParam, kGuardCallsOnly };

const char* variant_name(Variant v) {
  switch (v) {
    case Variant::kPlain: return "plain";
    case Variant::kGuards: return "all_guards";
    case Variant::kAnomalyMode: return "anomaly_mode";
    case Variant::kLossItem: return "loss_item";
    case Variant::kIsfinitePerParam: return "isfinite_per_param";
    case Variant::kGuardCallsOnly: return "guard_calls_only";
  }
  return "?";
}

struct Shape {
  std::string label;
  c10::Device device;
  int64_t depth, width, batch;
  int64_t steps_per_iteration;  // CUDA: several steps per synchronization
};

class ReferenceTraining {
 public:
  ReferenceTraining(const Shape& shape, Variant variant)
      : variant_(variant), model_(nullptr) {
    torch::manual_seed(0);
    model_ = Mlp(shape.depth, shape.width);
    model_->to(shape.device);
    optimizer_ = std::make_unique<torch::optim::SGD>(model_->parameters(), torch::optim::SGDOptions(kLearningRate));
    const auto options = at::TensorOptions().device(shape.device);
    x_ = at::randn({shape.batch, shape.width}, options);
    y_ = at::randn({shape.batch, shape.width}, options);
    if (variant == Variant::kGuards || variant == Variant::kGuardCallsOnly) {
      guards_.add(std::make_shared<trainwreck::NonFiniteGuard>());
      guards_.add(std::make_shared<trainwreck::GradientFlowMonitor>(/*every=*/50));
      guards_.add(std::make_shared<trainwreck::LeakGuard>());
      // Acts on evaluation losses only; the reference step has none, so it costs a virtual call.
      guards_.add(std::make_shared<trainwreck::StallDetector>());
    }
  }

  // False (with a message) when a guard stopped the run: the benchmark is then invalid.
  bool step() {
    ++step_;
    if (variant_ == Variant::kGuardCallsOnly) return guard_calls();
    optimizer_->zero_grad();
    at::Tensor loss = at::mse_loss(model_->forward(x_), y_);
    loss.backward();
    switch (variant_) {
      case Variant::kGuards: {
        trainwreck::StepContext ctx{step_, loss, *model_, optimizer_.get()};
        trainwreck::GuardReport r = guards_.after_backward(ctx);
        if (r.stop()) return fail(r);
        if (r.skip()) optimizer_->zero_grad();
        else optimizer_->step();
        r = guards_.after_step(ctx);
        return r.stop() ? fail(r) : true;
      }
      case Variant::kLossItem:
        benchmark::DoNotOptimize(loss.item<float>());
        break;
      case Variant::kIsfinitePerParam:
        for (const auto& p : model_->parameters())
          if (!at::isfinite(p.grad()).all().item<bool>()) {
            error_ = "non-finite gradient";
            return false;
          }
        break;
      default:
        break;
    }
    optimizer_->step();
    return true;
  }
  const std::string& error() const { return error_; }

 private:
  // The guards alone on one backward's gradients: their cost without the noise of a whole
  // step, so its ratio to the plain step is the guards' share of it.
  bool guard_calls() {
    if (!loss_.defined()) {
      loss_ = at::mse_loss(model_->forward(x_), y_);
      loss_.backward();
    }
    trainwreck::StepContext ctx{step_, loss_, *model_, optimizer_.get()};
    trainwreck::GuardReport r = guards_.after_backward(ctx);
    if (r.stop()) return fail(r);
    r = guards_.after_step(ctx);
    return r.stop() ? fail(r) : true;
  }

  bool fail(const trainwreck::GuardReport& r) {
    error_ = r.guard + ": " + r.message;
    return false;
  }
  Variant variant_;
  Mlp model_;
  std::unique_ptr<torch::optim::SGD> optimizer_;
  at::Tensor x_, y_, loss_;
  trainwreck::GuardSet guards_;
  int64_t step_ = 0;
  std::string error_;
};

void synchronize(const c10::Device& device) {
  if (device.is_cuda()) torch::cuda::synchronize(device.index() < 0 ? -1 : device.index());
}

void run_training(benchmark::State& state, const Shape& shape, Variant variant) {
  std::optional<torch::autograd::DetectAnomalyGuard> anomaly;
  if (variant == Variant::kAnomalyMode) anomaly.emplace();
  ReferenceTraining training(shape, variant);
  bool ok = true;
  // Anomaly mode is too slow for warm-up effects to matter.
  const int warmup = variant == Variant::kAnomalyMode ? 1 : kWarmupSteps;
  for (int i = 0; i < warmup && ok; ++i) ok = training.step();
  synchronize(shape.device);
  for (auto _ : state) {
    for (int64_t i = 0; i < shape.steps_per_iteration && ok; ++i) ok = training.step();
    synchronize(shape.device);
    if (!ok) break;
  }
  if (!ok) {
    state.SkipWithError(training.error().c_str());
    return;
  }
  state.counters["steps_per_iteration"] = static_cast<double>(shape.steps_per_iteration);
  state.SetItemsProcessed(state.iterations() * shape.steps_per_iteration);
}

double thread_cpu_seconds() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
}

double wall_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// A variant and the plain step in alternating blocks within one run, so both see the same
// machine: the ratio of their accumulated times (counter ratio_vs_plain) is what a noisy
// shared machine disturbs least. One benchmark iteration is one block of each.
void run_paired(benchmark::State& state, const Shape& shape, Variant variant) {
  ReferenceTraining plain(shape, Variant::kPlain);
  ReferenceTraining other(shape, variant);
  bool ok = true;
  for (int i = 0; i < kWarmupSteps && ok; ++i) ok = plain.step() && other.step();
  synchronize(shape.device);
  const bool cuda = shape.device.is_cuda();
  // CPU: blocks of a few steps, so each block mostly runs with its own weights in cache.
  const int64_t block = cuda ? shape.steps_per_iteration : 4;
  double spent[2] = {0, 0};
  int64_t round = 0;
  for (auto _ : state) {
    for (int k = 0; k < 2 && ok; ++k) {
      // Alternate which goes first, so drift within a round cancels.
      const int which = (k + round) % 2;
      ReferenceTraining& t = which == 0 ? plain : other;
      const double t0 = cuda ? wall_seconds() : thread_cpu_seconds();
      for (int64_t i = 0; i < block && ok; ++i) ok = t.step();
      synchronize(shape.device);
      spent[which] += (cuda ? wall_seconds() : thread_cpu_seconds()) - t0;
    }
    ++round;
    if (!ok) break;
  }
  if (!ok) {
    state.SkipWithError((plain.error() + other.error()).c_str());
    return;
  }
  state.counters["ratio_vs_plain"] = spent[0] > 0 ? spent[1] / spent[0] : 0.0;
  state.counters["steps_per_iteration"] = static_cast<double>(2 * block);
}

void register_shape(const Shape& shape) {
  for (Variant v : {Variant::kPlain, Variant::kGuards, Variant::kAnomalyMode, Variant::kLossItem, Variant::kIsfinitePerParam,
                    Variant::kGuardCallsOnly}) {
    Shape s = shape;
    // Anomaly mode is ~100x slower on CUDA: one step per synchronization keeps its runs short.
    if (v == Variant::kAnomalyMode && s.device.is_cuda()) s.steps_per_iteration = 1;
    const std::string name = s.label + "/" + variant_name(v);
    auto* b = benchmark::RegisterBenchmark(name.c_str(), [s, v](benchmark::State& st) { run_training(st, s, v); });
    b->Unit(benchmark::kMicrosecond);
    // The device works asynchronously: wall time is what a CUDA step costs. On the CPU the
    // thread's CPU time is used, which a busy shared machine disturbs less.
    if (s.device.is_cuda()) b->UseRealTime();
  }
  for (Variant v : {Variant::kGuards, Variant::kLossItem, Variant::kIsfinitePerParam}) {
    const std::string name = shape.label + "/paired/" + variant_name(v);
    auto* b = benchmark::RegisterBenchmark(name.c_str(), [shape, v](benchmark::State& st) { run_paired(st, shape, v); });
    b->Unit(benchmark::kMicrosecond);
    if (shape.device.is_cuda()) b->UseRealTime();
  }
}

std::string read_first_line(const char* path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return line;
}

}  // namespace

int main(int argc, char** argv) {
  std::ostringstream command;
  for (int i = 0; i < argc; ++i) command << (i ? " " : "") << argv[i];

  at::set_num_threads(1);
  at::globalContext().setFlushDenormal(true);
  // glibc returns large blocks to the kernel on free, so every step page-faults its activations
  // and gradients back in: noise that swamps a 1 % effect. Kept memory is reused instead.
  mallopt(M_MMAP_THRESHOLD, 256 << 20);
  mallopt(M_TRIM_THRESHOLD, 512 << 20);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;

  benchmark::AddCustomContext("command", command.str());
  benchmark::AddCustomContext("libtorch", TORCH_VERSION);
  benchmark::AddCustomContext("intra_op_threads", std::to_string(at::get_num_threads()));
  benchmark::AddCustomContext("loadavg_at_start", read_first_line("/proc/loadavg"));
  benchmark::AddCustomContext("malloc", "glibc, mmap and trim thresholds raised (no page faults per step)");

  register_shape({"cpu/8x256_b128", c10::Device(c10::kCPU), 8, 256, 128, 1});
  if (torch::cuda::is_available()) {
    register_shape({"cuda/16x1024_b512", c10::Device(c10::kCUDA, 0), 16, 1024, 512, 20});
    benchmark::AddCustomContext("cuda", "available");
  } else {
    benchmark::AddCustomContext("cuda", "unavailable: CUDA benchmarks not registered");
  }
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
