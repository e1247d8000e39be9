// The readers of a scenario's fields (scenario_fields.h): typed values, "limits", an entry of
// "mitigations" with its stack and expectations, and the files a recipe names.
#include "harness/scenario_fields.h"

#include <algorithm>
#include <filesystem>
#include <map>
#include <optional>
#include <set>

#include "harness/errors.h"
#include "harness/outcome.h"

namespace tw::scenario_detail {
using nlohmann::json;

bool valid_name(const std::string& s) {
  if (s.empty() || s.size() > 64) return false;
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-'; });
}

const json* member_of(const json& obj, const char* key) {
  auto it = obj.find(key);
  return it == obj.end() ? nullptr : &*it;
}

std::string get_string(const json& obj, const char* key, const std::string& where, const std::string& field,
                       bool required) {
  const json* v = member_of(obj, key);
  if (!v) {
    if (required) throw InputError(where, field, "is required");
    return "";
  }
  if (!v->is_string()) throw InputError(where, field, "must be a string");
  return v->get<std::string>();
}

void check_keys(const json& obj, std::initializer_list<const char*> allowed, const std::string& where,
                const std::string& prefix) {
  for (const auto& [key, v] : obj.items()) {
    bool ok = false;
    for (const char* a : allowed) ok = ok || key == a;
    if (!ok) {
      std::string list;
      for (const char* a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
      throw InputError(where, prefix.empty() ? key : prefix + "." + key, "unknown field (known: " + list + ")");
    }
  }
}

namespace {

double get_positive(const json& obj, const char* key, double fallback, double max, const std::string& where,
                    const std::string& field) {
  const json* v = member_of(obj, key);
  if (!v) return fallback;
  if (!v->is_number()) throw InputError(where, field, "must be a number");
  const double d = v->get<double>();
  if (!(d > 0)) throw InputError(where, field, "must be > 0");
  if (d > max) throw InputError(where, field, "must be <= " + std::to_string(static_cast<long long>(max)));
  return d;
}

}  // namespace

Limits parse_limits(const json& v, const std::string& where) {
  if (!v.is_object()) throw InputError(where, "limits", "must be an object");
  check_keys(v, {"wall_seconds", "heartbeat_seconds", "memory_mb", "exclusive"}, where, "limits");
  Limits l;
  l.wall_seconds = get_positive(v, "wall_seconds", l.wall_seconds, 24 * 3600, where, "limits.wall_seconds");
  // Unwritten, the heartbeat limit follows a shorter wall limit: a field the user never wrote is
  // never the one blamed.
  l.heartbeat_seconds = get_positive(v, "heartbeat_seconds", std::min(l.heartbeat_seconds, l.wall_seconds), 24 * 3600,
                                     where, "limits.heartbeat_seconds");
  l.memory_mb = static_cast<int64_t>(
      get_positive(v, "memory_mb", static_cast<double>(l.memory_mb), 1 << 24, where, "limits.memory_mb"));
  if (l.memory_mb < 16) throw InputError(where, "limits.memory_mb", "must be >= 16");
  if (const json* e = member_of(v, "exclusive")) {
    if (!e->is_boolean()) throw InputError(where, "limits.exclusive", "must be true or false");
    l.exclusive = e->get<bool>();
  }
  if (l.heartbeat_seconds > l.wall_seconds)
    throw InputError(where, "limits.heartbeat_seconds",
                     "must not exceed limits.wall_seconds (" + std::to_string(static_cast<long long>(l.wall_seconds)) +
                         (member_of(v, "wall_seconds") ? "" : ", the default") + ")");
  return l;
}

std::vector<std::string> string_list(const json& v, const std::string& where, const std::string& field) {
  if (!v.is_array()) throw InputError(where, field, "must be an array of strings");
  std::vector<std::string> out;
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (!v[i].is_string()) throw InputError(where, field + "[" + std::to_string(i) + "]", "must be a string");
    out.push_back(v[i].get<std::string>());
  }
  return out;
}

std::vector<std::string> parse_devices(const json& v, const std::string& where) {
  std::vector<std::string> devices = string_list(v, where, "devices");
  if (devices.empty()) throw InputError(where, "devices", "must name at least one device class");
  std::set<std::string> seen;
  for (std::size_t i = 0; i < devices.size(); ++i) {
    const auto& dev = devices[i];
    if (dev != "cpu" && dev != "cuda")
      throw InputError(where, "devices[" + std::to_string(i) + "]", "unknown device class '" + dev + "' (cpu, cuda)");
    if (!seen.insert(dev).second) throw InputError(where, "devices[" + std::to_string(i) + "]", "listed twice");
  }
  return devices;
}

namespace {

std::map<std::string, Outcome> parse_expect(const json& x, const std::string& where, const std::string& prefix) {
  if (!x.is_object()) throw InputError(where, prefix + ".expect", "must be an object {device class: outcome}");
  std::map<std::string, Outcome> out;
  for (const auto& [device, outcome] : x.items()) {
    const std::string field = prefix + ".expect." + device;
    if (device != "cpu" && device != "cuda") throw InputError(where, field, "unknown device class (cpu, cuda)");
    if (!outcome.is_string()) throw InputError(where, field, "must be an outcome name");
    auto o = parse_outcome(outcome.get<std::string>());
    if (!o) {
      std::string list;
      for (const auto& n : outcome_names()) list += (list.empty() ? "" : ", ") + n;
      throw InputError(where, field, "unknown outcome '" + outcome.get<std::string>() + "' (one of: " + list + ")");
    }
    out[device] = *o;
  }
  return out;
}

const ComponentInfo& known_mitigation(const std::string& name, const Catalog& catalog, const std::string& where,
                                      const std::string& field) {
  const ComponentInfo* info = catalog.mitigation(name);
  if (!info) throw InputError(where, field, "unknown mitigation '" + name + "' (see 'trainwreck list')");
  return *info;
}

// "apply": [name | {"name", "params"}, ...] with optional "params": {member: {...}}.
std::vector<StackMember> parse_stack(const json& m, const std::string& where, const std::string& prefix,
                                     const Catalog& catalog) {
  const json& apply = m["apply"];
  if (!apply.is_array() || apply.empty())
    throw InputError(where, prefix + ".apply",
                     "must be a non-empty array of mitigation names or {\"name\", \"params\"} objects");
  if (apply.size() > kMaxStackMembers)
    throw InputError(where, prefix + ".apply", "must have at most " + std::to_string(kMaxStackMembers) + " members");
  std::vector<StackMember> stack;
  std::map<std::string, std::string> params_from;  // member -> field its params came from
  for (std::size_t k = 0; k < apply.size(); ++k) {
    const std::string field = prefix + ".apply[" + std::to_string(k) + "]";
    const json& a = apply[k];
    StackMember member;
    if (a.is_string()) {
      member.name = a.get<std::string>();
      known_mitigation(member.name, catalog, where, field);
    } else if (a.is_object()) {
      check_keys(a, {"name", "params"}, where, field);
      member.name = get_string(a, "name", where, field + ".name", true);
      const ComponentInfo& info = known_mitigation(member.name, catalog, where, field + ".name");
      if (const json* p = member_of(a, "params")) {
        validate_component_params(*p, info, where, field + ".params");
        member.params = *p;
        params_from[member.name] = field + ".params";
      }
    } else {
      throw InputError(where, field, "must be a mitigation name or an object {\"name\", \"params\"}");
    }
    // "none" is the baseline entry of its own; inside a stack it would only hide a typo.
    if (member.name == "none") throw InputError(where, field, "'none' cannot be part of a stack");
    for (std::size_t j = 0; j < stack.size(); ++j)
      if (stack[j].name == member.name)
        throw InputError(where, field,
                         "'" + member.name + "' is already in this stack (apply[" + std::to_string(j) + "])");
    stack.push_back(std::move(member));
  }
  if (const json* p = member_of(m, "params")) {
    if (!p->is_object()) throw InputError(where, prefix + ".params", "must be an object {member name: parameters}");
    for (const auto& [name, value] : p->items()) {
      const std::string field = prefix + ".params." + name;
      auto it = std::find_if(stack.begin(), stack.end(), [&](const StackMember& x) { return x.name == name; });
      if (it == stack.end()) {
        std::string list;
        for (const auto& x : stack) list += (list.empty() ? "" : ", ") + x.name;
        throw InputError(where, field, "'" + name + "' is not in this stack (members: " + list + ")");
      }
      if (params_from.count(name)) throw InputError(where, field, "already given in " + params_from[name]);
      validate_component_params(value, *catalog.mitigation(name), where, field);
      it->params = value;
    }
  }
  return stack;
}

}  // namespace

MitigationEntry parse_mitigation(const json& m, const std::string& where, const std::string& prefix,
                                 const Catalog& catalog) {
  if (!m.is_object()) throw InputError(where, prefix, "must be an object");
  check_keys(m, {"name", "apply", "label", "params", "expect", "note"}, where, prefix);
  MitigationEntry e;
  e.label = get_string(m, "label", where, prefix + ".label", false);
  if (member_of(m, "apply")) {
    if (member_of(m, "name"))
      throw InputError(where, prefix + ".name", "cannot be given with 'apply' (a stack is named by its 'label')");
    e.stack = parse_stack(m, where, prefix, catalog);
    e.name = stack_name(e.stack);
    if (e.stack.size() == 1) e.params = e.stack.front().params;  // a stack of one is that mitigation
    if (e.label.empty()) throw InputError(where, prefix + ".label", "required for a stack");
  } else {
    e.name = get_string(m, "name", where, prefix + ".name", true);
    const ComponentInfo& info = known_mitigation(e.name, catalog, where, prefix + ".name");
    if (const json* p = member_of(m, "params")) {
      validate_component_params(*p, info, where, prefix + ".params");
      e.params = *p;
    }
    if (e.name != "none") e.stack.push_back({e.name, e.params});
  }
  // A member whose parameters are checked together is checked even when the entry gives none.
  // A stack's parameters are given per member ("params": {member: {...}}), a single entry's directly.
  const bool is_stack = member_of(m, "apply") != nullptr;
  for (const auto& member : e.stack)
    if (const ComponentInfo* info = catalog.mitigation(member.name); info->check_params && member.params.empty())
      validate_component_params(member.params, *info, where,
                                is_stack ? prefix + ".params." + member.name : prefix + ".params");
  if (e.label.empty()) e.label = e.name;
  if (!valid_name(e.label))
    throw InputError(where, prefix + ".label", "must be 1-64 characters of a-z, 0-9, '_' or '-'");
  if (const json* x = member_of(m, "expect")) e.expect = parse_expect(*x, where, prefix);
  return e;
}

// A file a recipe names is looked up relative to the scenario file's directory; it must be a
// regular file there. The recipe then carries the resolved path, and the backend checks the file.
void resolve_recipe_files(json& recipe, const Catalog& catalog, const std::string& where) {
  for (const auto& spec : catalog.recipe) {
    if (!spec.path || !recipe.contains(spec.name)) continue;
    const std::string field = "recipe." + spec.name;
    const std::string given = recipe[spec.name].get<std::string>();
    if (given.empty()) throw InputError(where, field, "must name a file");
    std::filesystem::path p(given);
    if (p.is_relative()) p = std::filesystem::path(where).parent_path() / p;
    std::error_code ec;
    const std::filesystem::path resolved = std::filesystem::weakly_canonical(p, ec);
    if (ec || !std::filesystem::is_regular_file(resolved, ec))
      throw InputError(where, field, "no such file: " + (ec ? p : resolved).string());
    recipe[spec.name] = resolved.string();
  }
  if (!catalog.check_recipe) return;
  if (const std::optional<RecipeProblem> problem = catalog.check_recipe(recipe))
    throw InputError(where, problem->field, problem->message);
}

}  // namespace tw::scenario_detail
