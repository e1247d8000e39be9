// The enums of the diff as words and back, and the fail-on policy: which tiers of a diff fail it.
#include <array>
#include <optional>

#include "harness/diff/common.h"
#include "harness/json_util.h"

namespace tw {
using nlohmann::json;

const char* to_string(CurveTier tier) {
  switch (tier) {
    case CurveTier::kNotComparable: return "not comparable";
    case CurveTier::kIdentical: return "identical";
    case CurveTier::kIdenticalOnSharedSteps: return "identical on shared steps";
    case CurveTier::kWithinTolerance: return "within tolerance";
    case CurveTier::kDrifted: return "drifted";
  }
  return "not comparable";
}

const char* to_string(SpeedVerdict verdict) {
  switch (verdict) {
    case SpeedVerdict::kNotMeasured: return "not measured";
    case SpeedVerdict::kTooShort: return "too short";
    case SpeedVerdict::kWithinBand: return "within band";
    case SpeedVerdict::kSlower: return "slower";
    case SpeedVerdict::kFaster: return "faster";
  }
  return "not measured";
}

const char* to_string(MemoryVerdict verdict) {
  switch (verdict) {
    case MemoryVerdict::kOneSideOnly: return "one side only";
    case MemoryVerdict::kSame: return "same";
    case MemoryVerdict::kChanged: return "changed";
    case MemoryVerdict::kGrew: return "grew";
    case MemoryVerdict::kShrank: return "shrank";
  }
  return "changed";
}

const char* to_string(FailOn tier) {
  switch (tier) {
    case FailOn::kSpeed: return "speed";
    case FailOn::kMemory: return "memory";
    case FailOn::kNumerics: return "numerics";
    case FailOn::kSteps: return "steps";
    case FailOn::kHost: return "host";
  }
  return "host";
}

namespace {

// The member of a closed set whose to_string is `word`, among `all`; nullopt for any other word.
template <typename E, std::size_t N>
std::optional<E> parse_word(const std::string& word, const std::array<E, N>& all) {
  for (const E e : all)
    if (word == to_string(e)) return e;
  return std::nullopt;
}

constexpr std::array<CurveTier, 5> kCurveTiers = {CurveTier::kNotComparable, CurveTier::kIdentical,
                                                  CurveTier::kIdenticalOnSharedSteps, CurveTier::kWithinTolerance,
                                                  CurveTier::kDrifted};
constexpr std::array<SpeedVerdict, 5> kSpeedVerdicts = {SpeedVerdict::kNotMeasured, SpeedVerdict::kTooShort,
                                                        SpeedVerdict::kWithinBand, SpeedVerdict::kSlower,
                                                        SpeedVerdict::kFaster};
constexpr std::array<MemoryVerdict, 5> kMemoryVerdicts = {MemoryVerdict::kOneSideOnly, MemoryVerdict::kSame,
                                                          MemoryVerdict::kChanged, MemoryVerdict::kGrew,
                                                          MemoryVerdict::kShrank};
constexpr std::array<FailOn, 5> kFailOn = {FailOn::kSpeed, FailOn::kMemory, FailOn::kNumerics, FailOn::kSteps,
                                           FailOn::kHost};

}  // namespace

namespace diff_detail {

CurveTier tier_of(const json& comparison) {
  return parse_word(comparison.value("tier", ""), kCurveTiers).value_or(CurveTier::kNotComparable);
}

SpeedVerdict speed_verdict_of(const json& speed) {
  return parse_word(speed.value("verdict", ""), kSpeedVerdicts).value_or(SpeedVerdict::kNotMeasured);
}

MemoryVerdict memory_verdict_of(const json& field) {
  return parse_word(field.value("verdict", ""), kMemoryVerdicts).value_or(MemoryVerdict::kChanged);
}

}  // namespace diff_detail

std::optional<FailOn> parse_fail_on(const std::string& word) { return parse_word(word, kFailOn); }

bool outcomes_changed(const json& diff) {
  return diff.contains("summary") && diff["summary"].value("outcome_changed", 0) > 0;
}

const std::set<FailOn>& fail_on_choices() {
  static const std::set<FailOn> choices(kFailOn.begin(), kFailOn.end());
  return choices;
}

std::vector<std::string> diff_failures(const json& diff, const std::set<FailOn>& fail_on) {
  std::vector<std::string> out;
  if (!diff.is_object() || !diff.contains("summary")) return out;
  const json& s = diff["summary"];
  auto count = [&](const char* group, const char* key) {
    const json& g = member(s, group);
    return g.is_object() ? g.value(key, 0) : 0;
  };
  if (outcomes_changed(diff)) out.push_back(std::to_string(s["outcome_changed"].get<int>()) + " outcome(s) changed");
  if (fail_on.count(FailOn::kSpeed) && count("speed", "slower") > 0)
    out.push_back(std::to_string(count("speed", "slower")) + " cell(s) slower beyond the band");
  if (fail_on.count(FailOn::kMemory)) {
    int grew = 0;
    const json& fields = member(member(s, "memory"), "fields");
    if (fields.is_object())
      for (const auto& [k, v] : fields.items()) grew += v.value("grew", 0);
    if (grew > 0) out.push_back(std::to_string(grew) + " memory field(s) grew beyond the band");
  }
  if (fail_on.count(FailOn::kNumerics) && count("numerics", "drifted") > 0)
    out.push_back(std::to_string(count("numerics", "drifted")) + " loss curve(s) drifted");
  if (fail_on.count(FailOn::kSteps) && count("steps", "changed") > 0)
    out.push_back(std::to_string(count("steps", "changed")) + " cell(s) with changed steps");
  if (fail_on.count(FailOn::kHost) && s.value("host_changed", false)) out.push_back("a different host");
  return out;
}

}  // namespace tw
