// The public guards on tiny hand-built models: each must fire on its symptom and stay quiet
// on a healthy step.
#include <gtest/gtest.h>

#include <torch/cuda.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <vector>

#include "backend/torch_includes.h"
#include "trainwreck/guards.h"

namespace {

struct Tiny : torch::nn::Module {
  Tiny() {
    a = register_module("a", torch::nn::Linear(4, 4));
    b = register_module("b", torch::nn::Linear(4, 1));
  }
  at::Tensor forward(const at::Tensor& x) { return b->forward(at::relu(a->forward(x))); }
  torch::nn::Linear a{nullptr}, b{nullptr};
};

class GuardsTest : public ::testing::Test {
 protected:
  void SetUp() override { torch::manual_seed(0); }
  at::Tensor step_loss(Tiny& m, double scale = 1.0) {
    m.zero_grad();
    at::Tensor loss = m.forward(at::randn({8, 4}) * scale).pow(2).mean();
    loss.backward();
    return loss;
  }
};

TEST_F(GuardsTest, NonFiniteGuardQuietOnFiniteStep) {
  Tiny m;
  at::Tensor loss = step_loss(m);
  trainwreck::NonFiniteGuard guard;
  trainwreck::StepContext ctx{1, loss, m, nullptr};
  EXPECT_FALSE(guard.after_backward(ctx).stop());
}

TEST_F(GuardsTest, NonFiniteGuardStopsOnNanGradient) {
  Tiny m;
  at::Tensor loss = step_loss(m);
  at::Tensor g = m.a->weight.grad();
  g.index_put_({0, 0}, std::numeric_limits<float>::quiet_NaN());
  trainwreck::NonFiniteGuard guard;
  trainwreck::StepContext ctx{7, loss, m, nullptr};
  auto r = guard.after_backward(ctx);
  EXPECT_TRUE(r.stop());
  EXPECT_EQ(r.symptom_step, 7);
  EXPECT_NE(r.message.find("step 7"), std::string::npos);
}

TEST_F(GuardsTest, NonFiniteGuardStopsOnInfLoss) {
  Tiny m;
  step_loss(m);
  at::Tensor loss = at::full({}, std::numeric_limits<float>::infinity());
  trainwreck::NonFiniteGuard guard;
  EXPECT_TRUE(guard.after_backward({3, loss, m, nullptr}).stop());
}

TEST_F(GuardsTest, NonFiniteGuardRollbackRestoresWeightsAndLowersLr) {
  Tiny m;
  torch::optim::SGD opt(m.parameters(), torch::optim::SGDOptions(0.5));
  trainwreck::NonFiniteGuard guard(trainwreck::NonFiniteGuard::Policy::kRollback, 0.1);
  at::Tensor loss = step_loss(m);
  ASSERT_FALSE(guard.after_backward({1, loss, m, &opt}).skip());
  const at::Tensor good = m.a->weight.detach().clone();
  {
    torch::NoGradGuard no_grad;
    m.a->weight.fill_(123.0);
  }
  at::Tensor g = m.a->weight.grad();
  g.fill_(std::numeric_limits<float>::infinity());
  auto r = guard.after_backward({2, loss, m, &opt});
  EXPECT_TRUE(r.skip());
  EXPECT_TRUE(at::equal(m.a->weight.detach(), good));
  EXPECT_NEAR(opt.param_groups()[0].options().get_lr(), 0.05, 1e-12);
  EXPECT_EQ(guard.rollbacks(), 1);
}

TEST_F(GuardsTest, GradientFlowAuditNamesParametersWithoutGradient) {
  Tiny m;
  m.zero_grad();
  // Only b is in the graph: a's parameters get no gradient.
  at::Tensor loss = m.b->forward(at::randn({8, 4})).pow(2).mean();
  loss.backward();
  trainwreck::GradientFlowAudit audit;
  auto r = audit.after_backward({1, loss, m, nullptr});
  ASSERT_TRUE(r.stop());
  EXPECT_NE(r.message.find("a.weight"), std::string::npos);
  EXPECT_NE(r.message.find("a.bias"), std::string::npos);
  EXPECT_EQ(r.message.find("b.weight"), std::string::npos);
  // It audits the first backward only.
  EXPECT_FALSE(audit.after_backward({2, loss, m, nullptr}).stop());
}

TEST_F(GuardsTest, GradientFlowAuditQuietWhenAllParametersLearn) {
  Tiny m;
  at::Tensor loss = step_loss(m);
  trainwreck::GradientFlowAudit audit;
  EXPECT_FALSE(audit.after_backward({1, loss, m, nullptr}).stop());
}

TEST_F(GuardsTest, GradientFlowMonitorDetectsVanishingFirstLayer) {
  Tiny m;
  at::Tensor loss = step_loss(m);
  at::Tensor g = m.a->weight.grad();
  g.zero_();
  trainwreck::GradientFlowMonitor monitor(/*every=*/10);
  auto r = monitor.after_backward({10, loss, m, nullptr});
  ASSERT_TRUE(r.stop());
  EXPECT_NE(r.message.find("a.weight"), std::string::npos);
  // Between reports it does nothing (no synchronization).
  EXPECT_FALSE(monitor.after_backward({11, loss, m, nullptr}).stop());
}

TEST_F(GuardsTest, LeakGuardFiresOnSteadyGrowthOnly) {
  Tiny m;
  at::Tensor loss = at::zeros({});
  int64_t memory = 0;
  trainwreck::LeakGuard leak(/*budget_bytes=*/int64_t{1} << 30, /*window=*/8, [&] { return memory; });
  trainwreck::LeakGuard flat(/*budget_bytes=*/int64_t{1} << 30, /*window=*/8, [] { return int64_t{100} << 20; });
  int64_t detected = -1;
  for (int64_t step = 1; step <= 20 && detected < 0; ++step) {
    memory += 2 << 20;
    if (leak.after_step({step, loss, m, nullptr}).stop()) detected = step;
    EXPECT_FALSE(flat.after_step({step, loss, m, nullptr}).stop());
  }
  EXPECT_EQ(detected, 8);  // as soon as the window is full
}

TEST_F(GuardsTest, LeakGuardProjectsTheRateAgainstTheBudget) {
  // 2 KiB a step exhausts 1 GiB in about 500,000 steps (a leak) and 1 TiB in 5e8 (not one); a
  // single jump, however large, is no rate.
  Tiny m;
  at::Tensor loss = at::zeros({});
  int64_t memory = 0, jumped = int64_t{64} << 20;
  trainwreck::LeakGuard small(/*budget_bytes=*/int64_t{1} << 30, /*window=*/8, [&] { return memory; });
  trainwreck::LeakGuard large(/*budget_bytes=*/int64_t{1} << 40, /*window=*/8, [&] { return memory; });
  trainwreck::LeakGuard jump(/*budget_bytes=*/int64_t{1} << 30, /*window=*/8, [&] { return jumped; });
  bool small_stopped = false;
  for (int64_t step = 1; step <= 16; ++step) {
    memory += 2048;
    if (step == 5) jumped += int64_t{512} << 20;
    small_stopped = small_stopped || small.after_step({step, loss, m, nullptr}).stop();
    EXPECT_FALSE(large.after_step({step, loss, m, nullptr}).stop()) << step;
    EXPECT_FALSE(jump.after_step({step, loss, m, nullptr}).stop()) << step;
  }
  EXPECT_TRUE(small_stopped);
}

TEST_F(GuardsTest, LeakGuardOnResidentMemorySkipsTheWarmUp) {
  // Resident memory (the default source off CUDA) climbs while a process warms up: 64 KiB touched
  // in each of the first 12 steps and kept is a warm-up, not a leak, though 64 KiB a step would
  // exhaust 1 GiB within a million steps. 1 MiB touched every step, for good, is a leak.
  Tiny m;
  at::Tensor loss = at::zeros({});
  std::vector<std::unique_ptr<char[]>> kept;
  auto touch = [&](std::size_t bytes) {
    kept.emplace_back(new char[bytes]);
    std::memset(kept.back().get(), 1, bytes);
  };
  trainwreck::LeakGuard warming(/*budget_bytes=*/int64_t{1} << 30, /*window=*/12);
  for (int64_t step = 1; step <= 48; ++step) {
    if (step <= 12) touch(64 << 10);
    EXPECT_FALSE(warming.after_step({step, loss, m, nullptr}).stop()) << step;
  }
  trainwreck::LeakGuard leaking(/*budget_bytes=*/int64_t{1} << 30, /*window=*/12);
  int64_t detected = -1;
  for (int64_t step = 1; step <= 48 && detected < 0; ++step) {
    touch(1 << 20);
    if (leaking.after_step({step, loss, m, nullptr}).stop()) detected = step;
  }
  EXPECT_EQ(detected, 24);  // one window of warm-up, then one window of evidence
}

TEST_F(GuardsTest, StallDetectorStopsOnPlateau) {
  trainwreck::StallDetector stall(/*window=*/3, /*min_relative=*/0.01);
  EXPECT_FALSE(stall.after_eval(10, 1.0).stop());
  EXPECT_FALSE(stall.after_eval(20, 0.5).stop());
  EXPECT_FALSE(stall.after_eval(30, 0.4).stop());
  EXPECT_FALSE(stall.after_eval(40, 0.3).stop());
  EXPECT_FALSE(stall.after_eval(50, 0.3).stop());
  EXPECT_FALSE(stall.after_eval(60, 0.3).stop());
  EXPECT_TRUE(stall.after_eval(70, 0.3).stop());
}

TEST_F(GuardsTest, GuardSetStopsAtFirstStoppingGuard) {
  Tiny m;
  at::Tensor loss = at::full({}, std::numeric_limits<float>::quiet_NaN());
  step_loss(m);
  trainwreck::GuardSet set;
  set.add(std::make_shared<trainwreck::NonFiniteGuard>());
  set.add(std::make_shared<trainwreck::GradientFlowAudit>());
  auto r = set.after_backward({1, loss, m, nullptr});
  EXPECT_TRUE(r.stop());
  EXPECT_EQ(r.guard, "nonfinite_guard");
  EXPECT_EQ(set.history().size(), 1u);
}

TEST_F(GuardsTest, NonFiniteGuardNamesTheTensor) {
  Tiny m;
  at::Tensor loss = step_loss(m);
  m.b->bias.grad().fill_(-std::numeric_limits<float>::infinity());
  trainwreck::NonFiniteGuard guard;
  auto r = guard.after_backward({4, loss, m, nullptr});
  ASSERT_TRUE(r.stop());
  EXPECT_NE(r.message.find("gradient of b.bias"), std::string::npos) << r.message;
  EXPECT_EQ(r.details.value("tensor", ""), "gradient of b.bias");
  EXPECT_EQ(guard.checked_steps(), 1);
}

TEST_F(GuardsTest, NonFiniteGuardCatchesANanGradientUnderAFiniteLoss) {
  Tiny m;
  trainwreck::NonFiniteGuard guard;
  for (int64_t step = 1; step <= 3; ++step) {
    m.zero_grad();
    at::Tensor loss = m.forward(at::randn({8, 4})).pow(2).mean();
    // d/dx sqrt(x) at 0 is inf, times 0: a NaN gradient for b.bias, while the loss stays finite.
    if (step == 3) loss = loss + (m.b->bias * 0).sqrt().sum();
    loss.backward();
    ASSERT_TRUE(std::isfinite(loss.item<double>()));
    auto r = guard.after_backward({step, loss, m, nullptr});
    if (step < 3) {
      EXPECT_FALSE(r.stop()) << r.message;
    } else {
      ASSERT_TRUE(r.stop());
      EXPECT_NE(r.message.find("gradient of b.bias"), std::string::npos) << r.message;
    }
  }
}

TEST_F(GuardsTest, NonFiniteGuardSeesGradientsEditedAfterBackward) {
  // From the second step on the gradients are checked as backward produces them; an edit after
  // backward must still be seen.
  Tiny m;
  trainwreck::NonFiniteGuard guard;
  at::Tensor loss = step_loss(m);
  ASSERT_FALSE(guard.after_backward({1, loss, m, nullptr}).stop());
  loss = step_loss(m);
  m.a->bias.mutable_grad().index_put_({2}, std::numeric_limits<float>::infinity());
  EXPECT_TRUE(guard.after_backward({2, loss, m, nullptr}).stop());
}

TEST_F(GuardsTest, NonFiniteGuardQuietOnHugeFiniteGradient) {
  // A max-abs reduction: a finite gradient whose squared norm would overflow float is not NaN.
  Tiny m;
  at::Tensor loss = step_loss(m);
  m.a->weight.grad().fill_(1e30f);
  trainwreck::NonFiniteGuard guard;
  EXPECT_FALSE(guard.after_backward({1, loss, m, nullptr}).stop());
}

TEST_F(GuardsTest, NonFiniteGuardChecksReducedPrecisionAndStridedGradients) {
  for (auto dtype : {at::kHalf, at::kBFloat16, at::kDouble}) {
    Tiny m;
    m.to(dtype);
    m.zero_grad();
    at::Tensor loss = m.forward(at::randn({8, 4}).to(dtype)).pow(2).mean();
    loss.backward();
    trainwreck::NonFiniteGuard guard;
    EXPECT_FALSE(guard.after_backward({1, loss, m, nullptr}).stop()) << dtype;
    m.a->weight.mutable_grad().index_put_({1, 2}, std::numeric_limits<float>::quiet_NaN());
    EXPECT_TRUE(guard.after_backward({2, loss, m, nullptr}).stop()) << dtype;
  }
  Tiny m;
  at::Tensor loss = step_loss(m);
  at::Tensor strided = at::randn({4, 4}).t();  // not contiguous: the generic path
  strided.index_put_({3, 0}, std::numeric_limits<float>::quiet_NaN());
  m.a->weight.mutable_grad() = strided;
  trainwreck::NonFiniteGuard guard;
  EXPECT_TRUE(guard.after_backward({1, loss, m, nullptr}).stop());
}

TEST_F(GuardsTest, NonFiniteGuardChecksWeightsOnlyWhenAsked) {
  Tiny m;
  at::Tensor loss = step_loss(m);
  {
    torch::NoGradGuard no_grad;
    m.b->weight.index_put_({0, 1}, std::numeric_limits<float>::quiet_NaN());
  }
  trainwreck::NonFiniteGuard grads_only;
  EXPECT_FALSE(grads_only.after_backward({1, loss, m, nullptr}).stop());
  trainwreck::NonFiniteGuard::Options options;
  options.check_weights = true;
  trainwreck::NonFiniteGuard with_weights(options);
  auto r = with_weights.after_backward({1, loss, m, nullptr});
  ASSERT_TRUE(r.stop());
  EXPECT_NE(r.message.find("weight b.weight"), std::string::npos) << r.message;
}

TEST_F(GuardsTest, NonFiniteGuardSkipLeavesWeightsAndOptimizerState) {
  Tiny m;
  torch::optim::SGD opt(m.parameters(), torch::optim::SGDOptions(0.1).momentum(0.9));
  trainwreck::NonFiniteGuard guard(trainwreck::NonFiniteGuard::Policy::kSkipStep);
  at::Tensor loss = step_loss(m);
  ASSERT_FALSE(guard.after_backward({1, loss, m, &opt}).skip());
  opt.step();
  const at::Tensor before = m.a->weight.detach().clone();
  loss = step_loss(m);
  m.a->weight.grad().fill_(std::numeric_limits<float>::quiet_NaN());
  auto r = guard.after_backward({2, loss, m, &opt});
  EXPECT_TRUE(r.skip());
  EXPECT_TRUE(at::equal(m.a->weight.detach(), before));
  EXPECT_FALSE(opt.state().empty());  // on the CPU the bad step never reached the optimizer
  EXPECT_NEAR(opt.param_groups()[0].options().get_lr(), 0.1, 1e-12);
}

TEST_F(GuardsTest, NonFiniteGuardRollsBackToThePeriodicSnapshot) {
  Tiny m;
  torch::optim::SGD opt(m.parameters(), torch::optim::SGDOptions(0.1));
  trainwreck::NonFiniteGuard::Options options;
  options.policy = trainwreck::NonFiniteGuard::Policy::kRollback;
  options.snapshot_every = 3;
  trainwreck::NonFiniteGuard guard(options);
  at::Tensor at_step3;
  for (int64_t step = 1; step <= 5; ++step) {
    at::Tensor loss = step_loss(m);
    if (step == 3) at_step3 = m.a->weight.detach().clone();
    ASSERT_FALSE(guard.after_backward({step, loss, m, &opt}).skip());
    opt.step();
  }
  at::Tensor loss = step_loss(m);
  m.b->weight.grad().fill_(std::numeric_limits<float>::infinity());
  auto r = guard.after_backward({6, loss, m, &opt});
  ASSERT_TRUE(r.skip());
  EXPECT_TRUE(at::equal(m.a->weight.detach(), at_step3));
  EXPECT_EQ(r.details.value("restored_step", -1), 3);
  EXPECT_NE(r.message.find("(step 3)"), std::string::npos) << r.message;
}

TEST_F(GuardsTest, GuardSetFinishIsQuietOnTheCpu) {
  Tiny m;
  at::Tensor loss = step_loss(m);
  trainwreck::GuardSet set;
  set.add(std::make_shared<trainwreck::NonFiniteGuard>());
  set.add(std::make_shared<trainwreck::GradientFlowMonitor>(/*every=*/1));
  EXPECT_FALSE(set.after_backward({1, loss, m, nullptr}).stop());
  EXPECT_FALSE(set.finish({1, loss, m, nullptr}).stop());
  EXPECT_TRUE(set.history().empty());
}

TEST_F(GuardsTest, ResidentMemoryIsReadable) {
  const int64_t rss = trainwreck::resident_memory_bytes();
  EXPECT_GT(rss, int64_t{1} << 20);
  EXPECT_GT(trainwreck::resident_memory_bytes(), 0);  // the second read reuses the open file
}

// On CUDA the flag of step k is read at step k+1; the policies undo the update already applied.
class GuardsCudaTest : public GuardsTest {
 protected:
  void SetUp() override {
    if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
    GuardsTest::SetUp();
  }
  // A step on the device; `poison` puts a NaN into a.weight's gradient.
  at::Tensor cuda_step(Tiny& m, bool poison = false) {
    m.zero_grad();
    at::Tensor loss = m.forward(at::randn({8, 4}, at::kCUDA)).pow(2).mean();
    loss.backward();
    if (poison) m.a->weight.mutable_grad().index_put_({0, 0}, std::numeric_limits<float>::quiet_NaN());
    return loss;
  }
};

TEST_F(GuardsCudaTest, NonFiniteGuardReadsOneStepLate_CUDA) {
  Tiny m;
  m.to(at::kCUDA);
  trainwreck::NonFiniteGuard guard;
  at::Tensor loss = cuda_step(m);
  EXPECT_FALSE(guard.after_backward({1, loss, m, nullptr}).stop());
  loss = cuda_step(m, /*poison=*/true);
  EXPECT_FALSE(guard.after_backward({2, loss, m, nullptr}).stop());  // queued, not read
  loss = cuda_step(m);
  auto r = guard.after_backward({3, loss, m, nullptr});
  ASSERT_TRUE(r.stop());
  EXPECT_EQ(r.symptom_step, 2);
  EXPECT_EQ(r.step, 3);
  EXPECT_NE(r.message.find("gradient of a.weight"), std::string::npos) << r.message;
}

TEST_F(GuardsCudaTest, NonFiniteGuardFinishReadsTheLastStep_CUDA) {
  Tiny m;
  m.to(at::kCUDA);
  trainwreck::GuardSet set;
  set.add(std::make_shared<trainwreck::NonFiniteGuard>());
  at::Tensor loss = cuda_step(m, /*poison=*/true);
  EXPECT_FALSE(set.after_backward({1, loss, m, nullptr}).stop());
  auto r = set.finish({1, loss, m, nullptr});
  ASSERT_TRUE(r.stop());
  EXPECT_EQ(r.symptom_step, 1);
}

TEST_F(GuardsCudaTest, NonFiniteGuardSkipUndoesTheBadUpdate_CUDA) {
  Tiny m;
  m.to(at::kCUDA);
  torch::optim::SGD opt(m.parameters(), torch::optim::SGDOptions(0.1).momentum(0.9));
  trainwreck::NonFiniteGuard guard(trainwreck::NonFiniteGuard::Policy::kSkipStep);
  at::Tensor loss = cuda_step(m);
  ASSERT_FALSE(guard.after_backward({1, loss, m, &opt}).skip());
  opt.step();
  const at::Tensor before_bad = m.a->weight.detach().clone();
  loss = cuda_step(m, /*poison=*/true);
  ASSERT_FALSE(guard.after_backward({2, loss, m, &opt}).skip());
  opt.step();  // the NaN reaches the weights: the flag is not read yet
  loss = cuda_step(m);
  auto r = guard.after_backward({3, loss, m, &opt});
  ASSERT_TRUE(r.skip());
  EXPECT_EQ(r.symptom_step, 2);
  EXPECT_TRUE(at::equal(m.a->weight.detach(), before_bad));
  EXPECT_TRUE(opt.state().empty());
}

TEST_F(GuardsCudaTest, NonFiniteGuardRollbackRestoresAConfirmedSnapshot_CUDA) {
  Tiny m;
  m.to(at::kCUDA);
  torch::optim::SGD opt(m.parameters(), torch::optim::SGDOptions(0.5));
  trainwreck::NonFiniteGuard::Options options;
  options.policy = trainwreck::NonFiniteGuard::Policy::kRollback;
  options.snapshot_every = 2;
  trainwreck::NonFiniteGuard guard(options);
  at::Tensor at_step2;
  for (int64_t step = 1; step <= 3; ++step) {
    at::Tensor loss = cuda_step(m);
    if (step == 2) at_step2 = m.a->weight.detach().clone();
    ASSERT_FALSE(guard.after_backward({step, loss, m, &opt}).skip());
    opt.step();
  }
  at::Tensor loss = cuda_step(m, /*poison=*/true);
  ASSERT_FALSE(guard.after_backward({4, loss, m, &opt}).skip());
  opt.step();
  loss = cuda_step(m);
  auto r = guard.after_backward({5, loss, m, &opt});
  ASSERT_TRUE(r.skip());
  EXPECT_EQ(r.symptom_step, 4);
  EXPECT_EQ(r.details.value("restored_step", -1), 2);
  EXPECT_TRUE(at::equal(m.a->weight.detach(), at_step2));
  EXPECT_NEAR(opt.param_groups()[0].options().get_lr(), 0.05, 1e-12);
}

TEST_F(GuardsCudaTest, GradientFlowMonitorReportsOneStepLate_CUDA) {
  Tiny m;
  m.to(at::kCUDA);
  trainwreck::GradientFlowMonitor monitor(/*every=*/10);
  at::Tensor loss = cuda_step(m);
  m.a->weight.grad().zero_();
  EXPECT_FALSE(monitor.after_backward({10, loss, m, nullptr}).stop());
  auto r = monitor.after_backward({11, loss, m, nullptr});
  ASSERT_TRUE(r.stop());
  EXPECT_EQ(r.symptom_step, 10);
  EXPECT_NE(r.message.find("a.weight"), std::string::npos);
}

TEST_F(GuardsCudaTest, LeakGuardWatchesTheDeviceAllocator_CUDA) {
  Tiny m;
  m.to(at::kCUDA);
  at::Tensor loss = cuda_step(m);
  std::vector<at::Tensor> kept;
  trainwreck::LeakGuard leak(/*budget_bytes=*/int64_t{1} << 30, /*window=*/6);
  int64_t detected = -1;
  for (int64_t step = 1; step <= 12 && detected < 0; ++step) {
    kept.push_back(at::empty({4 << 20}, at::TensorOptions().device(at::kCUDA).dtype(at::kByte)));
    if (leak.after_step({step, loss, m, nullptr}).stop()) detected = step;
  }
  EXPECT_EQ(detected, 6);
}


}  // namespace
