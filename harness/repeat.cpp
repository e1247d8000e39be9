#include "harness/repeat.h"

#include <fstream>
#include <set>

#include "harness/runner.h"
#include "protocol/events.h"

namespace tw {
using nlohmann::json;

bool varies_by_nature(const std::string& key) {
  auto ends_with = [&](const std::string& suffix) {
    return key.size() >= suffix.size() && key.compare(key.size() - suffix.size(), suffix.size(), suffix) == 0;
  };
  return ends_with("_seconds") || ends_with("_pid") || key == "pid";
}

std::vector<json> loss_series_of(const std::string& events_file) {
  std::vector<json> out;
  std::ifstream in(events_file);
  for (std::string line; std::getline(in, line);) {
    const json e = json::parse(line, nullptr, false);
    if (is_rank0_event(e, EventType::kStep) && e.contains("loss")) out.push_back(e["loss"]);
  }
  return out;
}

json compare_repeats(const std::vector<json>& results, const std::vector<std::vector<json>>& losses) {
  json r = {{"runs", results.size()}, {"outcomes", json::array()}};
  std::set<std::string> outcomes, differing;
  for (const auto& res : results) {
    r["outcomes"].push_back(res.value("outcome", ""));
    outcomes.insert(res.value("outcome", ""));
  }
  const json first_ev = results.empty() ? json::object() : results.front().value("evidence", json::object());
  for (std::size_t i = 1; i < results.size(); ++i) {
    const json ev = results[i].value("evidence", json::object());
    std::set<std::string> keys;
    for (const auto& [k, v] : first_ev.items()) keys.insert(k);
    for (const auto& [k, v] : ev.items()) keys.insert(k);
    for (const auto& k : keys) {
      if (varies_by_nature(k)) continue;
      // json equality on doubles is bitwise for every finite value: no tolerance here.
      if (!first_ev.contains(k) || !ev.contains(k) || first_ev[k] != ev[k]) differing.insert(k);
    }
  }
  r["identical_outcome"] = outcomes.size() <= 1;
  r["identical_evidence"] = differing.empty();
  r["differing_evidence"] = std::vector<std::string>(differing.begin(), differing.end());
  bool every_run_has_loss = losses.size() == results.size() && !losses.empty();
  for (const auto& l : losses) every_run_has_loss = every_run_has_loss && !l.empty();
  if (!every_run_has_loss) {
    r["identical_loss"] = nullptr;
  } else {
    bool same = true;
    for (std::size_t i = 1; i < losses.size(); ++i) same = same && losses[i] == losses.front();
    r["identical_loss"] = same;
  }
  return r;
}

json seed_evidence(const json& result) {
  const json ev = result.value("evidence", json::object());
  json out = json::object();
  for (const char* key : {"symptom_step", "detected_step", "reached_step", "final_loss", "final_eval_loss",
                          "peak_mem_bytes", "steps", "train_seconds", "step_seconds_median", "median_step_ms"})
    if (ev.contains(key)) out[key] = ev[key];
  if (ev.contains("message") && ev["message"].is_string()) {
    std::string m = ev["message"].get<std::string>();
    // Cut on a UTF-8 boundary so the record stays valid text.
    if (m.size() > kSeedMessageChars) {
      std::size_t cut = kSeedMessageChars;
      while (cut > 0 && (static_cast<unsigned char>(m[cut]) & 0xC0) == 0x80) --cut;
      m = m.substr(0, cut) + "...";
    }
    out["message"] = m;
  }
  return out;
}

json aggregate_seeds(const std::vector<uint64_t>& seeds, const std::vector<json>& results) {
  json r = {{"values", seeds}, {"outcomes", json::array()}, {"counts", json::object()}, {"evidence", json::array()}};
  for (const auto& res : results) {
    const std::string outcome = res.value("outcome", "");
    r["outcomes"].push_back(outcome);
    r["counts"][outcome] = r["counts"].value(outcome, 0) + 1;
    r["evidence"].push_back(seed_evidence(res));
  }
  return r;
}

json seed_series_of(const std::string& events_file, std::size_t points) {
  std::vector<json> events;
  std::ifstream in(events_file);
  for (std::string line; std::getline(in, line);) {
    json e = json::parse(line, nullptr, false);
    if (is_rank0_event(e, EventType::kStep)) events.push_back(std::move(e));
  }
  const json all = extract_series(events, points);
  json out = json::object();
  for (const char* key : {"step", "loss"})
    if (all.contains(key)) out[key] = all[key];
  return out;
}

}  // namespace tw
