// Scenarios: parsing with defaults, the round trip through JSON, stacks of mitigations, pinning
// expectations from a run, and the GPUs a scenario requires.
#include "harness/scenario.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "harness/errors.h"
#include "scenario_test_util.h"

namespace {
using nlohmann::json;
using tw::InputError;
using namespace tw_test::scenario_util;

// LibTorch 2.12 and later need C++20 (ATen stops with #error under C++17), so the whole
// project compiles as C++20 with every LibTorch: the harness too, where a C++20 keyword used as
// a name (such as `requires`) is caught on machines without LibTorch.
static_assert(__cplusplus >= 202002L, "trainwreck compiles as C++20 (CMAKE_CXX_STANDARD 20)");

TEST(ScenarioParse, ReportsTheGivenWhereForText) {
  try {
    tw::parse_scenario(with(R"({"params": {"lr": 0}})"), "inline.json", test_catalog());
    FAIL() << "zero lr accepted";
  } catch (const InputError& e) {
    EXPECT_EQ(e.where(), "inline.json");
    EXPECT_EQ(e.field(), "params.lr");
    EXPECT_EQ(e.describe(), "inline.json: field 'params.lr': must be > 0 (got 0)");
  }
}

TEST(ScenarioParse, ValidScenarioHasEveryField) {
  const tw::Scenario s = tw::parse_scenario(base_scenario().dump(), "lr_one.json", test_catalog());
  EXPECT_EQ(s.file, "lr_one.json");
  EXPECT_EQ(s.name, "lr_one");
  EXPECT_EQ(s.fault, "lr_too_high");
  EXPECT_EQ(s.params["lr"], 1.0);
  EXPECT_EQ(s.params["steps"], 50);
  EXPECT_EQ(s.recipe["batch_size"], 64);
  EXPECT_DOUBLE_EQ(s.limits.wall_seconds, 60);
  EXPECT_DOUBLE_EQ(s.limits.heartbeat_seconds, 10);
  EXPECT_EQ(s.limits.memory_mb, 512);
  EXPECT_EQ(s.devices, (std::vector<std::string>{"cpu", "cuda"}));
  EXPECT_TRUE(s.requirements.empty());
  ASSERT_EQ(s.mitigations.size(), 3u);
  EXPECT_EQ(s.mitigations[0].label, "none");  // label defaults to the name
  EXPECT_EQ(s.mitigations[1].name, "lower_lr");
  EXPECT_EQ(s.mitigations[1].label, "lr_0_01");
  EXPECT_EQ(s.mitigations[1].params["lr"], 0.01);
  ASSERT_EQ(s.mitigations[1].expect.size(), 1u);
  EXPECT_EQ(s.mitigations[1].expect.at("cpu"), tw::Outcome::kHealthy);
  EXPECT_EQ(s.mitigations[0].expect.at("cuda"), tw::Outcome::kDiverged);
}

TEST(ScenarioParse, MinimalScenarioGetsDefaults) {
  const tw::Scenario s = tw::parse_scenario(
      R"({"name": "m", "fault": "lr_too_high", "mitigations": [{"name": "none"}]})", "m.json", test_catalog());
  const tw::Limits defaults;
  EXPECT_EQ(s.devices, (std::vector<std::string>{"cpu", "cuda"}));
  EXPECT_DOUBLE_EQ(s.limits.wall_seconds, defaults.wall_seconds);
  EXPECT_DOUBLE_EQ(s.limits.heartbeat_seconds, defaults.heartbeat_seconds);
  EXPECT_EQ(s.limits.memory_mb, defaults.memory_mb);
  EXPECT_FALSE(s.limits.exclusive);
  EXPECT_TRUE(s.params.is_object() && s.params.empty());
  EXPECT_TRUE(s.mitigations[0].expect.empty());
}

void expect_same(const tw::Scenario& a, const tw::Scenario& b) {
  EXPECT_EQ(a.name, b.name);
  EXPECT_EQ(a.fault, b.fault);
  EXPECT_EQ(a.description, b.description);
  EXPECT_EQ(a.params, b.params);
  EXPECT_EQ(a.recipe, b.recipe);
  EXPECT_EQ(a.limits.wall_seconds, b.limits.wall_seconds);
  EXPECT_EQ(a.limits.heartbeat_seconds, b.limits.heartbeat_seconds);
  EXPECT_EQ(a.limits.memory_mb, b.limits.memory_mb);
  EXPECT_EQ(a.limits.exclusive, b.limits.exclusive);
  EXPECT_EQ(a.devices, b.devices);
  EXPECT_EQ(a.requirements, b.requirements);
  ASSERT_EQ(a.mitigations.size(), b.mitigations.size());
  for (std::size_t i = 0; i < a.mitigations.size(); ++i) {
    EXPECT_EQ(a.mitigations[i].name, b.mitigations[i].name);
    EXPECT_EQ(a.mitigations[i].label, b.mitigations[i].label);
    EXPECT_EQ(a.mitigations[i].params, b.mitigations[i].params);
    EXPECT_EQ(a.mitigations[i].stack, b.mitigations[i].stack);
    EXPECT_EQ(a.mitigations[i].expect, b.mitigations[i].expect);
  }
}

TEST(ScenarioRoundTrip, ToJsonParsesBackToEqualValues) {
  json j = base_scenario();
  j["requires"] = {"cuda"};
  const tw::Scenario first = tw::parse_scenario(j.dump(), "a.json", test_catalog());
  const json out = first.to_json();
  const tw::Scenario second = tw::parse_scenario(out.dump(), "b.json", test_catalog());
  expect_same(first, second);
  EXPECT_EQ(second.to_json(), out);  // a fixed point after one trip
  EXPECT_EQ(out["requires"], json({"cuda"}));
  EXPECT_FALSE(out["mitigations"][0].contains("label"));  // only written when it differs
  EXPECT_EQ(out["mitigations"][1]["label"], "lr_0_01");
}

TEST(ScenarioRoundTrip, MinimalScenarioRoundTrips) {
  const tw::Scenario first = tw::parse_scenario(
      R"({"name": "m", "fault": "collective_mismatch", "devices": ["cuda"], "mitigations": [{"name": "none"}]})",
      "m.json", test_catalog());
  const tw::Scenario second = tw::parse_scenario(first.to_json().dump(), "m2.json", test_catalog());
  expect_same(first, second);
  EXPECT_FALSE(first.to_json().contains("requires"));
}

// ---- stacks ----------------------------------------------------------------------------------

json stack_scenario() {
  json s = base_scenario();
  s["mitigations"].push_back(json::parse(R"({"apply": ["residual", "batchnorm",
                                                     {"name": "he_init", "params": {"gain": 2}}],
      "label": "resnet", "params": {"residual": {"every": 2}}, "expect": {"cpu": "healthy"},
      "note": "He et al. 2016"})"));
  s["mitigations"].push_back(
      json::parse(R"({"apply": [{"name": "residual", "params": {"every": 4}}], "label": "res4"})"));
  return s;
}

