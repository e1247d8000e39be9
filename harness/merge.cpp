#include "harness/merge.h"

#include <algorithm>
#include <limits>
#include <map>
#include <set>

#include "harness/errors.h"
#include "harness/json_util.h"
#include "harness/report.h"

namespace tw {
using nlohmann::json;

namespace {

// What must be equal for two shards to be parts of one run: the settings less the shard index
// (when every shard has its run.json; else the seed and seed list), and the device classes the run resolved
// to (--device auto may differ between machines).
json identity_of(const ShardResult& s, bool with_settings) {
  json id = json::object();
  if (with_settings) {
    id = s.settings;
    id.erase("shard_index");
  } else {
    id["seed"] = s.matrix.context().value("seed", json(nullptr));
    id["seeds"] = s.matrix.context().value("seeds", json(nullptr));
  }
  id["resolved_devices"] = s.matrix.context().value("devices", json::array());
  return id;
}

std::string first_difference(const json& a, const json& b) {
  for (const auto& [k, v] : a.items())
    if (!b.contains(k) || b[k] != v)
      return k + " (" + v.dump() + " vs " + (b.contains(k) ? b[k].dump() : std::string("absent")) + ")";
  for (const auto& [k, v] : b.items())
    if (!a.contains(k)) return k + " (absent vs " + v.dump() + ")";
  return "";
}

}  // namespace

json merge_shards(const std::vector<ShardResult>& shards) {
  if (shards.empty()) throw InputError("command line", "merge", "needs at least one results directory");
  bool with_settings = true;
  for (const auto& s : shards) with_settings = with_settings && s.settings.is_object();
  const json reference = identity_of(shards.front(), with_settings);
  std::map<std::string, std::string> owner;  // cell id -> shard path
  std::map<int, std::string> index_owner;
  struct Placed {
    long long key;
    std::size_t seq;
    const json* cell;
  };
  std::vector<Placed> placed;
  json merged_from = json::array();
  int shard_count = 0;
  for (const auto& s : shards) {
    const json id = identity_of(s, with_settings);
    const std::string diff = first_difference(reference, id);
    if (!diff.empty())
      throw InputError(s.path, "",
                       "is not a shard of the same run as " + shards.front().path + ": " + diff + " differ");
    json from = {{"path", s.path}};
    if (s.settings.is_object() && s.settings.contains("shard_index")) {
      const int index = s.settings.value("shard_index", 0);
      shard_count = s.settings.value("shard_count", 1);
      from["shard"] = std::to_string(index + 1) + "/" + std::to_string(shard_count);
      auto [it, inserted] = index_owner.emplace(index, s.path);
      if (!inserted)
        throw InputError(s.path, "", "is shard " + from["shard"].get<std::string>() + ", like " + it->second);
    }
    merged_from.push_back(from);
    for (const MatrixCell& record : s.matrix.cells()) {
      const json& c = *record.cell;
      auto [it, inserted] = owner.emplace(record.id, s.path);
      if (!inserted)
        throw InputError(s.path, "", "cell " + record.id + " is also in " + it->second + " (a cell twice)");
      const long long key = c.contains("plan_index") && c["plan_index"].is_number_integer()
                                ? c["plan_index"].get<long long>()
                                : std::numeric_limits<long long>::max();
      placed.push_back({key, placed.size(), &c});
    }
  }
  // Plan order across shards; cells from matrices without a plan index keep their input order.
  std::stable_sort(placed.begin(), placed.end(), [](const Placed& a, const Placed& b) { return a.key < b.key; });

  json context = shards.front().matrix.context();
  context.erase("shard");
  context["merged_from"] = merged_from;
  if (shard_count > 1) {
    json missing = json::array();
    for (int k = 0; k < shard_count; ++k)
      if (!index_owner.count(k)) missing.push_back(std::to_string(k + 1) + "/" + std::to_string(shard_count));
    if (!missing.empty()) context["shards_missing"] = missing;
  }
  json merged = {{"context", context}, {"cells", json::array()}};
  for (const auto& p : placed) merged["cells"].push_back(*p.cell);
  // What each shard recorded of its scenarios (article row, description): the union.
  for (const auto& s : shards) {
    const json& scenarios = member(s.matrix.raw(), "scenarios");
    if (!scenarios.is_object()) continue;
    if (!merged.contains("scenarios")) merged["scenarios"] = json::object();
    for (const auto& [name, info] : scenarios.items())
      if (!merged["scenarios"].contains(name)) merged["scenarios"][name] = info;
  }
  merged["summary"] = summarize_verdicts(Matrix(merged));
  return merged;
}

}  // namespace tw
