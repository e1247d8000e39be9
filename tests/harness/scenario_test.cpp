#include "harness/scenario.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "harness/catalog.h"
#include "harness/errors.h"
#include "test_support.h"

namespace {
namespace fs = std::filesystem;
using nlohmann::json;
using tw::InputError;
using tw_test::TempDir;

tw::ParamSpec number(const std::string& name, double min, bool exclusive, double max = 1e300) {
  tw::ParamSpec p;
  p.name = name;
  p.type = tw::ParamSpec::Type::kNumber;
  p.min = min;
  p.min_exclusive = exclusive;
  p.max = max;
  return p;
}

tw::ParamSpec integer(const std::string& name, double min, double max) {
  tw::ParamSpec p = number(name, min, false, max);
  p.type = tw::ParamSpec::Type::kInteger;
  return p;
}

tw::ParamSpec text(const std::string& name, std::vector<std::string> choices) {
  tw::ParamSpec p;
  p.name = name;
  p.type = tw::ParamSpec::Type::kString;
  p.choices = std::move(choices);
  return p;
}

tw::ParamSpec boolean(const std::string& name) {
  tw::ParamSpec p;
  p.name = name;
  p.type = tw::ParamSpec::Type::kBool;
  return p;
}

tw::Catalog test_catalog() {
  tw::Catalog c;
  tw::ComponentInfo lr;
  lr.name = "lr_too_high";
  lr.params = {number("lr", 0, /*exclusive=*/true), integer("steps", 1, 100000), text("optimizer", {"sgd", "adam"}),
               boolean("verbose")};
  tw::ComponentInfo mismatch;
  mismatch.name = "collective_mismatch";
  mismatch.requirements = {"nccl", "gpus>=2"};
  mismatch.ranks = 2;
  c.faults = {lr, mismatch};

  tw::ComponentInfo none;
  none.name = "none";
  tw::ComponentInfo clip;
  clip.name = "gradient_clipping";
  clip.params = {number("max_norm", 0, /*exclusive=*/true)};
  tw::ComponentInfo lower;
  lower.name = "lower_lr";
  lower.params = {number("lr", 0, /*exclusive=*/true, /*max=*/10)};
  // Remedies that practice applies together (a residual net: blocks, BatchNorm, He init).
  tw::ComponentInfo residual, batchnorm, he_init;
  residual.name = "residual";
  residual.params = {integer("every", 1, 100)};
  batchnorm.name = "batchnorm";
  he_init.name = "he_init";
  he_init.params = {number("gain", 0, /*exclusive=*/true)};
  c.mitigations = {none, clip, lower, residual, batchnorm, he_init};

  c.recipe = {number("lr", 0, /*exclusive=*/true), integer("batch_size", 1, 1 << 20),
              text("optimizer", {"sgd", "adam"})};
  return c;
}

// Every field set, so that each malformed case below differs from it in one place.
json base_scenario() {
  return json::parse(R"({
    "name": "lr_one",
    "fault": "lr_too_high",
    "description": "SGD with LR 1.0 diverges within a few steps",
    "params": {"lr": 1.0, "steps": 50, "optimizer": "sgd", "verbose": false},
    "recipe": {"batch_size": 64, "optimizer": "sgd"},
    "limits": {"wall_seconds": 60, "heartbeat_seconds": 10, "memory_mb": 512},
    "devices": ["cpu", "cuda"],
    "mitigations": [
      {"name": "none", "expect": {"cpu": "diverged", "cuda": "diverged"}},
      {"name": "lower_lr", "label": "lr_0_01", "params": {"lr": 0.01}, "expect": {"cpu": "healthy"},
       "note": "the article's first remedy"},
      {"name": "gradient_clipping", "params": {"max_norm": 1.0}, "expect": {"cpu": "healthy", "cuda": "healthy"}}
    ]
  })");
}

std::string with(const char* patch) {
  json s = base_scenario();
  s.merge_patch(json::parse(patch));
  return s.dump(2);
}

