// Malformed scenario files: a table of cases, each one field off a valid scenario, every one an input
// error naming the file and the field.
#include <gtest/gtest.h>

#include <ostream>
#include <set>
#include <string>
#include <vector>

#include "harness/errors.h"
#include "harness/scenario.h"
#include "scenario_test_util.h"
#include "test_support.h"

namespace {
using tw::InputError;
using tw_test::TempDir;
using namespace tw_test::scenario_util;

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

}  // namespace
