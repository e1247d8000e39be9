#pragma once
// Internal to harness/diff/: what its stages (the comparators, assembly, the fail-on policy, the
// renderers) share: numbers read and written as text, and the words a diff records read back as
// their enums.
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "harness/diff/diff.h"

namespace tw::diff_detail {

// A JSON number as a double, and `ok` whether it was one (0 when not).
double number(const nlohmann::json& v, bool& ok);
// A fraction as a percentage to 3 significant digits ("12.5%"); "inf" when infinite.
std::string percent(double fraction);
// So, with a "+" when not negative.
std::string signed_percent(double fraction);
// Seconds to 3 significant digits: "1.5 s" from a second on, "50 ms" below.
std::string milliseconds(double seconds);
// The median of a list that is not empty.
double median(std::vector<double> v);

// The tier a comparison recorded ("tier"); not comparable when it records none the set has.
CurveTier tier_of(const nlohmann::json& comparison);
// The verdict a speed comparison recorded ("verdict"); not measured when it records none.
SpeedVerdict speed_verdict_of(const nlohmann::json& speed);
// The verdict a memory field recorded ("verdict"); changed when it records none the set has.
MemoryVerdict memory_verdict_of(const nlohmann::json& field);

}  // namespace tw::diff_detail