struct Malformed {
  const char* name;
  std::string text;
  std::string field;    // exact field path ("" for whole-file problems)
  std::string message;  // substring of what()
};

void PrintTo(const Malformed& m, std::ostream* os) { *os << m.name; }

std::vector<Malformed> malformed_cases() {
  const std::string big(tw::kMaxScenarioBytes + 1, ' ');
  return {
      {"broken_json", R"({"name": "x", "fault": )", "", "not valid JSON"},
      {"trailing_comma", R"({"name": "x",})", "", "not valid JSON"},
      {"empty_file", "", "", "file is empty"},
      {"whitespace_only", " \n\t\r\n  ", "", "file is empty"},
      {"binary_garbage",
       std::string("\x7f"
                   "ELF\x02\x01\x01\x00\x00\xff\xfe\x80",
                   12),
       "", "not valid JSON"},
      {"invalid_utf8_in_string", "{\"name\": \"\xff\xfe\"}", "", "not valid JSON"},
      {"nan_literal",
       R"({"name": "x", "fault": "lr_too_high", "params": {"lr": NaN}, "mitigations": [{"name": "none"}]})", "",
       "not valid JSON"},
      // nlohmann reports overflow as out_of_range, not parse_error: it must still be an InputError.
      {"number_overflow",
       R"({"name": "x", "fault": "lr_too_high", "params": {"lr": 1e400}, "mitigations": [{"name": "none"}]})", "",
       "not valid JSON"},
      {"top_level_array", R"([{"name": "x"}])", "", "top level must be a JSON object"},
      {"top_level_string", R"("lr_one")", "", "top level must be a JSON object"},
      {"too_large_text", big, "", "too large"},
      {"name_not_string", with(R"({"name": 5})"), "name", "must be a string"},
      {"fault_not_string", with(R"({"fault": ["lr_too_high"]})"), "fault", "must be a string"},
      {"description_not_string", with(R"({"description": {"text": "x"}})"), "description", "must be a string"},
      {"params_not_object", with(R"({"params": [1, 2]})"), "params", "must be an object"},
      {"recipe_not_object", with(R"({"recipe": "fast"})"), "recipe", "must be an object"},
      {"limits_not_object", with(R"({"limits": 60})"), "limits", "must be an object"},
      {"devices_not_array", with(R"({"devices": "cpu"})"), "devices", "must be an array of strings"},
      {"device_not_string", with(R"({"devices": ["cpu", 1]})"), "devices[1]", "must be a string"},
      {"requires_not_array", with(R"({"requires": "cuda"})"), "requires", "must be an array of strings"},
      {"mitigations_not_array", with(R"({"mitigations": {"name": "none"}})"), "mitigations",
       "must be a non-empty array"},
      {"mitigation_not_object", with(R"({"mitigations": ["none"]})"), "mitigations[0]", "must be an object"},
      {"mitigation_name_not_string", with(R"({"mitigations": [{"name": "none"}, {"name": 3}]})"), "mitigations[1].name",
       "must be a string"},
      {"label_not_string", with(R"({"mitigations": [{"name": "none", "label": true}]})"), "mitigations[0].label",
       "must be a string"},
      {"mitigation_params_not_object", with(R"({"mitigations": [{"name": "lower_lr", "params": [0.1]}]})"),
       "mitigations[0].params", "must be an object"},
      {"expect_not_object", with(R"({"mitigations": [{"name": "none", "expect": "healthy"}]})"),
       "mitigations[0].expect", "must be an object"},
      {"expect_value_not_string", with(R"({"mitigations": [{"name": "none", "expect": {"cpu": 1}}]})"),
       "mitigations[0].expect.cpu", "must be an outcome name"},
      {"number_param_as_string", with(R"({"params": {"lr": "0.1"}})"), "params.lr", "must be a number"},
      {"nan_as_string", with(R"({"params": {"lr": "nan"}})"), "params.lr", "must be a number"},
      {"integer_param_fractional", with(R"({"params": {"steps": 2.5}})"), "params.steps", "must be an integer"},
      {"integer_param_huge", with(R"({"params": {"steps": 1e20}})"), "params.steps", "out of range"},
      {"integer_param_below_min", with(R"({"params": {"steps": 0}})"), "params.steps", "must be >= 1"},
      {"string_param_not_a_choice", with(R"({"params": {"optimizer": "rmsprop"}})"), "params.optimizer",
       "must be one of: sgd, adam"},
      {"bool_param_as_number", with(R"({"params": {"verbose": 1}})"), "params.verbose", "must be a boolean"},
      {"unknown_fault_param", with(R"({"params": {"learning_rate": 1.0}})"), "params.learning_rate",
       "unknown parameter"},
      {"negative_lr", with(R"({"params": {"lr": -0.5}})"), "params.lr", "must be > 0"},
      {"zero_lr", with(R"({"params": {"lr": 0}})"), "params.lr", "must be > 0"},
      {"zero_lr_in_recipe", with(R"({"recipe": {"lr": 0.0}})"), "recipe.lr", "must be > 0"},
      {"huge_lr_in_mitigation", with(R"({"mitigations": [{"name": "lower_lr", "params": {"lr": 1e308}}]})"),
       "mitigations[0].params.lr", "must be <= 10"},
      {"negative_lr_in_mitigation",
       with(R"({"mitigations": [{"name": "none"}, {"name": "lower_lr", "params": {"lr": -0.01}}]})"),
       "mitigations[1].params.lr", "must be > 0"},
      {"unknown_recipe_field", with(R"({"recipe": {"momentum": 0.9}})"), "recipe.momentum", "unknown parameter"},
      {"param_for_parameterless_mitigation", with(R"({"mitigations": [{"name": "none", "params": {"x": 1}}]})"),
       "mitigations[0].params.x", "takes none"},
      {"unknown_top_level_field", with(R"({"nmae": "typo"})"), "nmae", "unknown field"},
      {"unknown_mitigation_field", with(R"({"mitigations": [{"name": "none", "expected": {"cpu": "healthy"}}]})"),
       "mitigations[0].expected", "unknown field"},
      {"unknown_fault", with(R"({"fault": "lr_too_low"})"), "fault", "unknown fault 'lr_too_low'"},
      {"unknown_mitigation", with(R"({"mitigations": [{"name": "none"}, {"name": "magic"}]})"), "mitigations[1].name",
       "unknown mitigation 'magic'"},
      {"missing_name", with(R"({"name": null})"), "name", "is required"},
      {"missing_fault", with(R"({"fault": null})"), "fault", "is required"},
      {"missing_mitigations", with(R"({"mitigations": null})"), "mitigations", "is required"},
      {"empty_mitigations", with(R"({"mitigations": []})"), "mitigations", "must be a non-empty array"},
      {"missing_mitigation_name", with(R"({"mitigations": [{"label": "x"}]})"), "mitigations[0].name", "is required"},
      {"bad_scenario_name", with(R"({"name": "LR One"})"), "name", "a-z, 0-9"},
      {"scenario_name_too_long",
       with(R"({"name": "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"})"), "name",
       "1-64 characters"},
      {"negative_wall_seconds", with(R"({"limits": {"wall_seconds": -5}})"), "limits.wall_seconds", "must be > 0"},
      {"zero_heartbeat", with(R"({"limits": {"heartbeat_seconds": 0}})"), "limits.heartbeat_seconds", "must be > 0"},
      {"huge_wall_seconds", with(R"({"limits": {"wall_seconds": 1e9}})"), "limits.wall_seconds", "must be <="},
      {"limit_as_string", with(R"({"limits": {"memory_mb": "512"}})"), "limits.memory_mb", "must be a number"},
      {"heartbeat_over_wall", with(R"({"limits": {"wall_seconds": 10, "heartbeat_seconds": 20}})"),
       "limits.heartbeat_seconds", "must not exceed limits.wall_seconds"},
      {"memory_mb_too_small", with(R"({"limits": {"memory_mb": 8}})"), "limits.memory_mb", "must be >= 16"},
      {"exclusive_as_string", with(R"({"limits": {"exclusive": "yes"}})"), "limits.exclusive", "must be true or false"},
      {"unknown_limit", with(R"({"limits": {"wall": 10}})"), "limits.wall", "unknown field"},
      {"unknown_device_class", with(R"({"devices": ["cpu", "tpu"]})"), "devices[1]", "unknown device class 'tpu'"},
      {"duplicate_device", with(R"({"devices": ["cuda", "cpu", "cuda"]})"), "devices[2]", "listed twice"},
      {"no_devices", with(R"({"devices": []})"), "devices", "at least one device class"},
      {"requires_gpus_on_cpu_only", with(R"({"devices": ["cpu"], "requires": ["gpus>=2"]})"), "requires[0]",
       "contradicts 'devices'"},
      {"requires_cuda_on_cpu_only", with(R"({"devices": ["cpu"], "requires": ["gloo", "cuda"]})"), "requires[1]",
       "contradicts 'devices'"},
      {"unknown_requirement", with(R"({"requires": ["cuda", "tpu"]})"), "requires[1]", "unknown requirement 'tpu'"},
      {"zero_gpus_requirement", with(R"({"requires": ["gpus>=0"]})"), "requires[0]", "unknown requirement"},
      {"requirement_not_string", with(R"({"requires": ["cuda", 2]})"), "requires[1]", "must be a string"},
      {"bad_outcome_in_expect", with(R"({"mitigations": [{"name": "none", "expect": {"cpu": "fine"}}]})"),
       "mitigations[0].expect.cpu", "unknown outcome 'fine'"},
      {"unknown_device_in_expect",
       with(R"({"mitigations": [{"name": "none"}, {"name": "gradient_clipping", "expect": {"tpu": "healthy"}}]})"),
       "mitigations[1].expect.tpu", "unknown device class"},
      {"duplicate_default_labels", with(R"({"mitigations": [{"name": "none"}, {"name": "none"}]})"),
       "mitigations[1].label", "duplicate cell 'none'"},
      {"label_collides_with_name",
       with(R"({"mitigations": [{"name": "lower_lr"}, {"name": "gradient_clipping", "label": "lower_lr"}]})"),
       "mitigations[1].label", "duplicate cell 'lower_lr'"},
      {"label_with_space", with(R"({"mitigations": [{"name": "none"}, {"name": "lower_lr", "label": "Lower LR"}]})"),
       "mitigations[1].label", "a-z, 0-9"},
      {"label_with_slash", with(R"({"mitigations": [{"name": "lower_lr", "label": "lr/2"}]})"), "mitigations[0].label",
       "a-z, 0-9"},
      // Stacks: "apply": [...] with a "label".
      {"stack_with_name",
       with(R"({"mitigations": [{"name": "none"}, {"name": "residual", "apply": ["residual", "batchnorm"],
                                 "label": "resnet"}]})"),
       "mitigations[1].name", "cannot be given with 'apply'"},
      {"stack_without_label", with(R"({"mitigations": [{"apply": ["residual", "batchnorm"]}]})"),
       "mitigations[0].label", "required for a stack"},
      {"stack_empty", with(R"({"mitigations": [{"apply": [], "label": "s"}]})"), "mitigations[0].apply",
       "non-empty array"},
      {"stack_not_array", with(R"({"mitigations": [{"apply": "residual", "label": "s"}]})"), "mitigations[0].apply",
       "non-empty array"},
      {"stack_too_long", with(R"({"mitigations": [{"apply": ["residual", "residual", "residual", "residual", "residual",
                                           "residual", "residual", "residual", "residual"], "label": "s"}]})"),
       "mitigations[0].apply", "at most 8"},
      {"stack_unknown_member", with(R"({"mitigations": [{"name": "none"}, {"name": "none", "label": "a"},
                                {"name": "none", "label": "b"}, {"name": "none", "label": "c"},
                                {"apply": ["residual", "foo"], "label": "s"}]})"),
       "mitigations[4].apply[1]", "unknown mitigation 'foo'"},
      {"stack_member_none", with(R"({"mitigations": [{"apply": ["none", "residual"], "label": "s"}]})"),
       "mitigations[0].apply[0]", "'none' cannot be part of a stack"},
      {"stack_member_twice",
       with(R"({"mitigations": [{"apply": ["residual", "batchnorm", "residual"], "label": "s"}]})"),
       "mitigations[0].apply[2]", "'residual' is already in this stack (apply[0])"},
      {"stack_member_not_a_name", with(R"({"mitigations": [{"apply": ["residual", 3], "label": "s"}]})"),
       "mitigations[0].apply[1]", "must be a mitigation name or an object"},
      {"stack_member_unknown_field",
       with(R"({"mitigations": [{"apply": [{"name": "residual", "parms": {}}], "label": "s"}]})"),
       "mitigations[0].apply[0].parms", "unknown field"},
      {"stack_member_without_name", with(R"({"mitigations": [{"apply": [{"params": {}}], "label": "s"}]})"),
       "mitigations[0].apply[0].name", "is required"},
      {"stack_member_unknown_name", with(R"({"mitigations": [{"apply": [{"name": "foo"}], "label": "s"}]})"),
       "mitigations[0].apply[0].name", "unknown mitigation 'foo'"},
      {"stack_member_params_not_object",
       with(R"({"mitigations": [{"apply": [{"name": "residual", "params": [1]}], "label": "s"}]})"),
       "mitigations[0].apply[0].params", "must be an object"},
      {"stack_member_param_out_of_range",
       with(R"({"mitigations": [{"apply": [{"name": "residual", "params": {"every": 0}}], "label": "s"}]})"),
       "mitigations[0].apply[0].params.every", "must be >= 1"},
      {"stack_params_not_object",
       with(R"({"mitigations": [{"apply": ["residual", "batchnorm"], "label": "s", "params": [1]}]})"),
       "mitigations[0].params", "must be an object"},
      {"stack_params_for_a_non_member", with(R"({"mitigations": [{"apply": ["residual", "batchnorm"], "label": "s",
                                 "params": {"lower_lr": {"lr": 0.1}}}]})"),
       "mitigations[0].params.lower_lr", "'lower_lr' is not in this stack (members: residual, batchnorm)"},
      {"stack_params_bad_value", with(R"({"mitigations": [{"name": "none"}, {"name": "none", "label": "a"},
                                {"name": "none", "label": "b"}, {"apply": ["residual", "batchnorm"], "label": "s",
                                 "params": {"residual": {"every": 2.5}}}]})"),
       "mitigations[3].params.residual.every", "must be an integer"},
      {"stack_params_unknown_param", with(R"({"mitigations": [{"apply": ["residual", "batchnorm"], "label": "s",
                                 "params": {"batchnorm": {"momentum": 0.1}}}]})"),
       "mitigations[0].params.batchnorm.momentum", "takes none"},
      {"stack_params_given_twice",
       with(R"({"mitigations": [{"apply": [{"name": "residual", "params": {"every": 2}}, "batchnorm"],
                                 "label": "s", "params": {"residual": {"every": 3}}}]})"),
       "mitigations[0].params.residual", "already given in mitigations[0].apply[0].params"},
      {"stack_label_duplicate", with(R"({"mitigations": [{"name": "none", "label": "resnet"},
                                {"apply": ["residual"], "label": "resnet"}]})"),
       "mitigations[1].label", "duplicate cell 'resnet'"},
      {"stack_label_invalid", with(R"({"mitigations": [{"apply": ["residual", "batchnorm"], "label": "Res Net"}]})"),
       "mitigations[0].label", "a-z, 0-9"},
  };
}

