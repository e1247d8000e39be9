#pragma once
// Known-bad software stacks: a rule names version ranges of the stack's components (NCCL,
// LibTorch, CUDA runtime, NVIDIA driver, cuDNN) that vendors tell users to avoid, alone or in a
// pair ("CUDA runtime 13.x with a driver below 580"). The rule is checked against the versions a
// cell reads from its own process. No LibTorch, no I/O.
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "harness/catalog.h"

namespace tw {

// The components a rule can name; the keys of a stack record.
const std::vector<std::string>& stack_components();
// "NCCL" for "nccl", "NVIDIA driver" for "nvidia_driver", ...
std::string component_label(const std::string& component);

// "2.28.9" -> {2, 28, 9}; nullopt unless one or more dot-separated decimal numbers.
std::optional<std::vector<long>> parse_version(std::string_view text);
// The driver version in /proc/driver/nvidia/version's first line, for the proprietary module
// ("... Kernel Module  580.159.04  Tue ...") and the open one ("... Open Kernel Module for
// x86_64  580.126.09  Release Build ..."): the first word after "Kernel Module" that is a version.
std::string driver_version_from_proc(const std::string& first_line);
// <0, 0, >0 as a is older, the same, newer; missing trailing parts count as 0 (13 == 13.0).
int compare_versions(const std::vector<long>& a, const std::vector<long>& b);

// One component's known-bad range: from (inclusive) up to below (exclusive); an empty bound is open.
struct VersionRange {
  std::string component;
  std::string from;
  std::string below;
  bool contains(const std::vector<long>& version) const;
  std::string bounds() const;  // "2.28.3 up to below 2.28.9"
  std::string text() const;    // "NCCL 2.28.3 up to below 2.28.9"
};

struct StackRule {
  std::vector<VersionRange> all;  // the stack is known-bad when every range holds
  std::string workaround_env;     // "NAME=VALUE": a stack with it set is not affected
  std::string consequence;        // what goes wrong on such a stack
  std::string source;             // who says so

  // From a known_bad_stack fault's parameters (validated: a problem names its field).
  static StackRule from_params(const nlohmann::json& params);
  std::string text() const;  // the ranges joined by " with "
  // workaround_env's NAME and VALUE ("" and "" when the rule has none).
  std::string workaround_name() const { return workaround_env.substr(0, workaround_env.find('=')); }
  std::string workaround_value() const {
    const auto eq = workaround_env.find('=');
    return eq == std::string::npos ? "" : workaround_env.substr(eq + 1);
  }
};

// The parameters' problems beyond their types: no bound, a bound not below the other, a pair
// naming one component twice, a workaround that is not NAME=VALUE.
std::optional<RecipeProblem> check_stack_rule_params(const nlohmann::json& params);

struct StackFinding {
  bool applies = true;    // false: a component the rule names is not in this stack
  bool affected = false;  // every range holds and no workaround is set
  std::string message;    // what was compared, in words
  nlohmann::json to_json() const;
};

// `stack`: {"nccl": "2.28.9", ...} as the cell read it; `workaround_value`: the value of the
// rule's workaround variable in the cell's environment (nullopt when unset or the rule has none).
StackFinding check_stack(const StackRule& rule, const nlohmann::json& stack,
                         const std::optional<std::string>& workaround_value);

}  // namespace tw
