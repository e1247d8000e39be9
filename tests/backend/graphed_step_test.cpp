// A training step replayed as a CUDA graph trains as the eager step does: the same losses and
// weights, step by step (on a GPU machine); which recipes may be replayed (everywhere).
#include <gtest/gtest.h>

#include <torch/cuda.h>

#include <vector>

#include "backend/graphed_step.h"
#include "backend/loop_hooks.h"
#include "backend/model.h"
#include "backend/torch_includes.h"
#include "trainwreck/guards.h"

namespace {

TEST(GraphedStep, OnlyThePlainStepIsReplayed) {
  tw::Recipe r;
  EXPECT_EQ(tw::graph_ineligible_reason(r), "");
  r.optim.schedule = tw::Schedule::kWarmupCosine;  // the schedule steps the optimizer outside the graph
  EXPECT_EQ(tw::graph_ineligible_reason(r), "");
  auto reason = [](auto change) {
    tw::Recipe x;
    change(x);
    return tw::graph_ineligible_reason(x);
  };
  EXPECT_NE(reason([](tw::Recipe& x) { x.optim.kind = tw::OptimizerKind::kAdam; }), "");
  EXPECT_NE(reason([](tw::Recipe& x) { x.optim.accumulation_steps = 2; }), "");
  EXPECT_NE(reason([](tw::Recipe& x) { x.optim.autocast = tw::Autocast::kFp16; }), "");
  EXPECT_NE(reason([](tw::Recipe& x) { x.optim.clip_norm = 1.0; }), "");
  EXPECT_NE(reason([](tw::Recipe& x) { x.hooks.push_back(std::make_shared<tw::LoopHook>()); }), "");
  EXPECT_NE(reason([](tw::Recipe& x) { x.guards.push_back(std::make_shared<trainwreck::LossSpikeGuard>(10.0)); }),
            "");
}

TEST(GraphedStep, CaptureNeedsCudaTensors) {
  const tw::GraphedStep::Body body = [](const at::Tensor& x, const at::Tensor&) { return x.sum(); };
  EXPECT_THROW(tw::GraphedStep::capture(body, at::ones({2, 2}), at::ones({2, 1})), c10::Error);
}

// Ten steps of a deep sigmoid MLP with SGD and momentum: eager throughout, or three eager steps
// and then the captured step replayed.
std::vector<double> train_steps(bool graphed, std::vector<at::Tensor>& weights) {
  const c10::Device device(c10::kCUDA, 0);
  tw::SideStream stream(device);
  tw::Recipe r;
  r.model.depth = 12;
  r.model.width = 16;
  r.model.activation = tw::Activation::kSigmoid;
  torch::manual_seed(7);
  tw::Net net(r);
  net->to(device);
  torch::optim::SGD opt(net->parameters(), torch::optim::SGDOptions(0.05).momentum(0.9));
  const tw::GraphedStep::Body body = [&](const at::Tensor& x, const at::Tensor& y) {
    opt.zero_grad();
    at::Tensor loss = at::mse_loss(net->forward(x), y);
    loss.backward();
    opt.step();
    return loss.detach();
  };
  std::unique_ptr<tw::GraphedStep> graph;
  std::vector<double> losses;
  for (int step = 0; step < 10; ++step) {
    at::Tensor x = at::randn({32, r.data.features}, at::TensorOptions().device(device));
    at::Tensor y = x.sum(1, /*keepdim=*/true) * 0.1;
    if (graphed && step >= 3 && !graph) graph = tw::GraphedStep::capture(body, x, y);
    losses.push_back((graph ? graph->run(x, y) : body(x, y)).item<double>());
  }
  for (const auto& p : net->parameters()) weights.push_back(p.detach().cpu());
  return losses;
}

TEST(GraphedStep, ReplayTrainsAsTheEagerStep_CUDA) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  std::vector<at::Tensor> eager_w, graph_w;
  torch::manual_seed(1);
  const std::vector<double> eager = train_steps(false, eager_w);
  torch::manual_seed(1);
  const std::vector<double> graphed = train_steps(true, graph_w);
  ASSERT_EQ(eager.size(), graphed.size());
  for (std::size_t i = 0; i < eager.size(); ++i) EXPECT_NEAR(graphed[i], eager[i], 1e-6 * std::abs(eager[i])) << "step " << i;
  EXPECT_NE(eager.front(), eager.back());  // it trained
  ASSERT_EQ(eager_w.size(), graph_w.size());
  for (std::size_t i = 0; i < eager_w.size(); ++i) EXPECT_TRUE(at::allclose(graph_w[i], eager_w[i], 1e-5, 1e-7)) << i;
}

}  // namespace
