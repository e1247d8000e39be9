// A plain LibTorch training loop whose learning rate is far too high, with trainwreck's guards
// attached. It trains the same model three times:
//   1. unguarded, reading every value on the host, to find the step where the loss goes bad;
//   2. with the non-finite guard stopping the run: it must name that step;
//   3. with the guard rolling back and lowering the learning rate: the run must recover.
// Exits 0 only if all three agree, so it doubles as a test.
//
//   guarded_training [cpu|cuda]        (default: cuda when a device is present)
#include <torch/cuda.h>
#include <torch/nn/modules/linear.h>
#include <torch/optim/sgd.h>
#include <torch/utils.h>
#include <trainwreck/guards.h>

#include <ATen/ops/isfinite.h>
#include <ATen/ops/mse_loss.h>
#include <ATen/ops/randn.h>
#include <ATen/ops/relu.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>

namespace {

constexpr int64_t kSeed = 0;
constexpr int64_t kSteps = 200;
// About ten times too high for inputs of scale 10: the loss overflows within a few steps.
constexpr double kLearningRate = 0.05;
constexpr double kMomentum = 0.9;
constexpr int64_t kBatch = 256;
constexpr int64_t kFeatures = 8;

struct NetImpl : torch::nn::Module {
  NetImpl() {
    hidden = register_module("hidden", torch::nn::Linear(kFeatures, 32));
    out = register_module("out", torch::nn::Linear(32, 1));
  }
  at::Tensor forward(const at::Tensor& x) { return out->forward(at::relu(hidden->forward(x))); }
  torch::nn::Linear hidden{nullptr}, out{nullptr};
};
TORCH_MODULE(Net);

// Unnormalized inputs (scale 10) and a linear target.
struct Data {
  at::Tensor x, y;
};

struct Run {
  Net net{nullptr};
  std::unique_ptr<torch::optim::SGD> optimizer;
  Data data;
};

Run start(c10::Device device) {
  torch::manual_seed(kSeed);
  Run run;
  run.net = Net();
  run.net->to(device);
  run.optimizer = std::make_unique<torch::optim::SGD>(run.net->parameters(),
                                                      torch::optim::SGDOptions(kLearningRate).momentum(kMomentum));
  const at::Tensor x = at::randn({kBatch, kFeatures}, at::TensorOptions().device(device)) * 10;
  run.data = {x, x.sum(/*dim=*/1, /*keepdim=*/true) * 0.5};
  return run;
}

// The first step whose loss or gradients are not finite, found the slow way: every value is
// read on the host every step. -1 if the run stays finite.
int64_t first_nonfinite_step(c10::Device device) {
  Run run = start(device);
  for (int64_t step = 1; step <= kSteps; ++step) {
    run.optimizer->zero_grad();
    at::Tensor loss = at::mse_loss(run.net->forward(run.data.x), run.data.y);
    loss.backward();
    bool finite = std::isfinite(loss.item<double>());
    for (const auto& p : run.net->parameters()) finite = finite && at::isfinite(p.grad()).all().item<bool>();
    if (!finite) return step;
    run.optimizer->step();
  }
  return -1;
}

struct Outcome {
  trainwreck::GuardReport stop;  // the report that stopped the run, if one did
  int64_t steps = 0;
  double first_loss = NAN;
  double final_loss = NAN;
  int64_t rollbacks = 0;
};

Outcome train(c10::Device device, trainwreck::NonFiniteGuard::Policy policy) {
  Run run = start(device);
  // The guards: a few lines around an otherwise unchanged loop.
  auto nonfinite = std::make_shared<trainwreck::NonFiniteGuard>(policy, /*rollback_lr_factor=*/0.1);
  trainwreck::GuardSet guards;
  guards.add(nonfinite);
  guards.add(std::make_shared<trainwreck::GradientFlowAudit>());
  guards.add(std::make_shared<trainwreck::GradientFlowMonitor>(/*every=*/50));
  guards.add(std::make_shared<trainwreck::LeakGuard>());

  Outcome outcome;
  at::Tensor loss;
  int64_t step = 1;
  for (; step <= kSteps; ++step) {
    run.optimizer->zero_grad();
    loss = at::mse_loss(run.net->forward(run.data.x), run.data.y);
    loss.backward();
    trainwreck::StepContext ctx{step, loss, *run.net, run.optimizer.get()};
    trainwreck::GuardReport report = guards.after_backward(ctx);
    if (report.stop()) {
      outcome.stop = report;
      break;
    }
    if (report.skip()) run.optimizer->zero_grad();
    else run.optimizer->step();
    report = guards.after_step(ctx);
    if (report.stop()) {
      outcome.stop = report;
      break;
    }
    if (step == 1) outcome.first_loss = loss.item<double>();  // once, for the summary
  }
  outcome.steps = std::min(step, kSteps);
  if (!outcome.stop.stop()) {
    const trainwreck::StepContext ctx{outcome.steps, loss, *run.net, run.optimizer.get()};
    trainwreck::GuardReport report = guards.finish(ctx);
    if (report.stop()) outcome.stop = report;
  }
  for (const auto& r : guards.history())
    std::printf("  [%s] step %lld: %s\n", r.guard.c_str(), static_cast<long long>(r.step), r.message.c_str());
  outcome.final_loss = loss.item<double>();
  outcome.rollbacks = nonfinite->rollbacks();
  return outcome;
}

}  // namespace