TEST(ScenarioStack, EveryFormParsesIntoMembersInApplicationOrder) {
  const tw::Scenario s = tw::parse_scenario(stack_scenario().dump(), "stack.json", test_catalog());
  ASSERT_EQ(s.mitigations.size(), 5u);
  const tw::MitigationEntry& resnet = s.mitigations[3];
  EXPECT_TRUE(resnet.is_stack());
  EXPECT_EQ(resnet.name, "residual+batchnorm+he_init");
  EXPECT_EQ(resnet.label, "resnet");
  EXPECT_EQ(resnet.params, json::object());
  ASSERT_EQ(resnet.stack.size(), 3u);
  EXPECT_EQ(resnet.stack[0], (tw::StackMember{"residual", {{"every", 2}}}));  // from "params" by member
  EXPECT_EQ(resnet.stack[1], (tw::StackMember{"batchnorm", json::object()}));
  EXPECT_EQ(resnet.stack[2], (tw::StackMember{"he_init", {{"gain", 2}}}));  // from the member's object
  EXPECT_EQ(resnet.expect.at("cpu"), tw::Outcome::kHealthy);
  // A stack of one is that mitigation, under its label.
  const tw::MitigationEntry& res4 = s.mitigations[4];
  EXPECT_FALSE(res4.is_stack());
  EXPECT_EQ(res4.name, "residual");
  EXPECT_EQ(res4.params, json({{"every", 4}}));
  // A single mitigation is a stack of one; "none" is the empty stack.
  EXPECT_EQ(s.mitigations[1].stack, (std::vector<tw::StackMember>{{"lower_lr", {{"lr", 0.01}}}}));
  EXPECT_TRUE(s.mitigations[0].stack.empty());
  EXPECT_EQ(tw::stack_name(resnet.stack), "residual+batchnorm+he_init");
}

