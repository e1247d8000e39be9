// The public guards on tiny hand-built models: each must fire on its symptom and stay quiet
// on a healthy step.
#include <gtest/gtest.h>

#include "kernel/torch_includes.h"
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
  trainwreck::LeakGuard leak(/*window=*/8, /*bytes_per_step=*/1 << 20, [&] { return memory; });
  trainwreck::LeakGuard flat(/*window=*/8, /*bytes_per_step=*/1 << 20, [] { return int64_t{100} << 20; });
  int64_t detected = -1;
  for (int64_t step = 1; step <= 20 && detected < 0; ++step) {
    memory += 2 << 20;
    if (leak.after_step({step, loss, m, nullptr}).stop()) detected = step;
    EXPECT_FALSE(flat.after_step({step, loss, m, nullptr}).stop());
  }
  EXPECT_EQ(detected, 8);  // as soon as the window is full
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

}  // namespace