class MalformedScenario : public testing::TestWithParam<Malformed> {};

// Through a real file, so that where() is checked to be the path a user would open.
TEST_P(MalformedScenario, IsAnInputErrorNamingFileAndField) {
  const Malformed& c = GetParam();
  TempDir dir;
  const std::string path = dir.write(std::string(c.name) + ".json", c.text);
  try {
    tw::load_scenario(path, test_catalog());
    FAIL() << "accepted: " << c.text.substr(0, 300);
  } catch (const InputError& e) {
    EXPECT_EQ(e.where(), path);
    EXPECT_EQ(e.field(), c.field) << e.describe();
    EXPECT_NE(std::string(e.what()).find(c.message), std::string::npos)
        << "message: " << e.what() << "\nwanted: " << c.message;
    EXPECT_NE(e.describe().find(path), std::string::npos) << e.describe();
  } catch (const std::exception& e) {
    FAIL() << "not an InputError: " << e.what();
  }
}

INSTANTIATE_TEST_SUITE_P(Table, MalformedScenario, testing::ValuesIn(malformed_cases()),
                         [](const testing::TestParamInfo<Malformed>& info) { return std::string(info.param.name); });

// LibTorch 2.12 and later need C++20 (ATen stops with #error under C++17), so the whole
// project compiles as C++20 with every LibTorch: the harness too, where a C++20 keyword used as
// a name (such as `requires`) is caught on machines without LibTorch.
static_assert(__cplusplus >= 202002L, "trainwreck compiles as C++20 (CMAKE_CXX_STANDARD 20)");

