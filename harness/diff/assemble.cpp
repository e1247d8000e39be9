// Assembly: every compared cell through the comparators into "per_cell", the cells whose
// behaviour changed into "cells" (with their changes), the counts into "summary".
#include <algorithm>
#include <cmath>
#include <map>
#include <optional>
#include <set>

#include "harness/diff/common.h"
#include "harness/diff/comparators.h"
#include "harness/json_util.h"
#include "harness/report.h"

namespace tw {
using nlohmann::json;
using namespace diff_detail;

namespace {

// The tiers' counts over the compared cells, as the summary has them.
struct Tally {
  int compared = 0, outcome_changed = 0, evidence_changed = 0;
  json numerics = {{"identical", 0}, {"identical_on_shared_steps", 0}, {"within_tolerance", 0},
                   {"drifted", 0},   {"drifted_in_noise", 0},          {"not_comparable", 0},
                   {"cell_seeds", 0}};
  json steps = {{"changed", 0}, {"reached_step_changed", 0}, {"steps_changed", 0}};
  json speed = {{"slower", 0}, {"faster", 0}, {"within_band", 0}, {"too_short", 0}, {"not_measured", 0}};
  json memory = {{"changed", 0}, {"fields", json::object()}};
  std::vector<double> speed_changes;  // of the cells timed long enough
  std::optional<SpeedNoise> spread;   // the A/A run's spread of step times, when it has one
  int aa_compared = 0;                // the A/A check: A against the A/A run, by the same rule
  json aa_flagged = json::array();
  std::map<std::string, const json*> interleaved;  // `trainwreck speed`'s cells by id
  int interleaved_used = 0;
};

void bump(json& counts, const std::string& key) { counts[key] = counts.value(key, 0) + 1; }

// A tier word as a summary key: "within tolerance" -> "within_tolerance".
template <typename E>
std::string count_key(E tier) {
  std::string key = to_string(tier);
  std::replace(key.begin(), key.end(), ' ', '_');
  return key;
}

// B's change from A, signed ("+25%"); "" when either is not a number or A is 0.
std::string percent_change(const json& a, const json& b) {
  bool oa = false, ob = false;
  const double x = number(a, oa), y = number(b, ob);
  if (!oa || !ob || x == 0) return "";
  return signed_percent((y - x) / std::fabs(x));
}

// One cell of A with its counterpart in B and, when given, in the A/A run: the records, and the
// cells as the matrices hold them.
struct CellPair {
  const MatrixCell& ra;
  const MatrixCell& rb;
  const json& a;
  const json& b;
  const json* noise;
  const json& ctx_a;
  const json& ctx_b;
  const json& ctx_noise;
};

json new_diff(const DiffOptions& options, bool noise) {
  return {{"a", options.a_name},
          {"b", options.b_name},
          {"noise", noise ? json(options.noise_name) : json(nullptr)},
          {"tolerances",
           {{"loss", options.loss_tolerance},
            {"memory", options.memory_tolerance},
            {"growth", options.growth_tolerance},
            {"growth_floor_bytes_per_step", options.growth_floor_bytes_per_step},
            {"speed", options.speed_threshold},
            {"min_seconds", options.min_seconds}}},
          {"context", json::array()},
          {"cells", json::array()},
          {"per_cell", json::array()},
          {"only_a", json::array()},
          {"only_b", json::array()}};
}

// The outcome, and with the same seeds each seed's: a change on any seed is a change of the
// cell's outcome. (With different seeds the context says so; only main records compare.)
bool outcome_changes(const CellPair& p, json& changes, json& changed_seeds) {
  bool differs = p.ra.outcome_name != p.rb.outcome_name;
  if (differs) changes.push_back({{"field", "outcome"}, {"a", member(p.a, "outcome")}, {"b", member(p.b, "outcome")}});
  const json& sa = member(p.a, "seeds");
  const json& sb = member(p.b, "seeds");
  if (!sa.is_object() || !sb.is_object() || member(sa, "values") != member(sb, "values") ||
      !member(sa, "outcomes").is_array() || member(sa, "outcomes").size() != member(sb, "outcomes").size())
    return differs;
  const json& oa = sa["outcomes"];
  const json& ob = sb["outcomes"];
  for (std::size_t i = 0; i < oa.size(); ++i)
    if (oa[i] != ob[i] && i < member(sa, "values").size()) changed_seeds.push_back(sa["values"][i]);
  if (changed_seeds.empty()) return differs;
  std::string which;
  for (const auto& v : changed_seeds) which += (which.empty() ? "" : ", ") + show(v);
  changes.push_back({{"field", "seed_outcomes"}, {"a", oa}, {"b", ob}, {"note", "changed on seed(s) " + which}});
  return true;
}

// Every seed's value of `key` ("seed_<key>"), when another seed than the first changed it (the
// first seed's is the main record's).
void per_seed_change(const CellPair& p, const char* key, json& changes) {
  const json& sa = member(p.a, "seeds");
  const json& sb = member(p.b, "seeds");
  if (!same_seed_values(p.a, p.b) || !member(sa, "evidence").is_array() || !member(sb, "evidence").is_array() ||
      sa["evidence"].size() != sb["evidence"].size())
    return;
  json va = json::array(), vb = json::array();
  std::string which;
  for (std::size_t i = 0; i < sa["evidence"].size(); ++i) {
    va.push_back(member(sa["evidence"][i], key));
    vb.push_back(member(sb["evidence"][i], key));
    if (i > 0 && va.back() != vb.back() && i < sa["values"].size())
      which += (which.empty() ? "" : ", ") + show(sa["values"][i]);
  }
  if (!which.empty())
    changes.push_back(
        {{"field", std::string("seed_") + key}, {"a", va}, {"b", vb}, {"note", "changed on seed(s) " + which}});
}

// The steps documentation quotes (symptom, guard, target), steps to target and steps run.
StepsComparison step_changes(const CellPair& p, json& changes, Tally& t) {
  const json& ea = member(p.a, "evidence");
  const json& eb = member(p.b, "evidence");
  for (const char* key : {"symptom_step", "detected_step", "reached_step"})
    if (member(ea, key) != member(eb, key))
      changes.push_back({{"field", key}, {"a", member(ea, key)}, {"b", member(eb, key)}});
  StepsComparison steps = compare_steps(p.a, p.b, p.ctx_a, p.ctx_b);
  for (const auto& s : steps.seeds) {
    if (s.reached_step) bump(t.steps, "reached_step_changed");
    if (s.steps) bump(t.steps, "steps_changed");
  }
  per_seed_change(p, "reached_step", changes);
  // Steps run fail `--fail-on steps` too: the cell is named by this change.
  if (member(ea, "steps") != member(eb, "steps"))
    changes.push_back({{"field", "steps"}, {"a", member(ea, "steps")}, {"b", member(eb, "steps")}});
  per_seed_change(p, "steps", changes);
  if (steps.changed()) bump(t.steps, "changed");
  return steps;
}

void final_loss_change(const CellPair& p, double tolerance, json& changes) {
  const json& la = member(member(p.a, "evidence"), "final_loss");
  const json& lb = member(member(p.b, "evidence"), "final_loss");
  if (within_tolerance(la, lb, tolerance)) return;
  json ch = {{"field", "final_loss"}, {"a", la}, {"b", lb}};
  const std::string pct = percent_change(la, lb);
  if (!pct.empty()) ch["note"] = pct;
  changes.push_back(ch);
}

NumericsComparison numerics_changes(const CellPair& p, double tolerance, json& changes, Tally& t) {
  NumericsComparison numerics = compare_numerics(p.a, p.b, p.ctx_a, p.ctx_b, p.noise, p.ctx_noise, tolerance);
  for (const auto& s : numerics.seeds) {
    bump(t.numerics, "cell_seeds");
    bump(t.numerics, s.drifts_in_noise ? "drifted_in_noise" : count_key(s.curves.tier));
  }
  // A drift the A/A run shows too is counted apart and changes nothing.
  if (numerics.tier != CurveTier::kDrifted || numerics.drifts_in_noise) return numerics;
  std::string note;
  for (const auto& s : numerics.seeds) {
    if (s.curves.tier != CurveTier::kDrifted || s.drifts_in_noise) continue;
    if (!note.empty()) note += "; ";
    note += "seed " + show(s.seed) + ": from step " + show(s.curves.first_drift_step) + ", max " +
            percent(s.curves.max_rel_diff) + " at step " + show(s.curves.max_rel_diff_step);
  }
  changes.push_back({{"field", "loss_curve"}, {"a", nullptr}, {"b", nullptr}, {"note", note}});
  return numerics;
}

MemoryComparison memory_changes(const CellPair& p, const DiffOptions& o, json& changes, Tally& t) {
  MemoryComparison memory = compare_memory(p.a, p.b, p.noise, o);
  for (const auto& f : memory.fields) {
    json& counts = t.memory["fields"][f.key];
    if (counts.is_null()) counts = {{"label", f.label}, {"compared", 0}, {"grew", 0}, {"shrank", 0}};
    if (f.verdict == MemoryVerdict::kOneSideOnly) continue;
    bump(counts, "compared");
    if (f.verdict == MemoryVerdict::kSame) continue;
    if (f.verdict == MemoryVerdict::kGrew || f.verdict == MemoryVerdict::kShrank) bump(counts, to_string(f.verdict));
    json ch = {{"field", f.key}, {"a", f.a}, {"b", f.b}};
    const std::string pct = percent_change(f.a, f.b);
    if (!pct.empty()) ch["note"] = pct;
    if (f.band) ch["band"] = *f.band;
    changes.push_back(ch);
  }
  if (memory.changed) bump(t.memory, "changed");
  return memory;
}

// The A/A check: A against the A/A run by the rule B is judged by. A cell it flags says the host's
// noise alone would have made that verdict.
void aa_check(const CellPair& p, const DiffOptions& o, Tally& t) {
  if (!p.noise || !t.spread) return;
  const SpeedComparison aa = compare_speed(p.a, *p.noise, nullptr, o, &*t.spread);
  if (aa.verdict == SpeedVerdict::kNotMeasured || aa.verdict == SpeedVerdict::kTooShort) return;
  ++t.aa_compared;
  if (aa.verdict != SpeedVerdict::kWithinBand)
    t.aa_flagged.push_back({{"id", p.ra.id}, {"verdict", to_string(aa.verdict)}, {"change", aa.change}});
}

SpeedComparison speed_of(const CellPair& p, const DiffOptions& o, Tally& t) {
  aa_check(p, o, t);
  std::optional<SpeedComparison> measured;
  if (const auto it = t.interleaved.find(p.ra.id); it != t.interleaved.end())
    measured = interleaved_speed(*it->second, member(o.interleaved, "threshold").is_number()
                                                  ? o.interleaved["threshold"].get<double>()
                                                  : o.speed_threshold);
  if (measured) ++t.interleaved_used;
  SpeedComparison speed = measured ? *measured : compare_speed(p.a, p.b, p.noise, o, t.spread ? &*t.spread : nullptr);
  const SpeedVerdict v = speed.verdict;
  if (v == SpeedVerdict::kSlower || v == SpeedVerdict::kFaster || v == SpeedVerdict::kWithinBand)
    t.speed_changes.push_back(speed.change);
  bump(t.speed, count_key(v));
  return speed;
}

// Every tier of one cell into "per_cell", and the cell into "cells" when its behaviour changed.
void compare_cell(json& d, const CellPair& p, const DiffOptions& o, Tally& t) {
  ++t.compared;
  json changes = json::array(), changed_seeds = json::array();
  const bool outcome_differs = outcome_changes(p, changes, changed_seeds);
  const StepsComparison steps = step_changes(p, changes, t);
  final_loss_change(p, o.loss_tolerance, changes);
  const NumericsComparison numerics = numerics_changes(p, o.loss_tolerance, changes, t);
  const MemoryComparison memory = memory_changes(p, o, changes, t);
  const SpeedComparison speed = speed_of(p, o, t);
  if (member(p.a, "expected") != member(p.b, "expected"))
    changes.push_back({{"field", "expected"}, {"a", member(p.a, "expected")}, {"b", member(p.b, "expected")}});
  const std::string& id = p.ra.id;
  d["per_cell"].push_back(
      {{"id", id},
       {"outcome", {{"a", member(p.a, "outcome")}, {"b", member(p.b, "outcome")}, {"changed", outcome_differs}}},
       {"numerics", numerics.to_json()},
       {"steps", steps.to_json()},
       {"speed", speed.to_json()},
       {"memory", memory.to_json()}});
  if (changes.empty()) return;
  if (outcome_differs) ++t.outcome_changed;
  else ++t.evidence_changed;
  json entry = {{"id", id},
                {"scenario", p.rb.scenario},
                {"mitigation", p.rb.mitigation},
                {"device", p.rb.device},
                {"outcome_changed", outcome_differs},
                {"a_outcome", member(p.a, "outcome")},
                {"b_outcome", member(p.b, "outcome")},
                {"a_summary", cell_display(p.a)},
                {"b_summary", cell_display(p.b)},
                {"changes", changes}};
  if (!changed_seeds.empty()) entry["changed_seeds"] = changed_seeds;
  d["cells"].push_back(entry);
}

json summary_of(const json& d, Tally& t, const DiffOptions& o, bool noise) {
  t.speed["threshold"] = o.speed_threshold;
  t.speed["noise_band"] = noise;
  // Every cell slower by about the same factor points at the machine (a loaded host, another
  // CPU) rather than at one kernel.
  t.speed["median_change"] = t.speed_changes.empty() ? json(nullptr) : json(median(t.speed_changes));
  if (t.spread) {
    t.speed["noise_spread"] = t.spread->to_json();
    t.speed["aa_check"] = {{"compared", t.aa_compared}, {"flagged", t.aa_flagged}};
  }
  if (!o.interleaved.is_null())
    t.speed["interleaved"] = {{"file", o.interleaved_name},
                              {"cells", t.interleaved_used},
                              {"rounds", member(o.interleaved, "rounds")},
                              {"threshold", member(o.interleaved, "threshold")},
                              {"aa_flagged", member(member(o.interleaved, "summary"), "aa_flagged")}};
  return {{"compared", t.compared},
          {"outcome_changed", t.outcome_changed},
          {"evidence_changed", t.evidence_changed},
          {"only_a", d["only_a"].size()},
          {"only_b", d["only_b"].size()},
          {"context_changed", d["context"].size()},
          {"host_changed", d["host_changed"]["changed"]},
          {"numerics", t.numerics},
          {"steps", t.steps},
          {"speed", t.speed},
          {"memory", t.memory}};
}

}  // namespace

json diff_matrices(const Matrix& a, const Matrix& b, const DiffOptions& options, const Matrix& noise) {
  json d = new_diff(options, noise.present());
  compare_context(d, a, b, noise);
  std::map<std::string, const MatrixCell*> by_id_b, by_id_noise;
  for (const MatrixCell& c : b.cells()) by_id_b[c.id] = &c;
  for (const MatrixCell& c : noise.cells()) by_id_noise[c.id] = &c;
  std::set<std::string> seen_a;
  Tally tally;
  if (const json& measured = member(options.interleaved, "cells"); measured.is_array())
    for (const json& c : measured)
      if (member(c, "id").is_string()) tally.interleaved[c["id"].get<std::string>()] = &c;
  if (noise.present()) {
    std::vector<std::pair<const json*, const json*>> timed;
    for (const MatrixCell& ca : a.cells()) {
      const auto nit = by_id_noise.find(ca.id);
      timed.emplace_back(ca.cell, nit == by_id_noise.end() ? nullptr : nit->second->cell);
    }
    tally.spread = speed_noise(timed, options);
  }
  for (const MatrixCell& ca : a.cells()) {
    seen_a.insert(ca.id);
    auto it = by_id_b.find(ca.id);
    if (it == by_id_b.end()) {
      d["only_a"].push_back(ca.id);
      continue;
    }
    const auto nit = by_id_noise.find(ca.id);
    const json* noise_cell = nit == by_id_noise.end() ? nullptr : nit->second->cell;
    const MatrixCell& cb = *it->second;
    const CellPair pair{ca, cb, *ca.cell, *cb.cell, noise_cell, a.context(), b.context(), noise.context()};
    compare_cell(d, pair, options, tally);
  }
  for (const MatrixCell& c : b.cells())
    if (!seen_a.count(c.id)) d["only_b"].push_back(c.id);
  d["summary"] = summary_of(d, tally, options, noise.present());
  return d;
}

}  // namespace tw
