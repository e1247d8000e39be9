// The training backend: deterministic data, the budgeted CPU allocator, gradient accumulation,
// and the recipe table.
#include <gtest/gtest.h>

#include <c10/util/Exception.h>

#include <torch/version.h>

#include <regex>
#include <set>

#include "backend/cell.h"
#include "backend/data.h"
#include "backend/memory.h"
#include "backend/model.h"
#include "backend/recipe.h"
#include "backend/registry.h"
#include "harness/scenario.h"
#include "harness/selftest.h"

namespace {

tw::Recipe small_recipe() {
  tw::Recipe r;
  r.data.dataset_size = 256;
  r.data.features = 8;
  r.model.width = 16;
  return r;
}

TEST(Data, SameSeedSameBytes) {
  const auto r = small_recipe();
  tw::Dataset a(r, 42, c10::Device(c10::kCPU)), b(r, 42, c10::Device(c10::kCPU)), c(r, 43, c10::Device(c10::kCPU));
  auto [xa, ya] = a.batch(3, 32);
  auto [xb, yb] = b.batch(3, 32);
  auto [xc, yc] = c.batch(3, 32);
  EXPECT_TRUE(at::equal(xa, xb));
  EXPECT_TRUE(at::equal(ya, yb));
  EXPECT_FALSE(at::equal(ya, yc));
}

TEST(Data, TargetsHaveUnitVariance) {
  auto r = small_recipe();
  r.data.dataset_size = 4096;
  tw::Dataset d(r, 7, c10::Device(c10::kCPU));
  auto [x, y] = d.batch(1, 4096);
  EXPECT_NEAR(y.std().item<double>(), 1.0, 0.1);
}

TEST(Data, UnnormalizedFeaturesAreLargeAndStandardizeFixesThem) {
  auto r = small_recipe();
  r.data.input_scale = 1000;
  r.data.input_offset = 500;
  tw::Dataset raw(r, 1, c10::Device(c10::kCPU));
  EXPECT_GT(raw.batch(1, 128).first.abs().mean().item<double>(), 100.0);
  r.data.input_transform = tw::InputTransform::kStandardize;
  tw::Dataset std_(r, 1, c10::Device(c10::kCPU));
  auto x = std_.batch(1, 256).first;
  EXPECT_LT(x.mean().abs().item<double>(), 0.2);
  EXPECT_NEAR(x.std().item<double>(), 1.0, 0.2);
}

TEST(Data, DtypesAsDeclared) {
  auto r = small_recipe();
  r.data.input_dtype = tw::InputDtype::kFloat64;
  EXPECT_EQ(tw::Dataset(r, 1, c10::Device(c10::kCPU)).batch(1, 4).first.scalar_type(), at::kDouble);
  r.data.input_dtype = tw::InputDtype::kInt64;
  EXPECT_EQ(tw::Dataset(r, 1, c10::Device(c10::kCPU)).batch(1, 4).first.scalar_type(), at::kLong);
}

TEST(Data, StreamingIsDeterministicToo) {
  auto r = small_recipe();
  r.data.data_source = tw::DataSource::kStreaming;
  tw::Dataset a(r, 5, c10::Device(c10::kCPU)), b(r, 5, c10::Device(c10::kCPU));
  EXPECT_TRUE(at::equal(a.batch(9, 16).first, b.batch(9, 16).first));
  EXPECT_FALSE(at::equal(a.batch(9, 16).first, a.batch(10, 16).first));
}

TEST(Model, GradientAccumulationMatchesTheFullBatch) {
  auto r = small_recipe();
  torch::manual_seed(3);
  tw::Net net(r);
  tw::Dataset d(r, 11, c10::Device(c10::kCPU));
  auto [x, y] = d.batch(1, 64);
  net->zero_grad();
  at::mse_loss(net->forward(x), y).backward();
  const at::Tensor full = net->layers[0]->as<torch::nn::Linear>()->weight.grad().clone();
  net->zero_grad();
  for (int m = 0; m < 4; ++m) {
    auto [xm, ym] = d.batch(1, 64, m, 4);
    (at::mse_loss(net->forward(xm), ym) / 4.0).backward();
  }
  const at::Tensor accumulated = net->layers[0]->as<torch::nn::Linear>()->weight.grad();
  EXPECT_TRUE(at::allclose(full, accumulated, /*rtol=*/1e-4, /*atol=*/1e-6));
}

TEST(Model, DetachedBranchGetsNoGradient) {
  auto r = small_recipe();
  r.model.kind = tw::ModelKind::kTwoBranch;
  r.model.detach_branch = true;
  tw::Net net(r);
  at::mse_loss(net->forward(at::randn({8, r.data.features})), at::randn({8, 1})).backward();
  for (const auto& p : net->branch_b->parameters()) EXPECT_FALSE(p.grad().defined());
  EXPECT_TRUE(net->layers[0]->as<torch::nn::Linear>()->weight.grad().defined());
}

TEST(Model, ThousandSigmoidLayersVanishAtTheFirstLayer) {
  auto r = small_recipe();
  r.model.depth = 1000;
  r.model.activation = tw::Activation::kSigmoid;
  r.model.width = 32;
  torch::manual_seed(0);
  tw::Net net(r);
  at::mse_loss(net->forward(at::randn({16, r.data.features})), at::randn({16, 1})).backward();
  auto [first, last] = tw::first_and_last_weights(net);
  EXPECT_EQ(first.grad().norm().item<double>(), 0.0);
  EXPECT_GT(last.grad().norm().item<double>(), 0.0);
}

// Installed once for the whole test binary: budgets are per process.
TEST(Memory, BudgetThrowsCatchableOutOfMemoryAndCounts) {
  tw::install_cpu_budget(int64_t{256} << 20);
  const auto before = tw::read_memory(c10::Device(c10::kCPU)).allocated;
  {
    at::Tensor t = at::empty({1 << 20}, at::kFloat);  // 4 MiB
    EXPECT_GE(tw::read_memory(c10::Device(c10::kCPU)).allocated - before, int64_t{4} << 20);
  }
  EXPECT_EQ(tw::read_memory(c10::Device(c10::kCPU)).allocated, before);
  EXPECT_THROW(at::empty({int64_t{1} << 30}, at::kFloat), c10::OutOfMemoryError);
  // The process stays usable after the error.
  EXPECT_EQ(at::ones({4}).sum().item<float>(), 4.0f);
}

// The context a run records: the LibTorch it was built with and, in a build with c10d's NCCL
// backend, the NCCL library loaded (diff compares both across runs).
TEST(Probe, ReportsLibTorchAndNcclVersions) {
  const nlohmann::json p = tw::probe_environment();
  EXPECT_EQ(p.at("libtorch").get<std::string>(), TORCH_VERSION);
#ifdef TRAINWRECK_WITH_NCCL
  EXPECT_TRUE(p.at("c10d_nccl").get<bool>());
  ASSERT_TRUE(p.contains("nccl")) << p.dump();
  EXPECT_TRUE(std::regex_match(p.at("nccl").get<std::string>(), std::regex(R"(\d+\.\d+\.\d+.*)"))) << p.dump();
#else
  EXPECT_FALSE(p.contains("nccl")) << p.dump();
#endif
}

TEST(Recipe, JsonRoundTrip) {
  tw::Recipe r;
  r.optim.lr = 0.25;
  r.model.activation = tw::Activation::kTanh;
  r.model.depth = 17;
  tw::Recipe back;
  back.apply_json(r.to_json());
  EXPECT_EQ(back.to_json(), r.to_json());
}

TEST(Registry, EveryComponentHasSummaryAndRow) {
  const tw::Catalog c = tw::registered_catalog();
  EXPECT_GE(c.faults.size(), 6u);
  for (const auto& f : c.faults) {
    EXPECT_FALSE(f.summary.empty()) << f.name;
    EXPECT_FALSE(f.article_row.empty()) << f.name;
    EXPECT_NE(tw::find_fault(f.name), nullptr);
  }
  for (const auto& m : c.mitigations) EXPECT_NE(tw::find_mitigation(m.name), nullptr) << m.name;
}

// Adding a fault or a remedy is one file and a scenario: every registered component is exercised
// by some scenario (none is dead code that nothing runs), and loading the scenarios against the
// registry proves every name they use is registered. A remedy whose outcome differs from seed to
// seed is no row; its probe (results/probes/evidence) runs it instead.
TEST(Registry, EveryComponentIsUsedByAScenario) {
  const tw::Catalog c = tw::registered_catalog();
  tw::Catalog full = tw::selftest_catalog();  // as the executable loads scenarios ("none" is there)
  full.add(c);
  const std::vector<tw::Scenario> scenarios = tw::load_scenarios(
      {TRAINWRECK_SOURCE_DIR "/scenarios", TRAINWRECK_SOURCE_DIR "/results/probes/evidence/scenarios"}, full);
  std::set<std::string> faults, mitigations;
  for (const auto& s : scenarios) {
    faults.insert(s.fault);
    for (const auto& m : s.mitigations)
      for (const auto& member : m.members()) mitigations.insert(member.name);
  }
  for (const auto& f : c.faults) EXPECT_TRUE(faults.count(f.name)) << "no scenario uses the fault " << f.name;
  for (const auto& m : c.mitigations)
    EXPECT_TRUE(mitigations.count(m.name)) << "no scenario uses the mitigation " << m.name;
}

}  // namespace