TEST(MalformedScenarioTable, HasManyDistinctCases) {
  const auto cases = malformed_cases();
  std::set<std::string> names, texts;
  for (const auto& c : cases) {
    names.insert(c.name);
    texts.insert(c.text);
  }
  EXPECT_EQ(names.size(), cases.size());
  EXPECT_EQ(texts.size(), cases.size());
  EXPECT_GE(cases.size(), 30u);
}

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

TEST(ScenarioFiles, MissingFile) {
  TempDir dir;
  const std::string path = dir.path() + "/absent.json";
  for (auto load : {+[](const std::string& p) { tw::load_scenario(p, test_catalog()); },
                    +[](const std::string& p) { tw::load_scenarios({p}, test_catalog()); }}) {
    try {
      load(path);
      ADD_FAILURE() << "missing file accepted";
    } catch (const InputError& e) {
      EXPECT_EQ(e.where(), path);
      EXPECT_EQ(e.field(), "");
      EXPECT_NE(std::string(e.what()).find("no such file"), std::string::npos) << e.what();
    }
  }
}

TEST(ScenarioFiles, DirectoryPassedAsFile) {
  TempDir dir;
  const std::string sub = dir.path() + "/looks_like.json";
  fs::create_directory(sub);
  try {
    tw::load_scenario(sub, test_catalog());
    FAIL() << "directory accepted as a file";
  } catch (const InputError& e) {
    EXPECT_EQ(e.where(), sub);
    EXPECT_NE(std::string(e.what()).find("is a directory"), std::string::npos) << e.what();
  }
}

