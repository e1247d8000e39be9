// The workloads besides the MLP: each trains through the kernel's loop to its target on the CPU,
// its data are what they claim, and a fault that changes a field a workload does not have makes
// the cell unsupported instead of training something else.
#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include "backend/data.h"
#include "backend/workloads.h"
#include "train_events.h"

namespace {
using nlohmann::json;
using tw_test::train_events;

json last_of(const std::vector<json>& events, const std::string& kind) {
  json found = json::object();
  for (const auto& e : events)
    if (e.value("event", "") == kind) found = e;
  return found;
}

tw::Recipe workload(const std::string& name) {
  tw::Recipe r;
  r.apply_json({{"model", name}});
  if (name == "cnn") r.apply_json({{"norm", "batchnorm"}, {"target_loss", 0.2}});
  if (name == "transformer")
    r.apply_json({{"depth", 2}, {"width", 32}, {"activation", "gelu"}, {"optimizer", "adamw"}, {"lr", 0.003},
                  {"schedule", "warmup_cosine"}, {"target_loss", 0.1}});
  if (name == "lstm") r.apply_json({{"depth", 1}, {"width", 32}, {"features", 4}});
  return r;
}

class EveryWorkload : public ::testing::TestWithParam<std::string> {};

TEST_P(EveryWorkload, TrainsToItsTargetOnTheCpu) {
  const std::vector<json> events = train_events(workload(GetParam()));
  const auto v = tw_test::verdict_of(events);
  EXPECT_EQ(v.outcome, tw::Outcome::kHealthy) << v.evidence.dump();
  EXPECT_EQ(last_of(events, "start").value("workload", ""), GetParam());
}

TEST_P(EveryWorkload, SameSeedSameDataAndSameLosses) {
  const tw::Recipe r = workload(GetParam());
  tw::Dataset a(r, 7, c10::Device(c10::kCPU)), b(r, 7, c10::Device(c10::kCPU)), c(r, 8, c10::Device(c10::kCPU));
  EXPECT_TRUE(at::equal(a.batch(3, 16).first, b.batch(3, 16).first));
  EXPECT_TRUE(at::equal(a.batch(3, 16).second, b.batch(3, 16).second));
  EXPECT_FALSE(at::equal(a.batch(3, 16).first, c.batch(3, 16).first));
}

INSTANTIATE_TEST_SUITE_P(Workloads, EveryWorkload, ::testing::Values("cnn", "transformer", "lstm"));

TEST(Workloads, TransformerTargetsAreTheNextTokenAndTheUnpredictableOnesAreIgnored) {
  const tw::Recipe r = workload("transformer");
  tw::Dataset d(r, 3, c10::Device(c10::kCPU));
  auto [x, y] = d.batch(1, 8);
  ASSERT_EQ(x.sizes(), (std::vector<int64_t>{8, r.model.seq_len}));
  EXPECT_EQ(x.scalar_type(), at::kLong);
  // Each sequence repeats its first four tokens; the first three targets cannot be known.
  EXPECT_TRUE(at::equal(y.narrow(1, 0, 3), at::full({8, 3}, -100, at::kLong)));
  EXPECT_TRUE(at::equal(y.narrow(1, 3, r.model.seq_len - 4), x.narrow(1, 4, r.model.seq_len - 4)));
  EXPECT_TRUE(at::equal(x.narrow(1, 4, r.model.seq_len - 4), x.narrow(1, 0, r.model.seq_len - 4)));
}

TEST(Workloads, CnnImagesAreOneChannelWithClassTargets) {
  tw::Recipe r = workload("cnn");
  tw::Dataset d(r, 3, c10::Device(c10::kCPU));
  auto [x, y] = d.batch(1, 32);
  EXPECT_EQ(x.sizes(), (std::vector<int64_t>{32, 1, r.model.image_size, r.model.image_size}));
  EXPECT_EQ(y.scalar_type(), at::kLong);
  EXPECT_LT(y.max().item<int64_t>(), r.model.classes);
  EXPECT_EQ(tw::resolved_loss(r), tw::LossKind::kCrossEntropy);
}

TEST(Workloads, TransformerRecordsWhichAttentionKernelRan) {
  const json evidence = last_of(train_events([] {
                                  tw::Recipe r = workload("transformer");
                                  r.loop.steps = 3;
                                  return r;
                                }()),
                                "evidence");
  const std::string backend = evidence.value("sdpa_backend", "");
  EXPECT_TRUE(backend == "flash" || backend == "math") << evidence.dump();
}

TEST(Workloads, AFieldTheWorkloadDoesNotHaveMakesTheCellUnsupported) {
  tw::Recipe base = workload("transformer");
  tw::Recipe scaled = base;
  scaled.data.input_scale = 1000;  // tokens have no scale
  EXPECT_NE(tw::workload_unsupported(base, scaled).find("recipe.input_scale"), std::string::npos);
  tw::Recipe fast = base;
  fast.optim.lr = 1.0;
  EXPECT_EQ(tw::workload_unsupported(base, fast), "");

  tw::Recipe scripted;
  scripted.model.kind = tw::ModelKind::kScripted;
  tw::Recipe deeper = scripted;
  deeper.model.depth = 1000;
  const std::string why = tw::workload_unsupported(scripted, deeper);
  EXPECT_NE(why.find("recipe.depth"), std::string::npos) << why;
  EXPECT_NE(why.find("fixed by its file"), std::string::npos) << why;
  tw::Recipe two_branch = scripted;
  two_branch.model.kind = tw::ModelKind::kTwoBranch;  // what detached_branch does to a recipe
  EXPECT_NE(tw::workload_unsupported(scripted, two_branch).find("replaces the scripted workload"), std::string::npos);
  tw::Recipe big_batch = scripted;
  big_batch.data.batch_size = 65536;
  EXPECT_EQ(tw::workload_unsupported(scripted, big_batch), "");
}

TEST(Workloads, ARecipeNamingFilesIsCheckedBeforeAnyCell) {
  auto problem = tw::check_recipe_files({{"model", "scripted"}});
  ASSERT_TRUE(problem);
  EXPECT_EQ(problem->field, "recipe.model_file");
  problem = tw::check_recipe_files({{"model", "mlp"}, {"data_file", "/tmp/x.pt"}});
  ASSERT_TRUE(problem);
  EXPECT_EQ(problem->field, "recipe.data_file");
  EXPECT_FALSE(tw::check_recipe_files({{"model", "cnn"}}));
  problem = tw::check_recipe_files({{"model", "transformer"}, {"width", 30}, {"heads", 4}});
  ASSERT_TRUE(problem);
  EXPECT_EQ(problem->field, "recipe.heads");

  // Something that is not a torch.save'd dict is named as the data file's problem.
  const std::string junk = ::testing::TempDir() + "/tw_not_a_pickle.pt";
  std::ofstream(junk) << "not a pickle";
  problem = tw::check_recipe_files({{"model", "scripted"}, {"model_file", junk}, {"data_file", junk}});
  ASSERT_TRUE(problem);
  EXPECT_EQ(problem->field, "recipe.data_file");
  EXPECT_NE(problem->message.find(junk), std::string::npos) << problem->message;
}

}  // namespace
