// Memory: every peak and growth field of the evidence, B's against A's, against a band (the
// tolerance, or the A/A run's own distance from A when larger); growth has a floor.
#include <algorithm>
#include <cmath>
#include <set>

#include "harness/diff/common.h"
#include "harness/diff/comparators.h"
#include "harness/json_util.h"

namespace tw::diff_detail {
using nlohmann::json;

const std::vector<MemoryField>& known_memory_fields() {
  static const std::vector<MemoryField> fields = {
      {"peak_mem_bytes", "peak memory", false},          {"peak_alloc_bytes", "peak allocated", false},
      {"peak_reserved_bytes", "peak reserved", false},   {"mem_growth_bytes_per_step", "growth per step", true},
      {"mem_growth_bytes", "growth over the run", true},
  };
  return fields;
}

namespace {

// The memory fields either side's evidence has: the known ones, then any other "*peak*_bytes".
std::vector<MemoryField> memory_fields_of(const json& ea, const json& eb) {
  std::vector<MemoryField> out;
  std::set<std::string> known;
  for (const auto& f : known_memory_fields()) {
    known.insert(f.key);
    if ((ea.is_object() && ea.contains(f.key)) || (eb.is_object() && eb.contains(f.key))) out.push_back(f);
  }
  std::set<std::string> extra;
  for (const json* e : {&ea, &eb})
    if (e->is_object())
      for (const auto& [k, v] : e->items())
        if (!known.count(k) && k.find("peak") != std::string::npos && k.size() > 6 &&
            k.compare(k.size() - 6, 6, "_bytes") == 0)
          extra.insert(k);
  for (const auto& k : extra) out.push_back({k, k, false});
  return out;
}

double memory_floor(const MemoryField& f, const DiffOptions& o) {
  if (!f.growth) return 0;
  // Growth over the run: a thousand steps of the per-step floor.
  return f.key == "mem_growth_bytes_per_step" ? o.growth_floor_bytes_per_step : o.growth_floor_bytes_per_step * 1024;
}

// One field whose values are numbers on both sides, A's `x` and B's `y`; `en` is the A/A run's
// evidence (null when there is none). Sets the band, the change and the verdict; true when changed.
bool compare_bytes(MemoryFieldComparison& entry, const MemoryField& f, double x, double y, const json& en,
                   const DiffOptions& o) {
  // Every relative figure is against A, the base the printed change uses: |B - A| <= band * |A|.
  double band = f.growth ? o.growth_tolerance : o.memory_tolerance;
  double allowed = 0;  // the A/A run's own distance from A, in bytes
  bool on = false;
  const double n = number(member(en, f.key.c_str()), on);
  if (on) {
    allowed = std::fabs(n - x);
    if (x != 0) {
      entry.noise = allowed / std::fabs(x);
      band = std::max(band, *entry.noise);
    } else if (n == 0) {
      entry.noise = 0.0;
    }
  }
  entry.band = band;
  if (x != 0) entry.change = (y - x) / std::fabs(x);
  const double d = y - x;
  const bool same =
      std::fabs(d) <= band * std::fabs(x) || std::fabs(d) <= allowed || std::fabs(d) <= memory_floor(f, o);
  entry.verdict = same ? MemoryVerdict::kSame : d > 0 ? MemoryVerdict::kGrew : MemoryVerdict::kShrank;
  return !same;
}

}  // namespace

json MemoryFieldComparison::to_json() const {
  json entry = {{"key", key}, {"label", label}, {"a", a}, {"b", b}, {"verdict", to_string(verdict)}};
  if (noise) entry["noise"] = *noise;
  if (band) entry["band"] = *band;
  if (change) entry["change"] = *change;
  return entry;
}

json MemoryComparison::to_json() const {
  json list = json::array();
  for (const auto& f : fields) list.push_back(f.to_json());
  return {{"changed", changed}, {"fields", list}};
}

MemoryComparison compare_memory(const json& ca, const json& cb, const json* noise_cell, const DiffOptions& o) {
  const json& ea = member(ca, "evidence");
  const json& eb = member(cb, "evidence");
  static const json none;
  const json& en = member(noise_cell ? *noise_cell : none, "evidence");
  MemoryComparison m;
  for (const auto& f : memory_fields_of(ea, eb)) {
    MemoryFieldComparison entry;
    entry.key = f.key;
    entry.label = f.label;
    entry.a = member(ea, f.key.c_str());
    entry.b = member(eb, f.key.c_str());
    bool oa = false, ob = false;
    const double x = number(entry.a, oa), y = number(entry.b, ob);
    if (entry.a.is_null() || entry.b.is_null()) {
      entry.verdict = MemoryVerdict::kOneSideOnly;
    } else if (!oa || !ob) {
      entry.verdict = entry.a == entry.b ? MemoryVerdict::kSame : MemoryVerdict::kChanged;
      m.changed = m.changed || entry.a != entry.b;
    } else {
      m.changed = compare_bytes(entry, f, x, y, en, o) || m.changed;
    }
    m.fields.push_back(entry);
  }
  return m;
}

}  // namespace tw::diff_detail