TEST(ScenarioStack, RoundTripsInTheApplyForm) {
  const tw::Scenario first = tw::parse_scenario(stack_scenario().dump(), "a.json", test_catalog());
  const json out = first.to_json();
  const json& resnet = out["mitigations"][3];
  EXPECT_FALSE(resnet.contains("name"));
  EXPECT_EQ(resnet["label"], "resnet");
  EXPECT_EQ(resnet["apply"], json::parse(R"([{"name": "residual", "params": {"every": 2}}, "batchnorm",
                                              {"name": "he_init", "params": {"gain": 2}}])"));
  EXPECT_EQ(out["mitigations"][4]["name"], "residual");  // a stack of one: the plain form
  EXPECT_EQ(out["mitigations"][4]["params"], json({{"every", 4}}));
  const tw::Scenario second = tw::parse_scenario(out.dump(), "b.json", test_catalog());
  expect_same(first, second);
  EXPECT_EQ(second.to_json(), out);
}

TEST(ScenarioStack, MembersNotInTheCatalogAreNamedWithTheFile) {
  json s = stack_scenario();
  s["mitigations"][3]["apply"][1] = "layernorm";
  try {
    tw::parse_scenario(s.dump(), "scenarios/deep.json", test_catalog());
    FAIL() << "accepted";
  } catch (const InputError& e) {
    EXPECT_EQ(e.describe(),
              "scenarios/deep.json: field 'mitigations[3].apply[1]': unknown mitigation 'layernorm' "
              "(see 'trainwreck list')");
  }
}

// ---- pin ------------------------------------------------------------------------------------

json pin_cell(const std::string& label, const std::string& device, const std::string& outcome, json seeds = nullptr) {
  json c = {{"id", "deep/" + label + "/" + device},
            {"scenario", "deep"},
            {"mitigation", label},
            {"device", device},
            {"outcome", outcome}};
  if (!seeds.is_null()) c["seeds"] = seeds;
  return c;
}

