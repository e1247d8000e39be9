#include "harness/plan.h"

#include <algorithm>
#include <cctype>

#include "harness/errors.h"

namespace tw {
using nlohmann::json;

json Capabilities::to_json() const { return {{"gpus", gpus}, {"gloo", gloo}, {"nccl", nccl}}; }

std::string CellSpec::file_stem() const {
  std::string s = id;
  std::replace(s.begin(), s.end(), '/', '.');
  return s;
}

json CellSpec::to_json() const {
  json members = json::array();
  for (const auto& m : stack) members.push_back({{"name", m.name}, {"params", m.params}});
  json spec = {{"id", id},
          {"scenario", scenario},
          {"fault", fault},
          {"mitigation", mitigation},
          {"label", label},
          {"device", device},
          {"fault_params", fault_params},
          {"mitigation_params", mitigation_params},
          {"recipe", recipe},
          {"limits", limits.to_json()},
          {"ranks", ranks},
          {"seed", seed},
          {"stack", members}};
  if (horizon_scale != 1) spec["horizon_scale"] = horizon_scale;
  if (!trace.is_null()) spec["trace"] = trace;
  return spec;
}

Shard parse_shard(const std::string& text, const std::string& flag) {
  const std::string rule = "must be K/N with 1 <= K <= N <= " + std::to_string(kMaxShards);
  const auto slash = text.find('/');
  // Up to nine digits parse without overflow; the bound on N is then checked with its own words.
  auto digits = [](const std::string& s) {
    return !s.empty() && s.size() <= 9 &&
           std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isdigit(c) != 0; });
  };
  if (slash == std::string::npos || !digits(text.substr(0, slash)) || !digits(text.substr(slash + 1)))
    throw InputError(flag, "", rule + " (got '" + text + "')");
  const long k = std::stol(text.substr(0, slash));
  const long n = std::stol(text.substr(slash + 1));
  if (n > kMaxShards)
    throw InputError(flag, "",
                     rule + ": " + std::to_string(n) + " parts is more than " + std::to_string(kMaxShards) + " (got '" +
                         text + "')");
  if (n < 1 || k < 1 || k > n) throw InputError(flag, "", rule + " (got '" + text + "')");
  return Shard{static_cast<int>(k - 1), static_cast<int>(n)};
}

bool glob_match(const std::string& p, const std::string& t) {
  std::size_t pi = 0, ti = 0, star = std::string::npos, mark = 0;
  while (ti < t.size()) {
    if (pi < p.size() && (p[pi] == '?' || p[pi] == t[ti])) {
      ++pi;
      ++ti;
    } else if (pi < p.size() && p[pi] == '*') {
      star = pi++;
      mark = ti;
    } else if (star != std::string::npos) {
      pi = star + 1;
      ti = ++mark;
    } else {
      return false;
    }
  }
  while (pi < p.size() && p[pi] == '*') ++pi;
  return pi == p.size();
}

bool filter_match(const std::vector<std::string>& filters, const std::string& id) {
  bool any_positive = false, matched = false;
  for (const auto& f : filters) {
    if (!f.empty() && f[0] == '-') {
      if (glob_match(f.substr(1), id)) return false;
    } else {
      any_positive = true;
      matched = matched || glob_match(f, id);
    }
  }
  return !any_positive || matched;
}

uint64_t fnv1a(const std::string& s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

namespace {

std::string unmet(const std::vector<std::string>& reqs, const std::string& device, const Capabilities& caps,
                  int ranks) {
  for (const auto& r : reqs) {
    // A CUDA cell whose ranks each take a GPU of their own (NCCL refuses two ranks on one GPU).
    if (r == "gpu_per_rank" && device == "cuda" && ranks > caps.gpus)
      return "runs one rank per GPU: needs " + std::to_string(ranks) + " CUDA devices, this machine has " +
             std::to_string(caps.gpus);
    const int gpus = required_gpus(r, "requires", r);
    if (gpus > 0 && device != "cuda") return "requires '" + r + "', which needs a CUDA device cell";
    if (gpus > caps.gpus)
      return "requires '" + r + "' but this machine has " + std::to_string(caps.gpus) + " CUDA device(s)";
    if (r == "nccl" && !caps.nccl) return "requires NCCL, which this LibTorch build lacks";
    if (r == "gloo" && !caps.gloo) return "requires the c10d Gloo backend, which this LibTorch build lacks";
  }
  if (device == "cuda" && caps.gpus == 0) return "no CUDA device on this machine";
  return "";
}
}  // namespace

std::vector<CellSpec> plan_cells(const std::vector<Scenario>& scenarios, const Catalog& catalog,
                                 const PlanOptions& options) {
  std::vector<CellSpec> cells;
  for (const auto& device : options.devices) {
    for (const auto& s : scenarios) {
      if (std::find(s.devices.begin(), s.devices.end(), device) == s.devices.end()) continue;
      const ComponentInfo* fault = catalog.fault(s.fault);
      TW_CHECK(fault, "scenario validated against the catalog");
      for (const auto& m : s.mitigations) {
        CellSpec c;
        c.scenario = s.name;
        c.fault = s.fault;
        c.mitigation = m.name;
        c.label = m.label;
        c.stack = m.members();
        c.device = device;
        c.id = s.name + "/" + m.label + "/" + device;
        if (!filter_match(options.filters, c.id)) continue;
        if (options.shard.count > 1 &&
            static_cast<int>(fnv1a(c.id) % static_cast<uint64_t>(options.shard.count)) != options.shard.index)
          continue;
        c.fault_params = s.params;
        c.mitigation_params = m.params;
        c.recipe = s.recipe;
        c.limits = s.limits;
        c.ranks = fault->ranks;
        // A data-parallel fault may take its world size from the scenario (validated against
        // the fault's "world_size" parameter).
        if (fault->ranks > 1 && s.params.contains("world_size") && s.params["world_size"].is_number_integer())
          c.ranks = s.params["world_size"].get<int>();
        c.requirements = s.requirements;
        for (const auto& r : fault->requirements) c.requirements.push_back(r);
        // A stack needs what each of its members needs, and as many ranks as the widest.
        for (const auto& member : c.stack) {
          const ComponentInfo* mit = catalog.mitigation(member.name);
          TW_CHECK(mit, "scenario validated against the catalog");
          for (const auto& r : mit->requirements) c.requirements.push_back(r);
          c.ranks = std::max(c.ranks, mit->ranks);
        }
        auto e = m.expect.find(device);
        if (e != m.expect.end()) c.expected = e->second;
        c.unsupported_reason = unmet(c.requirements, device, options.caps, c.ranks);
        cells.push_back(std::move(c));
      }
    }
  }
  return cells;
}

}  // namespace tw