TEST(ScenarioFiles, FileOverTheSizeLimitIsRefusedUnread) {
  TempDir dir;
  // Valid JSON padded past the limit: only the size can be the reason.
  std::string text = base_scenario().dump();
  text += std::string(tw::kMaxScenarioBytes + 1 - text.size(), ' ');
  const std::string path = dir.write("big.json", text);
  try {
    tw::load_scenario(path, test_catalog());
    FAIL() << "oversized file accepted";
  } catch (const InputError& e) {
    EXPECT_EQ(e.where(), path);
    EXPECT_EQ(e.field(), "");
    EXPECT_NE(std::string(e.what()).find("too large"), std::string::npos) << e.what();
  }
  text.pop_back();  // exactly at the limit is allowed
  EXPECT_EQ(tw::load_scenario(dir.write("at_limit.json", text), test_catalog()).name, "lr_one");
}

TEST(ScenarioFiles, DirectoryLoadsJsonFilesSorted) {
  TempDir dir;
  json a = base_scenario(), b = base_scenario();
  a["name"] = "alpha";
  b["name"] = "beta";
  dir.write("2_beta.json", b.dump());
  dir.write("1_alpha.json", a.dump());
  dir.write("README.md", "not a scenario");
  fs::create_directory(dir.path() + "/sub.json");  // a directory, not a file: skipped
  const auto all = tw::load_scenarios({dir.path()}, test_catalog());
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].name, "alpha");
  EXPECT_EQ(all[1].name, "beta");
  EXPECT_EQ(all[1].file, dir.path() + "/2_beta.json");
}