TEST(PinExpectations, WritesIntoEitherFormAndSkipsCellsWhoseSeedsDisagree) {
  nlohmann::ordered_json doc = nlohmann::ordered_json::parse(R"({"name": "deep", "fault": "lr_too_high",
      "mitigations": [{"name": "none"},
                      {"apply": ["residual", "batchnorm"], "label": "resnet", "expect": {"cuda": "stalled"}},
                      {"name": "lower_lr", "label": "slow"}]})");
  const json agree = {{"values", {1, 2}}, {"outcomes", {"healthy", "healthy"}}, {"counts", {{"healthy", 2}}}};
  const json disagree = {
      {"values", {1, 2}}, {"outcomes", {"diverged", "stalled"}}, {"counts", {{"diverged", 1}, {"stalled", 1}}}};
  const json matrix = {{"cells",
                        {pin_cell("none", "cpu", "diverged", disagree), pin_cell("resnet", "cpu", "healthy", agree),
                         pin_cell("slow", "cpu", "unsupported"), pin_cell("resnet", "cuda", "stalled")}}};
  std::ostringstream log;
  std::vector<std::string> skipped;
  EXPECT_EQ(tw::pin_expectations(doc, "deep", matrix, log, skipped), 1);
  EXPECT_EQ(skipped, (std::vector<std::string>{"deep/none/cpu"}));
  EXPECT_EQ(log.str(), "deep/resnet/cpu: (unpinned) -> healthy\n");
  EXPECT_FALSE(doc["mitigations"][0].contains("expect"));
  EXPECT_FALSE(doc["mitigations"][2].contains("expect"));  // unsupported: not pinned
  // The stack keeps its form, its keys in their order, and the new expectation beside the old one.
  const auto& resnet = doc["mitigations"][1];
  EXPECT_EQ(resnet.dump(),
            R"({"apply":["residual","batchnorm"],"label":"resnet","expect":{"cuda":"stalled","cpu":"healthy"}})");
  // The file still parses as the same stack.
  const tw::Scenario s = tw::parse_scenario(json(doc).dump(), "deep.json", test_catalog());
  EXPECT_EQ(s.mitigations[1].name, "residual+batchnorm");
  EXPECT_EQ(s.mitigations[1].expect.at("cpu"), tw::Outcome::kHealthy);
  // Another scenario's cells are not this file's.
  std::vector<std::string> none;
  EXPECT_EQ(tw::pin_expectations(doc, "other", matrix, log, none), 0);
  EXPECT_TRUE(none.empty());
}

TEST(PinExpectations, PinsOnlyTheCellsTheFilterKeeps) {
  const nlohmann::ordered_json original = nlohmann::ordered_json::parse(R"({"name": "deep", "fault": "lr_too_high",
      "mitigations": [{"name": "none"}, {"name": "slow"}]})");
  const json matrix = {{"cells", {pin_cell("none", "cuda", "diverged"), pin_cell("slow", "cuda", "hang")}}};
  std::ostringstream log;
  std::vector<std::string> skipped;
  nlohmann::ordered_json doc = original;
  EXPECT_EQ(tw::pin_expectations(doc, "deep", matrix, log, skipped, {"-deep/slow/*"}), 1);
  EXPECT_EQ(doc["mitigations"][0]["expect"]["cuda"], "diverged");
  EXPECT_FALSE(doc["mitigations"][1].contains("expect"));
  doc = original;
  EXPECT_EQ(tw::pin_expectations(doc, "deep", matrix, log, skipped, {"deep/slow/cuda"}), 1);
  EXPECT_FALSE(doc["mitigations"][0].contains("expect"));
  EXPECT_EQ(doc["mitigations"][1]["expect"]["cuda"], "hang");
}

TEST(RequiredGpus, KnownRequirements) {
  EXPECT_EQ(tw::required_gpus("cuda", "w", "f"), 1);
  EXPECT_EQ(tw::required_gpus("nccl", "w", "f"), 1);
  EXPECT_EQ(tw::required_gpus("gloo", "w", "f"), 0);
  EXPECT_EQ(tw::required_gpus("gpus>=1", "w", "f"), 1);
  EXPECT_EQ(tw::required_gpus("gpus>=8", "w", "f"), 8);
}

TEST(RequiredGpus, UnknownRequirementsThrowWithField) {
  for (const char* bad : {"", "gpu", "gpus>=", "gpus>=0", "gpus>=-1", "gpus>=x", "gpus>=2 ", "gpus>=1000", "CUDA"}) {
    try {
      tw::required_gpus(bad, "s.json", "requires[3]");
      ADD_FAILURE() << "accepted '" << bad << "'";
    } catch (const InputError& e) {
      EXPECT_EQ(e.where(), "s.json");
      EXPECT_EQ(e.field(), "requires[3]");
    }
  }
}

}  // namespace
