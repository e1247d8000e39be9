#include "harness/stack_rule.h"

#include <algorithm>
#include <cctype>

#include "harness/errors.h"

namespace tw {
using nlohmann::json;

const std::vector<std::string>& stack_components() {
  static const std::vector<std::string> names = {"libtorch", "nccl", "cuda_runtime", "nvidia_driver", "cudnn"};
  return names;
}

std::string component_label(const std::string& component) {
  if (component == "libtorch") return "LibTorch";
  if (component == "nccl") return "NCCL";
  if (component == "cuda_runtime") return "CUDA runtime";
  if (component == "nvidia_driver") return "NVIDIA driver";
  if (component == "cudnn") return "cuDNN";
  return component;
}

std::optional<std::vector<long>> parse_version(std::string_view text) {
  std::vector<long> parts;
  std::size_t i = 0;
  while (true) {
    const std::size_t start = i;
    long value = 0;
    while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) {
      if (i - start >= 9) return std::nullopt;  // no version part has ten digits
      value = value * 10 + (text[i] - '0');
      ++i;
    }
    if (i == start) return std::nullopt;
    parts.push_back(value);
    if (i == text.size()) return parts;
    if (text[i] != '.') return std::nullopt;
    ++i;
  }
}

std::string driver_version_from_proc(const std::string& first_line) {
  const auto at = first_line.find("Kernel Module");
  if (at == std::string::npos) return "";
  std::size_t i = at + 13;
  while (i < first_line.size()) {
    while (i < first_line.size() && first_line[i] == ' ') ++i;
    std::size_t end = first_line.find(' ', i);
    if (end == std::string::npos) end = first_line.size();
    const std::string word = first_line.substr(i, end - i);
    if (parse_version(word)) return word;
    i = end;
  }
  return "";
}

int compare_versions(const std::vector<long>& a, const std::vector<long>& b) {
  for (std::size_t i = 0; i < std::max(a.size(), b.size()); ++i) {
    const long x = i < a.size() ? a[i] : 0;
    const long y = i < b.size() ? b[i] : 0;
    if (x != y) return x < y ? -1 : 1;
  }
  return 0;
}

bool VersionRange::contains(const std::vector<long>& version) const {
  if (!from.empty() && compare_versions(version, *parse_version(from)) < 0) return false;
  if (!below.empty() && compare_versions(version, *parse_version(below)) >= 0) return false;
  return true;
}

std::string VersionRange::bounds() const {
  if (from.empty() && below.empty()) return "any version";
  if (below.empty()) return from + " and newer";
  if (from.empty()) return "below " + below;
  return from + " up to below " + below;
}

std::string VersionRange::text() const { return component_label(component) + " " + bounds(); }

namespace {

std::string text_param(const json& p, const char* key) {
  return p.contains(key) && p[key].is_string() ? p[key].get<std::string>() : "";
}

VersionRange range_from(const json& p, const char* component, const char* from, const char* below) {
  return {text_param(p, component), text_param(p, from), text_param(p, below)};
}

std::optional<RecipeProblem> check_range(const json& p, const char* component, const char* from, const char* below) {
  const VersionRange r = range_from(p, component, from, below);
  if (r.component.empty()) return RecipeProblem{component, "is required"};
  if (r.from.empty() && r.below.empty())
    return RecipeProblem{from, std::string("is required, or '") + below + "' (a range needs a bound)"};
  for (const char* key : {from, below})
    if (const std::string v = text_param(p, key); !v.empty() && !parse_version(v))
      return RecipeProblem{key, "must be a version: numbers separated by dots (got '" + v + "')"};
  if (!r.from.empty() && !r.below.empty() && compare_versions(*parse_version(r.from), *parse_version(r.below)) >= 0)
    return RecipeProblem{below, "must be above '" + std::string(from) + "' (" + r.from + "), or the range is empty"};
  return std::nullopt;
}

}  // namespace

StackRule StackRule::from_params(const json& params) {
  if (auto problem = check_stack_rule_params(params))
    throw InputError("known_bad_stack", "params." + problem->field, problem->message);
  StackRule rule;
  rule.all.push_back(range_from(params, "component", "from", "below"));
  if (params.contains("with_component")) rule.all.push_back(range_from(params, "with_component", "with_from", "with_below"));
  rule.workaround_env = text_param(params, "workaround_env");
  rule.consequence = text_param(params, "consequence");
  rule.source = text_param(params, "source");
  return rule;
}

std::optional<RecipeProblem> check_stack_rule_params(const json& params) {
  if (auto problem = check_range(params, "component", "from", "below")) return problem;
  const bool pair = params.contains("with_component") || params.contains("with_from") || params.contains("with_below");
  if (pair) {
    if (auto problem = check_range(params, "with_component", "with_from", "with_below")) return problem;
    if (params["with_component"] == params["component"])
      return RecipeProblem{"with_component", "names the same component as 'component'"};
  }
  if (const std::string w = text_param(params, "workaround_env"); !w.empty()) {
    const auto eq = w.find('=');
    if (eq == std::string::npos || eq == 0) return RecipeProblem{"workaround_env", "must be NAME=VALUE (got '" + w + "')"};
  }
  if (const std::string v = text_param(params, "planted_version"); !v.empty() && !parse_version(v))
    return RecipeProblem{"planted_version", "must be a version: numbers separated by dots (got '" + v + "')"};
  return std::nullopt;
}

std::string StackRule::text() const {
  std::string t;
  for (const auto& range : all) t += (t.empty() ? "" : " with ") + range.text();
  return t;
}

json StackFinding::to_json() const { return {{"applies", applies}, {"affected", affected}, {"message", message}}; }

StackFinding check_stack(const StackRule& rule, const json& stack, const std::optional<std::string>& workaround_value) {
  StackFinding f;
  std::string compared;
  bool all_hold = true;
  for (const auto& range : rule.all) {
    const std::string label = component_label(range.component);
    if (!stack.contains(range.component) || !stack[range.component].is_string()) {
      f.applies = false;
      f.message = "no " + label + " in this stack: the rule (" + rule.text() + ") does not apply";
      return f;
    }
    const std::string have = stack[range.component].get<std::string>();
    const auto version = parse_version(have);
    if (!version) {
      f.applies = false;
      f.message = label + " reports '" + have + "', which is not a version: the rule does not apply";
      return f;
    }
    const bool holds = range.contains(*version);
    all_hold = all_hold && holds;
    compared += (compared.empty() ? "" : "; ") + label + " " + have + (holds ? " is in " : " is outside ") + range.bounds();
  }
  if (!all_hold) {
    f.message = compared + ": not a known-bad stack";
    return f;
  }
  if (!rule.workaround_env.empty() && workaround_value && *workaround_value == rule.workaround_value()) {
    f.message = compared + ", with the workaround " + rule.workaround_env + " set: not affected";
    return f;
  }
  f.affected = true;
  f.message = "known-bad stack: " + compared;
  if (!rule.consequence.empty()) f.message += " (" + rule.consequence + ")";
  if (!rule.workaround_env.empty()) f.message += "; workaround: " + rule.workaround_env;
  if (!rule.source.empty()) f.message += "; source: " + rule.source;
  return f;
}

}  // namespace tw
