// GradScaler: skips steps on overflow, backs off, grows after growth_interval clean steps.
// The same ATen kernels run on the CPU here and on CUDA on a GPU machine.
#include <gtest/gtest.h>

#include <torch/cuda.h>

#include "backend/grad_scaler.h"
#include "backend/torch_includes.h"

namespace {

void check_scaler(c10::Device device) {
  torch::manual_seed(0);
  torch::nn::Linear layer(4, 1);
  layer->to(device);
  torch::optim::SGD opt(layer->parameters(), torch::optim::SGDOptions(0.1));
  tw::GradScaler scaler({/*init_scale=*/1024.0, /*growth_factor=*/2.0, /*backoff_factor=*/0.5, /*growth_interval=*/3});

  auto clean_step = [&] {
    opt.zero_grad();
    at::Tensor loss = layer->forward(at::randn({8, 4}, device)).pow(2).mean();
    scaler.scale(loss).backward();
    const at::Tensor before = layer->weight.detach().clone();
    const bool stepped = scaler.step(opt);
    scaler.update();
    return std::make_pair(stepped, !at::equal(before, layer->weight.detach()));
  };

  // Gradients come back unscaled: the step equals an unscaled SGD step.
  opt.zero_grad();
  at::Tensor x = at::randn({8, 4}, device);
  at::Tensor loss = layer->forward(x).pow(2).mean();
  scaler.scale(loss).backward();
  scaler.unscale(opt);
  const at::Tensor unscaled = layer->weight.grad().clone();
  opt.zero_grad();
  layer->forward(x).pow(2).mean().backward();
  EXPECT_TRUE(at::allclose(unscaled, layer->weight.grad(), 1e-4, 1e-6));
  opt.zero_grad();
  scaler.update();  // a step without overflow: tracker 1

  // Overflow: the step is skipped, the scale halves, weights do not move.
  opt.zero_grad();
  at::Tensor bad = layer->forward(at::randn({8, 4}, device)).sum() * std::numeric_limits<float>::infinity();
  scaler.scale(bad).backward();
  const at::Tensor before = layer->weight.detach().clone();
  EXPECT_FALSE(scaler.step(opt));
  scaler.update();
  EXPECT_TRUE(at::equal(before, layer->weight.detach()));
  EXPECT_EQ(scaler.current_scale(), 512.0);
  EXPECT_EQ(scaler.skipped_steps(), 1);

  // Three clean steps in a row: the scale doubles once.
  for (int i = 0; i < 3; ++i) {
    auto [stepped, moved] = clean_step();
    EXPECT_TRUE(stepped);
    EXPECT_TRUE(moved);
  }
  EXPECT_EQ(scaler.current_scale(), 1024.0);
}

TEST(GradScaler, SkipsBacksOffAndGrows) { check_scaler(c10::Device(c10::kCPU)); }

TEST(GradScaler, SkipsBacksOffAndGrows_CUDA) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  check_scaler(c10::Device(c10::kCUDA, 0));
}

}  // namespace
