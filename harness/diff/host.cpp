// The host and the rest of the environment: which facts differ between A's context and B's, the
// host first (a different machine is a warning), with the labels the diff shows them under.
#include <algorithm>
#include <map>
#include <set>

#include "harness/diff/comparators.h"
#include "harness/json_util.h"

namespace tw::diff_detail {
using nlohmann::json;

namespace {

// The environment facts an upgrade is about, in the order they are shown; other context keys
// follow in alphabetical order under their dotted path.
const std::vector<std::pair<std::string, std::string>>& known_context_keys() {
  static const std::vector<std::pair<std::string, std::string>> keys = {
      {"probe.libtorch", "LibTorch"},
      {"probe.cuda_runtime", "CUDA runtime"},
      {"probe.cuda_driver_api", "CUDA driver API"},
      {"probe.nvidia_driver", "NVIDIA driver"},
      {"probe.nccl", "NCCL"},
      {"probe.cudnn", "cuDNN"},
      {"probe.gpu_name", "GPU"},
      {"probe.gpu_names", "GPUs"},
      {"probe.cuda_device_count", "GPU count"},
      {"probe.gpu_memory_mb", "GPU memory (MiB)"},
      {"probe.gpu_compute_capability", "compute capability"},
      {"host.compiler", "compiler"},
      {"host.cpu", "CPU"},
      {"host.cpu_vendor", "CPU vendor"},
      {"host.cpu_family", "CPU family"},
      {"host.cpu_model", "CPU model number"},
      {"host.cpu_stepping", "CPU stepping"},
      {"host.cpu_flags", "CPU flags"},
      {"host.cpu_flags_hash", "CPU flag hash"},
      {"host.cpu_flags_count", "CPU flag count"},
      {"host.cpu_cores", "CPU cores"},
      {"host.memory_mb", "host memory (MiB)"},
      {"host.os", "OS"},
      {"host.arch", "architecture"},
      {"host.trainwreck", "trainwreck version"},
      {"host.git_revision", "trainwreck revision"},
      {"seed", "seed"},
      {"seeds", "seeds"},
      {"devices", "devices"},
  };
  return keys;
}

// The facts that say which machine ran: when one differs, the numbers may differ for that reason
// alone. (A driver is part of the host: an upgrade of the driver itself shows here too.)
const std::vector<std::string>& host_keys() {
  static const std::vector<std::string> keys = {"host.cpu",
                                                "host.cpu_vendor",
                                                "host.cpu_family",
                                                "host.cpu_model",
                                                "host.cpu_stepping",
                                                "host.cpu_flags",
                                                "host.cpu_flags_hash",
                                                "host.cpu_cores",
                                                "host.os",
                                                "host.arch",
                                                "probe.gpu_name",
                                                "probe.gpu_names",
                                                "probe.cuda_device_count",
                                                "probe.gpu_compute_capability",
                                                "probe.nvidia_driver",
                                                "probe.cuda_driver_api"};
  return keys;
}

std::string label_of(const std::string& key) {
  for (const auto& [k, label] : known_context_keys())
    if (k == key) return label;
  return key;
}

// Bookkeeping of one run, different by nature between any two runs.
bool ignored_context_key(const std::string& key) {
  return key == "started_at" || key == "finished_at" || key == "merged_from" || key == "shard" || key == "baseline" ||
         key.rfind("capabilities.", 0) == 0;
}

// A host fact that differs, or that one run only recorded.
struct HostFact {
  std::string key, label;
  json a, b;            // null on the side that did not record it
  json added, removed;  // list values (CPU flags): the items only B has, only A has; null otherwise

  json to_json() const {
    json entry = {{"key", key}, {"label", label}, {"a", a}, {"b", b}};
    if (added.is_array()) {
      entry["added"] = added;
      entry["removed"] = removed;
    }
    return entry;
  }
};

// A's host against B's ("host_changed").
struct HostComparison {
  std::vector<HostFact> fields;   // recorded by both, different
  std::vector<HostFact> unknown;  // recorded by one run only

  bool changed() const { return !fields.empty(); }
  json fields_json() const {
    json out = json::array();
    for (const auto& f : fields) out.push_back(f.to_json());
    return out;
  }
  json to_json() const {
    json u = json::array();
    for (const auto& f : unknown) u.push_back(f.to_json());
    return {{"changed", changed()}, {"fields", fields_json()}, {"unknown", u}};
  }
};

// The items of list `from` that list `other` lacks.
json missing_from(const json& from, const json& other) {
  json out = json::array();
  for (const auto& x : from)
    if (std::find(other.begin(), other.end(), x) == other.end()) out.push_back(x);
  return out;
}

HostComparison compare_host(const std::map<std::string, json>& ca, const std::map<std::string, json>& cb) {
  HostComparison h;
  for (const auto& key : host_keys()) {
    const bool in_a = ca.count(key) > 0, in_b = cb.count(key) > 0;
    if (!in_a && !in_b) continue;
    HostFact fact{key, label_of(key), in_a ? ca.at(key) : json(nullptr), in_b ? cb.at(key) : json(nullptr), {}, {}};
    if (!in_a || !in_b) {
      h.unknown.push_back(fact);
      continue;
    }
    if (fact.a == fact.b) continue;
    if (fact.a.is_array() && fact.b.is_array()) {
      fact.added = missing_from(fact.b, fact.a);
      fact.removed = missing_from(fact.a, fact.b);
    }
    h.fields.push_back(fact);
  }
  return h;
}

std::map<std::string, json> context_leaves(const Matrix& matrix) {
  std::map<std::string, json> out;
  for (auto& [k, v] : flatten(matrix.context())) out[k] = std::move(v);
  return out;
}

}  // namespace

void compare_context(json& d, const Matrix& a, const Matrix& b, const Matrix& noise) {
  const std::map<std::string, json> ca = context_leaves(a), cb = context_leaves(b);
  d["host_changed"] = compare_host(ca, cb).to_json();
  if (noise.present()) {
    const HostComparison hn = compare_host(ca, context_leaves(noise));
    if (hn.changed()) d["host_changed"]["noise_host_differs"] = hn.fields_json();
  }
  std::set<std::string> keys;
  for (const auto& [k, v] : ca) keys.insert(k);
  for (const auto& [k, v] : cb) keys.insert(k);
  auto add_context = [&](const std::string& key, const std::string& label) {
    const json va = ca.count(key) ? ca.at(key) : json(nullptr);
    const json vb = cb.count(key) ? cb.at(key) : json(nullptr);
    if (va != vb) d["context"].push_back({{"key", key}, {"label", label}, {"a", va}, {"b", vb}});
    keys.erase(key);
  };
  for (const auto& [key, label] : known_context_keys()) add_context(key, label);
  for (const auto& key : std::vector<std::string>(keys.begin(), keys.end()))
    if (!ignored_context_key(key)) add_context(key, key);
}

}  // namespace tw::diff_detail
