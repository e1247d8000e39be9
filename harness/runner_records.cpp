// The records of runner.h: a cell's matrix.json record, its verdict, and the per-step curves of
// its event stream.
#include <algorithm>

#include "harness/runner.h"
#include "protocol/events.h"

namespace tw {
using nlohmann::json;

json CellRecord::to_json() const {
  json j = {{"id", spec.id},
            {"scenario", spec.scenario},
            {"fault", spec.fault},
            {"mitigation", spec.label},
            {"device", spec.device},
            {"outcome", to_string(outcome)},
            {"expected", spec.expected ? json(to_string(*spec.expected)) : json(nullptr)},
            {"verdict", to_string(verdict)},
            {"evidence", evidence}};
  if (spec.label != spec.mitigation) j["mitigation_name"] = spec.mitigation;
  if (spec.stack.size() > 1) {
    json names = json::array();
    for (const auto& m : spec.stack) names.push_back(m.name);
    j["stack"] = names;
  }
  if (!series.empty()) j["series"] = series;
  if (!log_tail.empty()) j["log_tail"] = log_tail;
  return j;
}

json extract_series(const std::vector<json>& events, std::size_t points) {
  std::vector<const json*> steps;
  for (const auto& e : events)
    if (is_rank0_event(e, EventType::kStep)) steps.push_back(&e);
  json out = json::object();
  if (steps.empty()) return out;
  const std::size_t stride = (steps.size() + points - 1) / points;
  for (const char* key : {"step", "loss", "grad_first", "grad_last", "grad_norm", "mem"}) {
    json values = json::array();
    bool any = false;
    for (std::size_t i = 0; i < steps.size(); i += stride) {
      // The last step is always kept: it is where divergence or the target shows.
      const json& e = *steps[std::min(i, steps.size() - 1)];
      values.push_back(e.contains(key) ? e[key] : json(nullptr));
      any = any || e.contains(key);
      if (i + stride >= steps.size() && i != steps.size() - 1) {
        const json& last = *steps.back();
        values.push_back(last.contains(key) ? last[key] : json(nullptr));
      }
    }
    if (any) out[key] = values;
  }
  return out;
}
}  // namespace tw
