// Known-bad stack rules: version text, ranges, pairs, workarounds, and the parameters' problems
// reported by field.
#include "harness/stack_rule.h"

#include <gtest/gtest.h>

#include "harness/errors.h"

namespace {
using nlohmann::json;
using tw::check_stack;
using tw::compare_versions;
using tw::parse_version;
using tw::StackRule;

json nccl_rule_params() {
  return {{"component", "nccl"},
          {"from", "2.28.3"},
          {"below", "2.28.9"},
          {"consequence", "an in-process restart segfaults"},
          {"source", "the vendor's release notes"}};
}

json driver_pair_params() {
  return {{"component", "nvidia_driver"},
          {"below", "580"},
          {"with_component", "cuda_runtime"},
          {"with_from", "13"},
          {"with_below", "14"}};
}

TEST(StackRule, ParsesDottedVersionsOnly) {
  EXPECT_EQ(parse_version("2.28.9"), (std::vector<long>{2, 28, 9}));
  EXPECT_EQ(parse_version("580"), (std::vector<long>{580}));
  EXPECT_EQ(parse_version("580.159.04"), (std::vector<long>{580, 159, 4}));
  for (const char* bad : {"", ".", "2..3", "2.3.", ".2", "v2.3", "2.3-rc1", " 2.3", "1234567890"})
    EXPECT_FALSE(parse_version(bad)) << "'" << bad << "'";
}

TEST(StackRule, ComparesPartByPartWithMissingPartsAsZero) {
  EXPECT_EQ(compare_versions(*parse_version("13"), *parse_version("13.0")), 0);
  EXPECT_LT(compare_versions(*parse_version("2.28.8"), *parse_version("2.28.9")), 0);
  EXPECT_GT(compare_versions(*parse_version("2.30.7"), *parse_version("2.29.10")), 0);
  EXPECT_GT(compare_versions(*parse_version("580.159.04"), *parse_version("580")), 0);
  EXPECT_LT(compare_versions(*parse_version("575.57.08"), *parse_version("580")), 0);
}

TEST(StackRule, RangeIncludesFromAndExcludesBelow) {
  const tw::VersionRange r{"nccl", "2.28.3", "2.28.9"};
  EXPECT_FALSE(r.contains(*parse_version("2.28.2")));
  EXPECT_TRUE(r.contains(*parse_version("2.28.3")));
  EXPECT_TRUE(r.contains(*parse_version("2.28.8")));
  EXPECT_FALSE(r.contains(*parse_version("2.28.9")));
  const tw::VersionRange below_only{"nccl", "", "2.26.2"};
  EXPECT_TRUE(below_only.contains(*parse_version("2.18.1")));
  EXPECT_FALSE(below_only.contains(*parse_version("2.26.2")));
  EXPECT_EQ(r.text(), "NCCL 2.28.3 up to below 2.28.9");
  EXPECT_EQ(below_only.text(), "NCCL below 2.26.2");
}

TEST(StackRule, TheFirstReleasePastTheRangeIsNotAffected) {
  const StackRule rule = StackRule::from_params(nccl_rule_params());
  const auto f = check_stack(rule, {{"nccl", "2.28.9"}, {"libtorch", "2.11.0"}}, std::nullopt);
  EXPECT_TRUE(f.applies);
  EXPECT_FALSE(f.affected);
  EXPECT_EQ(f.message, "NCCL 2.28.9 is outside 2.28.3 up to below 2.28.9: not a known-bad stack");
}

TEST(StackRule, AVersionInsideTheRangeIsKnownBadWithItsConsequenceAndSource) {
  const StackRule rule = StackRule::from_params(nccl_rule_params());
  const auto f = check_stack(rule, {{"nccl", "2.28.5"}}, std::nullopt);
  EXPECT_TRUE(f.affected);
  EXPECT_EQ(f.message,
            "known-bad stack: NCCL 2.28.5 is in 2.28.3 up to below 2.28.9 (an in-process restart segfaults); "
            "source: the vendor's release notes");
}

TEST(StackRule, APairIsKnownBadOnlyWhenBothRangesHold) {
  const StackRule rule = StackRule::from_params(driver_pair_params());
  EXPECT_TRUE(check_stack(rule, {{"nvidia_driver", "575.57.08"}, {"cuda_runtime", "13.0"}}, std::nullopt).affected);
  EXPECT_FALSE(check_stack(rule, {{"nvidia_driver", "575.57.08"}, {"cuda_runtime", "12.8"}}, std::nullopt).affected);
  EXPECT_FALSE(check_stack(rule, {{"nvidia_driver", "580.159.04"}, {"cuda_runtime", "13.0"}}, std::nullopt).affected);
}

TEST(StackRule, ARuleNamingAComponentTheStackLacksDoesNotApply) {
  const StackRule rule = StackRule::from_params(driver_pair_params());
  const auto f = check_stack(rule, {{"cuda_runtime", "13.0"}, {"nccl", "2.28.9"}}, std::nullopt);
  EXPECT_FALSE(f.applies);
  EXPECT_FALSE(f.affected);
  EXPECT_EQ(f.message,
            "no NVIDIA driver in this stack: the rule (NVIDIA driver below 580 with CUDA runtime 13 up to below 14) "
            "does not apply");
  const auto odd = check_stack(rule, {{"nvidia_driver", "unknown"}, {"cuda_runtime", "13.0"}}, std::nullopt);
  EXPECT_FALSE(odd.applies);
  EXPECT_NE(odd.message.find("'unknown', which is not a version"), std::string::npos) << odd.message;
}

TEST(StackRule, TheWorkaroundClearsTheStackOnlyWithItsValue) {
  json p = {{"component", "nccl"}, {"from", "2.29.7"}, {"below", "2.30.7"}, {"workaround_env", "NCCL_PXN_DISABLE=1"}};
  const StackRule rule = StackRule::from_params(p);
  const json stack = {{"nccl", "2.29.7"}};
  const auto unset = check_stack(rule, stack, std::nullopt);
  EXPECT_TRUE(unset.affected);
  EXPECT_NE(unset.message.find("workaround: NCCL_PXN_DISABLE=1"), std::string::npos) << unset.message;
  EXPECT_TRUE(check_stack(rule, stack, std::string("0")).affected);
  const auto set = check_stack(rule, stack, std::string("1"));
  EXPECT_FALSE(set.affected);
  EXPECT_NE(set.message.find("with the workaround NCCL_PXN_DISABLE=1 set"), std::string::npos) << set.message;
  EXPECT_FALSE(check_stack(rule, {{"nccl", "2.30.7"}}, std::nullopt).affected);
}

TEST(StackRule, ReadsTheDriverVersionOfEitherKernelModule) {
  EXPECT_EQ(tw::driver_version_from_proc(
                "NVRM version: NVIDIA UNIX x86_64 Kernel Module  580.159.04  Tue Jan 13 22:27:44 UTC 2026"),
            "580.159.04");
  EXPECT_EQ(tw::driver_version_from_proc(
                "NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  580.126.09  Release Build  (dvs-builder@U16)"),
            "580.126.09");
  EXPECT_EQ(tw::driver_version_from_proc("NVRM version: NVIDIA UNIX Kernel Module"), "");
  EXPECT_EQ(tw::driver_version_from_proc("something else"), "");
}

struct BadParams {
  const char* name;
  json patch;
  const char* field;
  const char* message;
};

TEST(StackRule, ParameterProblemsNameTheirField) {
  const std::vector<BadParams> cases = {
      {"no_component", {{"component", nullptr}}, "component", "is required"},
      {"no_bound", {{"from", nullptr}, {"below", nullptr}}, "from", "is required, or 'below'"},
      {"empty_range", {{"from", "2.28.9"}, {"below", "2.28.3"}}, "below", "must be above 'from'"},
      {"equal_bounds", {{"from", "2.28.3"}, {"below", "2.28.3.0"}}, "below", "the range is empty"},
      {"pair_without_bound", {{"with_component", "cuda_runtime"}}, "with_from", "a range needs a bound"},
      {"pair_without_component", {{"with_from", "13"}}, "with_component", "is required"},
      {"pair_same_component", {{"with_component", "nccl"}, {"with_from", "2"}}, "with_component", "same component"},
      {"workaround_not_assignment", {{"workaround_env", "NCCL_PXN_DISABLE"}}, "workaround_env", "NAME=VALUE"},
      {"workaround_no_name", {{"workaround_env", "=1"}}, "workaround_env", "NAME=VALUE"},
      {"planted_not_version", {{"planted_version", "2.28.x"}}, "planted_version", "must be a version"},
  };
  for (const auto& c : cases) {
    json p = nccl_rule_params();
    for (const auto& [k, v] : c.patch.items()) {
      if (v.is_null())
        p.erase(k);
      else
        p[k] = v;
    }
    const auto problem = tw::check_stack_rule_params(p);
    ASSERT_TRUE(problem) << c.name;
    EXPECT_EQ(problem->field, c.field) << c.name;
    EXPECT_NE(problem->message.find(c.message), std::string::npos) << c.name << ": " << problem->message;
    EXPECT_THROW(StackRule::from_params(p), tw::InputError) << c.name;
  }
  EXPECT_FALSE(tw::check_stack_rule_params(nccl_rule_params()));
  EXPECT_FALSE(tw::check_stack_rule_params(driver_pair_params()));
}

TEST(StackRule, AVersionParameterIsValidatedWhereTheScenarioIsRead) {
  tw::ComponentInfo info;
  info.name = "known_bad_stack";
  tw::ParamSpec from;
  from.name = "from";
  from.type = tw::ParamSpec::Type::kVersion;
  info.params = {from};
  info.check_params = [](const json& p) -> std::optional<tw::RecipeProblem> {
    if (!p.contains("from")) return tw::RecipeProblem{"from", "is required"};
    return std::nullopt;
  };
  EXPECT_NO_THROW(tw::validate_component_params({{"from", "2.28"}}, info, "s.json", "params"));
  try {
    tw::validate_component_params({{"from", "two"}}, info, "s.json", "params");
    FAIL() << "a version that is not one was accepted";
  } catch (const tw::InputError& e) {
    EXPECT_EQ(e.field(), "params.from");
    EXPECT_NE(std::string(e.what()).find("must be a version string"), std::string::npos) << e.what();
  }
  try {
    tw::validate_component_params(json::object(), info, "s.json", "params");
    FAIL() << "the component's check was not run";
  } catch (const tw::InputError& e) {
    EXPECT_EQ(e.field(), "params.from");
    EXPECT_STREQ(e.what(), "is required");
  }
}

}  // namespace
