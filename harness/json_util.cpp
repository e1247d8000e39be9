#include "harness/json_util.h"

#include <cmath>
#include <limits>
#include <sstream>

namespace tw {
using nlohmann::json;

const json& member(const json& obj, const char* key) {
  static const json null;
  if (!obj.is_object()) return null;
  auto it = obj.find(key);
  return it == obj.end() ? null : *it;
}

const json& cells_of(const json& matrix) {
  static const json empty = json::array();
  const json& cells = member(matrix, "cells");
  return cells.is_array() ? cells : empty;
}

namespace {
void collect(const json& v, const std::string& prefix, std::vector<std::pair<std::string, json>>& out) {
  if (v.is_object()) {  // an empty object has no leaf to show
    for (const auto& [k, item] : v.items()) collect(item, prefix.empty() ? k : prefix + "." + k, out);
  } else if (!prefix.empty()) {
    out.emplace_back(prefix, v);
  }
}
}  // namespace

std::vector<std::pair<std::string, json>> flatten(const json& v, const std::string& prefix) {
  std::vector<std::pair<std::string, json>> out;
  collect(v, prefix, out);
  return out;
}

std::string format_number(double v, int precision) {
  std::ostringstream os;
  os.precision(precision);
  os << v;
  return os.str();
}

std::string in_mib(double bytes, int precision) { return format_number(bytes / (1024.0 * 1024.0), precision); }

std::string show(const json& v) {
  if (v.is_null()) return "(none)";
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number_float()) return format_number(v.get<double>(), 6);
  return v.dump(-1, ' ', false, json::error_handler_t::replace);
}

bool recorded_number(const json& v, double& out) {
  if (v.is_number()) {
    out = v.get<double>();
    return true;
  }
  if (v.is_string()) {
    const std::string s = v.get<std::string>();
    if (s == "inf" || s == "+inf") out = std::numeric_limits<double>::infinity();
    else if (s == "-inf") out = -std::numeric_limits<double>::infinity();
    else out = std::numeric_limits<double>::quiet_NaN();
    return true;
  }
  return false;
}

bool finite_number(const json& v, double& out) {
  if (!v.is_number()) return false;
  out = v.get<double>();
  return std::isfinite(out);
}

}  // namespace tw