int main(int argc, char** argv) {
  const bool cuda = argc > 1 ? std::strcmp(argv[1], "cuda") == 0 : torch::cuda::is_available();
  if (cuda && !torch::cuda::is_available()) {
    std::fprintf(stderr, "guarded_training: CUDA was asked for but no device is available\n");
    return 2;
  }
  const c10::Device device = cuda ? c10::Device(c10::kCUDA, 0) : c10::Device(c10::kCPU);
  std::printf("guarded_training on %s: SGD, lr %g, momentum %g, inputs of scale 10\n", device.str().c_str(), kLearningRate,
              kMomentum);
  int failures = 0;
  auto expect = [&](bool ok, const char* what) {
    std::printf("%s %s\n", ok ? "ok:  " : "FAIL:", what);
    failures += ok ? 0 : 1;
  };

  const int64_t bad_step = first_nonfinite_step(device);
  std::printf("unguarded: the loss or a gradient is first non-finite at step %lld\n", static_cast<long long>(bad_step));
  expect(bad_step > 0, "the learning rate makes the run diverge");

  std::printf("guarded, policy stop:\n");
  const Outcome stopped = train(device, trainwreck::NonFiniteGuard::Policy::kStop);
  expect(stopped.stop.stop() && stopped.stop.guard == "nonfinite_guard", "the non-finite guard stopped the run");
  expect(stopped.stop.symptom_step == bad_step, "it names the step where the values went bad");
  // On CUDA the flag is read one step late rather than synchronizing every step.
  expect(stopped.stop.step - stopped.stop.symptom_step == (cuda ? 1 : 0), "it saw them within its latency");

  std::printf("guarded, policy rollback:\n");
  const Outcome recovered = train(device, trainwreck::NonFiniteGuard::Policy::kRollback);
  std::printf("  %lld rollbacks; loss %g at step 1, %g at step %lld\n", static_cast<long long>(recovered.rollbacks),
              recovered.first_loss, recovered.final_loss, static_cast<long long>(recovered.steps));
  expect(recovered.rollbacks >= 1, "the guard rolled back at least once");
  expect(!recovered.stop.stop() && recovered.steps == kSteps, "the run trained to the end");
  expect(std::isfinite(recovered.final_loss) && recovered.final_loss < recovered.first_loss,
         "the final loss is finite and below the first");
  return failures == 0 ? 0 : 1;
}
