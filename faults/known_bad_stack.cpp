// A job on a known-bad stack: the versions of NCCL, LibTorch, the CUDA runtime, the NVIDIA driver
// or cuDNN that the cell's own process runs on fall in a range a vendor tells users to avoid
// (harness/stack_rule.h). The hazards behind such rules (a segfault at an in-process restart, a
// multi-node hang) need a cluster to show; what a single host shows is whether the stack under
// test is one of them, and whether a check stops the job before it depends on it. The cell reads
// its stack, records it with the rule's verdict, and trains the healthy recipe unless stack_check
// stops it. planted_version stands in for the first component's version, so that a row shows the
// check catching a stack this host does not have; the evidence names it as planted.
#include <cstdlib>
#include <optional>

#include "harness/stack_rule.h"
#include "backend/cell.h"
#include "backend/registry.h"

namespace tw {
namespace {
using nlohmann::json;

struct KnownBadStack : Fault {
  // A planted row is about the rule, not about the host: the workaround counts only when the
  // row's own remedy (env_workaround, applied after this) sets it, not when the job's
  // environment happens to export it.
  void apply(Recipe&, const json& p) const override {
    if (!p.contains("planted_version")) return;
    const StackRule rule = StackRule::from_params(p);
    if (!rule.workaround_env.empty()) unsetenv(rule.workaround_name().c_str());
  }

  // The check runs before the device is set up: on a driver too old for the CUDA runtime, a CUDA
  // cell would otherwise end as "CUDA is not available" before it compared anything.
  bool before_device(Recipe& recipe, const json& p, const EventWriter& events) const override {
    const StackRule rule = StackRule::from_params(p);
    json stack = running_stack();
    json evidence = {{"stack", stack}};
    if (p.contains("planted_version")) {
      const std::string& component = rule.all.front().component;
      evidence["planted"] = {{component, p["planted_version"]}};
      stack[component] = p["planted_version"];
    }
    std::optional<std::string> workaround;
    if (!rule.workaround_env.empty())
      if (const char* v = std::getenv(rule.workaround_name().c_str())) workaround = v;
    const StackFinding finding = check_stack(rule, stack, workaround);
    // Without the check the run records the versions and trains; nothing compares them.
    if (recipe.checks.stack_check) evidence["stack_check"] = finding.to_json();
    events.emit(EventType::kEvidence, evidence);
    if (!recipe.checks.stack_check || !finding.affected) return true;
    events.emit(EventType::kGuard, {{"guard", "stack_check"},
                                    {"action", to_string(GuardAction::kStop)},
                                    {"step", 0},
                                    {"message", finding.message}});
    return false;
  }
};

std::vector<ParamSpec> rule_params() {
  using T = ParamSpec::Type;
  const auto& parts = stack_components();
  return {{"component", T::kString, 0, 0, false, parts, "the component whose versions are known-bad"},
          {"from", T::kVersion, 0, 0, false, {}, "first known-bad version (inclusive)"},
          {"below", T::kVersion, 0, 0, false, {}, "first version past the known-bad range (exclusive)"},
          {"with_component", T::kString, 0, 0, false, parts, "a second component: the pair is known-bad"},
          {"with_from", T::kVersion, 0, 0, false, {}, "the second component's first known-bad version"},
          {"with_below", T::kVersion, 0, 0, false, {}, "the second component's first version past the range"},
          {"workaround_env", T::kString, 0, 0, false, {}, "NAME=VALUE that makes such a stack safe"},
          {"consequence", T::kString, 0, 0, false, {}, "what goes wrong on such a stack"},
          {"source", T::kString, 0, 0, false, {}, "who says so"},
          {"planted_version", T::kVersion, 0, 0, false, {}, "stands in for the component's version read"}};
}

ComponentInfo known_bad_stack_info() {
  ComponentInfo info{"known_bad_stack", "the run's stack is in a range vendors tell users to avoid",
                     "framework / environment", rule_params(), {}};
  info.check_params = check_stack_rule_params;
  return info;
}

}  // namespace
static const bool kRegisteredKnownBadStack =
    register_fault(known_bad_stack_info(), std::make_unique<KnownBadStack>());
}  // namespace tw
