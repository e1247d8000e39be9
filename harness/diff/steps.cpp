// Steps to target: per seed, the step a run reached its target at and the steps it ran.
#include "harness/diff/comparators.h"
#include "harness/json_util.h"

namespace tw::diff_detail {
using nlohmann::json;

json SeedSteps::to_json() const {
  json s = {{"seed", seed}};
  if (reached_step) s["reached_step"] = {{"a", reached_step->first}, {"b", reached_step->second}};
  if (steps) s["steps"] = {{"a", steps->first}, {"b", steps->second}};
  return s;
}

json StepsComparison::to_json() const {
  json list = json::array();
  for (const auto& s : seeds) list.push_back(s.to_json());
  return {{"changed", changed()}, {"seeds", list}};
}

StepsComparison compare_steps(const json& ca, const json& cb, const json& ctx_a, const json& ctx_b) {
  StepsComparison out;
  auto compare = [&](const json& ea, const json& eb, const json& seed) {
    SeedSteps s{seed, std::nullopt, std::nullopt};
    if (member(ea, "reached_step") != member(eb, "reached_step"))
      s.reached_step.emplace(member(ea, "reached_step"), member(eb, "reached_step"));
    if (member(ea, "steps") != member(eb, "steps")) s.steps.emplace(member(ea, "steps"), member(eb, "steps"));
    if (s.reached_step || s.steps) out.seeds.push_back(s);
  };
  const json seed_a = main_seed(ca, ctx_a);
  compare(member(ca, "evidence"), member(cb, "evidence"), seed_a.is_null() ? main_seed(cb, ctx_b) : seed_a);
  if (same_seed_values(ca, cb)) {
    const json& values = ca["seeds"]["values"];
    const json& ea = member(ca["seeds"], "evidence");
    const json& eb = member(cb["seeds"], "evidence");
    if (ea.is_array() && eb.is_array())
      for (std::size_t i = 1; i < values.size() && i < ea.size() && i < eb.size(); ++i)
        compare(ea[i], eb[i], values[i]);
  }
  return out;
}

}  // namespace tw::diff_detail
