#include "harness/catalog.h"

#include <cmath>
#include <sstream>

#include "harness/errors.h"
#include "harness/stack_rule.h"

namespace tw {

namespace {
const ComponentInfo* find(const std::vector<ComponentInfo>& list, const std::string& name) {
  for (const auto& c : list)
    if (c.name == name) return &c;
  return nullptr;
}

// The shortest text that reads back as the same number: 1073741825, not 1.07374e+09, so a
// bound and the value that broke it never print alike.
std::string number_text(double v) {
  if (std::isfinite(v) && v == std::floor(v) && std::fabs(v) < 9.0e15) {
    std::ostringstream os;
    os << static_cast<long long>(v);
    return os.str();
  }
  for (int precision = 6; precision <= 17; ++precision) {
    std::ostringstream os;
    os.precision(precision);
    os << v;
    if (precision == 17 || std::stod(os.str()) == v) return os.str();
  }
  return std::to_string(v);
}
}  // namespace

const ComponentInfo* Catalog::fault(const std::string& name) const { return find(faults, name); }
const ComponentInfo* Catalog::mitigation(const std::string& name) const { return find(mitigations, name); }

void Catalog::add(const Catalog& other) {
  for (const auto& f : other.faults) {
    TW_CHECK(!fault(f.name), "fault registered twice: " + f.name);
    faults.push_back(f);
  }
  for (const auto& m : other.mitigations) {
    TW_CHECK(!mitigation(m.name), "mitigation registered twice: " + m.name);
    mitigations.push_back(m);
  }
  for (const auto& r : other.recipe) recipe.push_back(r);
  if (other.check_recipe) {
    TW_CHECK(!check_recipe, "two recipe checks registered");
    check_recipe = other.check_recipe;
  }
}

const char* to_string(ParamSpec::Type type) {
  switch (type) {
    case ParamSpec::Type::kNumber: return "number";
    case ParamSpec::Type::kInteger: return "integer";
    case ParamSpec::Type::kBool: return "boolean";
    case ParamSpec::Type::kString: return "string";
    case ParamSpec::Type::kVersion: return "version";
  }
  return "?";
}

void validate_params(const nlohmann::json& value, const std::vector<ParamSpec>& specs, const std::string& where,
                     const std::string& prefix) {
  if (!value.is_object()) throw InputError(where, prefix, "must be an object");
  for (const auto& [key, v] : value.items()) {
    const std::string field = prefix.empty() ? key : prefix + "." + key;
    const ParamSpec* spec = nullptr;
    for (const auto& s : specs)
      if (s.name == key) spec = &s;
    if (!spec) {
      std::string known;
      for (const auto& s : specs) known += (known.empty() ? "" : ", ") + s.name;
      throw InputError(
          where, field,
          "unknown parameter" + (known.empty() ? std::string(" (this takes none)") : " (known: " + known + ")"));
    }
    switch (spec->type) {
      case ParamSpec::Type::kBool:
        if (!v.is_boolean()) throw InputError(where, field, "must be a boolean");
        break;
      case ParamSpec::Type::kString:
        if (!v.is_string()) throw InputError(where, field, "must be a string");
        if (!spec->choices.empty()) {
          bool ok = false;
          std::string list;
          for (const auto& c : spec->choices) {
            ok = ok || c == v.get<std::string>();
            list += (list.empty() ? "" : ", ") + c;
          }
          if (!ok) throw InputError(where, field, "must be one of: " + list);
        }
        break;
      case ParamSpec::Type::kVersion:
        if (!v.is_string() || !parse_version(v.get<std::string>()))
          throw InputError(where, field, "must be a version string: numbers separated by dots, as \"2.28.9\"");
        break;
      case ParamSpec::Type::kInteger:
      case ParamSpec::Type::kNumber: {
        if (!v.is_number()) throw InputError(where, field, std::string("must be a ") + to_string(spec->type));
        const double d = v.get<double>();
        if (!std::isfinite(d)) throw InputError(where, field, "must be finite");
        if (spec->type == ParamSpec::Type::kInteger && (!v.is_number_integer() && d != std::floor(d)))
          throw InputError(where, field, "must be an integer");
        if (spec->type == ParamSpec::Type::kInteger && std::fabs(d) > 9.0e15)
          throw InputError(where, field, "is out of range");
        if (spec->min_exclusive ? d <= spec->min : d < spec->min)
          throw InputError(where, field,
                           "must be " + std::string(spec->min_exclusive ? "> " : ">= ") + number_text(spec->min) +
                               " (got " + number_text(d) + ")");
        if (d > spec->max)
          throw InputError(where, field, "must be <= " + number_text(spec->max) + " (got " + number_text(d) + ")");
        break;
      }
    }
  }
}

void validate_component_params(const nlohmann::json& value, const ComponentInfo& info, const std::string& where,
                               const std::string& prefix) {
  validate_params(value, info.params, where, prefix);
  if (info.check_params)
    if (auto problem = info.check_params(value)) throw InputError(where, prefix + "." + problem->field, problem->message);
}

}  // namespace tw
