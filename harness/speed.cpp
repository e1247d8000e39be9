#include "harness/speed.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "harness/diff/common.h"
#include "harness/json_util.h"

namespace tw {
using nlohmann::json;

namespace {

constexpr double kMadToSigma = 1.4826;        // a normal sample's sigma from its median absolute deviation
constexpr double kMedianEfficiency = 1.2533;  // standard error of a median over that of a mean (sqrt(pi/2))
constexpr std::size_t kOwnSpreadRounds = 5;   // 2 x 5 - 1 = 9 ratios: enough for a cell's own spread

double spread_of(const std::vector<double>& deviations) {
  if (deviations.empty()) return 0;
  std::vector<double> abs;
  for (const double d : deviations) abs.push_back(std::fabs(d));
  return kMadToSigma * diff_detail::median(abs);
}

// ln(A_r+1 / A_r): what two runs of the same side differ by.
std::vector<double> aa_ratios(const SpeedRounds& c) {
  std::vector<double> r;
  for (std::size_t i = 0; i + 1 < c.a.size(); ++i) r.push_back(std::log(c.a[i + 1] / c.a[i]));
  return r;
}

std::vector<double> ab_ratios(const SpeedRounds& c) {
  std::vector<double> r;
  for (std::size_t i = 0; i < c.a.size(); ++i) r.push_back(std::log(c.b[i] / c.a[i]));
  return r;
}

// The median of `logs` with z standard errors either side, judged against the threshold.
SpeedEstimate estimate(const std::vector<double>& logs, double sigma, const SpeedSettings& s) {
  SpeedEstimate e;
  const double m = diff_detail::median(logs);
  const double half = s.z * kMedianEfficiency * sigma / std::sqrt(static_cast<double>(logs.size()));
  e.change = std::exp(m) - 1;
  e.interval = {std::exp(m - half) - 1, std::exp(m + half) - 1};
  e.call = e.interval.first > s.threshold     ? SpeedCall::kSlower
           : e.interval.second < -s.threshold ? SpeedCall::kFaster
                                              : SpeedCall::kSame;
  return e;
}

json estimate_json(const SpeedEstimate& e) {
  return {{"change", e.change},
          {"interval", json::array({e.interval.first, e.interval.second})},
          {"verdict", to_string(e.call)}};
}

std::string percent(double v) {
  std::ostringstream s;
  s.setf(std::ios::fixed);
  s.precision(1);
  s << (v >= 0 ? "+" : "") << v * 100 << " %";
  return s.str();
}

std::string interval_text(const json& e) {
  const json& i = member(e, "interval");
  if (!i.is_array() || i.size() != 2) return "";
  return "[" + percent(i[0].get<double>()) + ", " + percent(i[1].get<double>()) + "]";
}

}  // namespace

std::string side_text(const json& side) {
  std::string text = member(side, "exe").is_string() ? side["exe"].get<std::string>() : "";
  for (const auto& kv : member(side, "env").is_array() ? side["env"] : json::array())
    text.append(1, ' ').append(kv.get<std::string>());
  return text;
}

const char* to_string(SpeedCall call) {
  switch (call) {
    case SpeedCall::kSlower: return "slower";
    case SpeedCall::kFaster: return "faster";
    case SpeedCall::kSame: return "same";
    case SpeedCall::kNotTimed: return "not timed";
  }
  return "not timed";
}

int SpeedJudgement::count(SpeedCall call) const {
  return static_cast<int>(
      std::count_if(cells.begin(), cells.end(), [&](const SpeedCell& c) { return c.ab.call == call; }));
}

int SpeedJudgement::aa_flagged() const {
  return static_cast<int>(std::count_if(cells.begin(), cells.end(), [](const SpeedCell& c) {
    return c.aa.call == SpeedCall::kSlower || c.aa.call == SpeedCall::kFaster;
  }));
}

SpeedJudgement judge_speed(const std::vector<SpeedRounds>& cells, const SpeedSettings& settings) {
  SpeedJudgement j;
  j.settings = settings;
  std::vector<double> pooled;
  for (const auto& c : cells)
    if (c.not_timed.empty())
      for (const double r : aa_ratios(c)) pooled.push_back(r);
  j.aa_pairs = static_cast<int>(pooled.size());
  j.sigma = spread_of(pooled);
  for (const auto& rounds : cells) {
    SpeedCell c;
    c.rounds = rounds;
    if (!rounds.not_timed.empty() || rounds.a.size() < 2 || rounds.a.size() != rounds.b.size()) {
      if (c.rounds.not_timed.empty()) c.rounds.not_timed = "fewer than two rounds";
      c.ab.call = c.aa.call = SpeedCall::kNotTimed;
      j.cells.push_back(c);
      continue;
    }
    // Its own spread: the A/A ratios about 0 and the A/B ratios about their median.
    const std::vector<double> ab = ab_ratios(rounds), aa = aa_ratios(rounds);
    std::vector<double> own = aa;
    const double m = diff_detail::median(ab);
    for (const double r : ab) own.push_back(r - m);
    // Cells differ in noise (a sub-millisecond step spreads wider than a 10 ms one): with enough
    // rounds a cell is judged by its own spread; with few, by the pooled one when that is wider.
    c.sigma = rounds.a.size() >= kOwnSpreadRounds ? spread_of(own) : std::max(j.sigma, spread_of(own));
    c.ab = estimate(ab, c.sigma, settings);
    c.aa = estimate(aa, c.sigma, settings);
    j.cells.push_back(c);
  }
  return j;
}

json SpeedJudgement::to_json() const {
  json cs = json::array();
  for (const auto& c : cells) {
    json cj = {{"id", c.rounds.id}};
    if (c.ab.call == SpeedCall::kNotTimed) {
      cj["verdict"] = to_string(SpeedCall::kNotTimed);
      cj["reason"] = c.rounds.not_timed;
    } else {
      cj["a_step_seconds"] = c.rounds.a;
      cj["b_step_seconds"] = c.rounds.b;
      cj["sigma"] = c.sigma;
      cj.update(estimate_json(c.ab));
      cj["aa"] = estimate_json(c.aa);
    }
    cs.push_back(cj);
  }
  return {{"threshold", settings.threshold},
          {"z", settings.z},
          {"sigma", sigma},
          {"aa_pairs", aa_pairs},
          {"cells", cs},
          {"summary",
           {{"slower", count(SpeedCall::kSlower)},
            {"faster", count(SpeedCall::kFaster)},
            {"same", count(SpeedCall::kSame)},
            {"not_timed", count(SpeedCall::kNotTimed)},
            {"aa_flagged", aa_flagged()}}}};
}

std::string render_speed(const json& j, bool markdown) {
  std::ostringstream out;
  const json& sum = member(j, "summary");
  const std::string rounds = member(j, "rounds").is_number() ? std::to_string(j["rounds"].get<int>()) : "?";
  out << (markdown ? "## Speed, interleaved\n\n" : "speed, interleaved\n");
  out << (markdown ? "- A: `" : "  A: ") << side_text(member(j, "a")) << (markdown ? "`\n- B: `" : "\n  B: ")
      << side_text(member(j, "b")) << (markdown ? "`\n" : "\n");
  out << (markdown ? "- " : "  ") << rounds << " rounds (A B A B ...), one cell at a time; spread of one A/A log ratio "
      << percent(member(j, "sigma").is_number() ? j["sigma"].get<double>() : 0).substr(1) << " over "
      << show(member(j, "aa_pairs")) << " pairs; a change counts beyond "
      << percent(member(j, "threshold").is_number() ? j["threshold"].get<double>() : 0).substr(1) << " at "
      << show(member(j, "z")) << " standard errors\n";
  out << (markdown ? "- " : "  ") << show(member(sum, "slower")) << " slower, " << show(member(sum, "faster"))
      << " faster, " << show(member(sum, "same")) << " the same, " << show(member(sum, "not_timed"))
      << " not timed; A/A check: " << show(member(sum, "aa_flagged")) << " cell(s) flagged\n\n";
  if (markdown) out << "| cell | B against A | interval | A/A | verdict |\n|---|---|---|---|---|\n";
  for (const auto& c : member(j, "cells").is_array() ? j["cells"] : json::array()) {
    const std::string verdict = show(member(c, "verdict"));
    const bool timed = verdict != to_string(SpeedCall::kNotTimed);
    const std::string change = timed ? percent(c["change"].get<double>()) : "";
    const std::string aa = timed ? percent(c["aa"]["change"].get<double>()) + " " + interval_text(c["aa"]) +
                                       (show(c["aa"]["verdict"]) == "same" ? "" : " FLAGGED")
                                 : "";
    const std::string why = timed ? verdict : verdict + " (" + show(member(c, "reason")) + ")";
    if (markdown)
      out << "| `" << show(c["id"]) << "` | " << change << " | " << (timed ? interval_text(c) : "") << " | " << aa
          << " | " << why << " |\n";
    else
      out << "  " << show(c["id"]) << ": " << (timed ? change + " " + interval_text(c) + ", A/A " + aa + ": " : "")
          << why << "\n";
  }
  return out.str();
}

}  // namespace tw
