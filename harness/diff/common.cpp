#include "harness/diff/common.h"

#include <algorithm>
#include <cmath>
#include <sstream>

namespace tw::diff_detail {
using nlohmann::json;

double number(const json& v, bool& ok) {
  ok = v.is_number();
  return ok ? v.get<double>() : 0;
}

std::string percent(double fraction) {
  if (std::isinf(fraction)) return "inf";
  std::ostringstream os;
  os.precision(3);
  os << fraction * 100 << "%";
  return os.str();
}

std::string signed_percent(double fraction) {
  std::string s = fraction >= 0 ? "+" : "";
  s += percent(fraction);
  return s;
}

std::string milliseconds(double seconds) {
  std::ostringstream os;
  os.precision(3);
  if (std::fabs(seconds) >= 1) os << seconds << " s";
  else os << seconds * 1000 << " ms";
  return os.str();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

}  // namespace tw::diff_detail
