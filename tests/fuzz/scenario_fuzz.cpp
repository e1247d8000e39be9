// libFuzzer target for the scenario loader. Bad input must end in tw::InputError; any other
// exception, a crash, a leak or a sanitizer report is a finding. Built as the `scenario_fuzz`
// fuzzer (clang) and, with replay_main.cpp, as `scenario_fuzz_replay` (any compiler).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "harness/catalog.h"
#include "harness/errors.h"
#include "harness/scenario.h"
#include "harness/selftest.h"
#include "harness/stack_rule.h"

namespace {

tw::ParamSpec spec(const char* name, tw::ParamSpec::Type type, double min, double max, bool min_exclusive,
                   std::vector<std::string> choices = {}) {
  tw::ParamSpec p;
  p.name = name;
  p.type = type;
  p.min = min;
  p.max = max;
  p.min_exclusive = min_exclusive;
  p.choices = std::move(choices);
  return p;
}

// Every ParamSpec type and bound style, so validate_params is reached with each.
std::vector<tw::ParamSpec> all_kinds_of_params() {
  using T = tw::ParamSpec::Type;
  return {spec("lr", T::kNumber, 0, 1e6, /*min_exclusive=*/true),
          spec("offset", T::kNumber, -1e9, 1e9, false),
          spec("depth", T::kInteger, 1, 10000, false),
          spec("steps", T::kInteger, -1e300, 1e300, false),
          spec("on", T::kBool, 0, 0, false),
          spec("mode", T::kString, 0, 0, false, {"stop", "skip"}),
          spec("tag", T::kString, 0, 0, false),
          spec("from", T::kVersion, 0, 0, false),
          spec("below", T::kVersion, 0, 0, false)};
}

tw::Catalog fuzz_catalog() {
  tw::Catalog c = tw::selftest_catalog();
  tw::Catalog extra;
  tw::ComponentInfo fault;
  fault.name = "fuzz_fault";
  fault.params = all_kinds_of_params();
  // The parameters checked together, as known_bad_stack's are: a bound below the other.
  fault.check_params = [](const nlohmann::json& p) -> std::optional<tw::RecipeProblem> {
    if (p.contains("from") && p.contains("below") &&
        tw::compare_versions(*tw::parse_version(p["from"].get<std::string>()),
                             *tw::parse_version(p["below"].get<std::string>())) >= 0)
      return tw::RecipeProblem{"below", "must be above 'from'"};
    return std::nullopt;
  };
  extra.faults.push_back(fault);
  tw::ComponentInfo gpu_fault;
  gpu_fault.name = "fuzz_gpu_fault";
  gpu_fault.requirements = {"gpus>=2", "nccl"};
  gpu_fault.ranks = 2;
  extra.faults.push_back(gpu_fault);
  tw::ComponentInfo mitigation;
  mitigation.name = "fuzz_mitigation";
  mitigation.params = all_kinds_of_params();
  extra.mitigations.push_back(mitigation);
  extra.recipe = all_kinds_of_params();
  c.add(extra);
  return c;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const tw::Catalog catalog = fuzz_catalog();
  const std::string text(reinterpret_cast<const char*>(data), size);
  tw::Scenario scenario;
  try {
    scenario = tw::parse_scenario(text, "fuzz.json", catalog);
  } catch (const tw::InputError& e) {
    if (e.where() != "fuzz.json" || std::string(e.what()).empty()) {
      std::fprintf(stderr, "InputError without its file or message: %s\n", e.describe().c_str());
      std::abort();
    }
    return 0;
  }
  // An accepted scenario must survive its own JSON form unchanged: that is what results record.
  const std::string dumped = scenario.to_json().dump();
  try {
    const tw::Scenario again = tw::parse_scenario(dumped, "fuzz.json", catalog);
    if (again.to_json() != scenario.to_json()) {
      std::fprintf(stderr, "round trip changed the scenario:\n%s\n%s\n", dumped.c_str(), again.to_json().dump().c_str());
      std::abort();
    }
  } catch (const tw::InputError& e) {
    std::fprintf(stderr, "to_json() of an accepted scenario is rejected: %s\n%s\n", e.describe().c_str(), dumped.c_str());
    std::abort();
  }
  return 0;
}