TEST(ScenarioFiles, DuplicateNamesAcrossFilesInADirectory) {
  TempDir dir;
  const std::string first = dir.write("a.json", base_scenario().dump());
  const std::string second = dir.write("b.json", base_scenario().dump());
  try {
    tw::load_scenarios({dir.path()}, test_catalog());
    FAIL() << "duplicate scenario name accepted";
  } catch (const InputError& e) {
    EXPECT_EQ(e.where(), second);
    EXPECT_EQ(e.field(), "name");
    EXPECT_NE(std::string(e.what()).find("duplicate scenario name 'lr_one'"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(first), std::string::npos) << e.what();
  }
}

TEST(ScenarioFiles, MalformedFileInDirectoryIsNamed) {
  TempDir dir;
  dir.write("a.json", base_scenario().dump());
  const std::string bad = dir.write("b.json", with(R"({"name": "other", "mitigations": []})"));
  try {
    tw::load_scenarios({dir.path()}, test_catalog());
    FAIL() << "malformed file accepted";
  } catch (const InputError& e) {
    EXPECT_EQ(e.where(), bad);
    EXPECT_EQ(e.field(), "mitigations");
  }
}

}  // namespace

namespace {

// A catalog whose recipe names a model file, with the backend's check of it.
tw::Catalog catalog_with_file_field() {
  tw::Catalog c = test_catalog();
  tw::ParamSpec file = text("model_file", {});
  file.path = true;
  c.recipe.push_back(file);
  c.check_recipe = [](const json& recipe) -> std::optional<tw::RecipeProblem> {
    std::ifstream in(recipe.value("model_file", std::string()));
    std::string first;
    std::getline(in, first);
    if (first != "module") return tw::RecipeProblem{"recipe.model_file", "not a module"};
    return std::nullopt;
  };
  return c;
}

// The InputError that loading `path` with that catalog throws (a test failure when it loads).
InputError refusal(const std::string& path) {
  try {
    tw::load_scenario(path, catalog_with_file_field());
  } catch (const InputError& e) {
    return e;
  }
  ADD_FAILURE() << path << " was accepted";
  return InputError(path, "", "accepted");
}

std::string scenario_naming(const std::string& file) {
  return R"({"name": "own", "fault": "lr_too_high", "recipe": {"model_file": ")" + file +
         R"("}, "mitigations": [{"name": "none"}]})";
}

}  // namespace

TEST(ScenarioFiles, ARecipeFileResolvesAgainstTheScenarioFilesDirectory) {
  TempDir dir;
  fs::create_directories(dir / "models");
  std::ofstream(dir / "models/m.pt") << "module\n";
  std::ofstream(dir / "own.json") << scenario_naming("models/m.pt");
  const tw::Scenario s = tw::load_scenario(dir / "own.json", catalog_with_file_field());
  EXPECT_EQ(s.recipe.at("model_file").get<std::string>(), fs::weakly_canonical(dir / "models/m.pt").string());
}

TEST(ScenarioFiles, AMissingFileIsRefusedNamingTheFieldAndTheFile) {
  TempDir dir;
  std::ofstream(dir / "own.json") << scenario_naming("models/gone.pt");
  const InputError e = refusal(dir / "own.json");
  EXPECT_EQ(e.field(), "recipe.model_file");
  EXPECT_NE(std::string(e.what()).find("gone.pt"), std::string::npos) << e.what();
}

TEST(ScenarioFiles, TheBackendsProblemWithAFileIsAnInputError) {
  TempDir dir;
  std::ofstream(dir / "m.pt") << "not a module\n";
  std::ofstream(dir / "own.json") << scenario_naming("m.pt");
  const InputError e = refusal(dir / "own.json");
  EXPECT_EQ(e.field(), "recipe.model_file");
  EXPECT_EQ(e.where(), dir / "own.json");
}
