#pragma once
// Speed of two builds (or two environments) of the same cells, measured interleaved: every cell
// runs A, B, A, B, ... back to back, so that what the host does meanwhile (another job, the clock,
// the caches) touches both sides alike. Each run gives the cell's median step time.
//
// The verdict of a cell is the median over rounds of ln(B_r / A_r), with an interval of z
// standard errors. The noise is measured, not assumed: the A/A pairs (A_r, A_r+1) of every cell
// give the spread of one log ratio (1.4826 x the median absolute value); a cell measured for 5
// rounds or more is judged by its own spread (its A/A ratios and its A/B ratios about their
// median), one with fewer by the spread pooled over the cells when that is wider. A cell is slower (faster)
// only when its whole interval lies beyond the threshold. The same rule applied to the A/A pairs
// is the A/A check: a measurement whose A/A check flags a cell is one whose noise alone would
// have called a change.
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace tw {

// One cell's measured rounds: median step seconds of A and of B in round r (same length), or
// why the cell was not timed.
struct SpeedRounds {
  std::string id;
  std::vector<double> a, b;
  std::string not_timed;  // non-empty: the reason; a and b are then ignored
};

struct SpeedSettings {
  double threshold = 0.05;  // relative change that counts (0.05: 5 %)
  double z = 3.29;          // standard errors on either side (two-sided 0.1 %)
};

enum class SpeedCall { kSlower, kFaster, kSame, kNotTimed };
const char* to_string(SpeedCall call);

// A change with its interval, as ratios - 1 (0.12: 12 % slower).
struct SpeedEstimate {
  double change = 0;
  std::pair<double, double> interval{0, 0};
  SpeedCall call = SpeedCall::kSame;
};

struct SpeedCell {
  SpeedRounds rounds;
  double sigma = 0;  // the spread this cell is judged by (of one log ratio)
  SpeedEstimate ab;  // B against A
  SpeedEstimate aa;  // A against the next round's A (the A/A check)
};

struct SpeedJudgement {
  SpeedSettings settings;
  double sigma = 0;  // pooled spread of one A/A log ratio
  int aa_pairs = 0;  // how many A/A pairs it was measured on
  std::vector<SpeedCell> cells;

  int count(SpeedCall call) const;
  int aa_flagged() const;
  nlohmann::json to_json() const;
};

// Judges every cell. Needs at least two rounds for the cells that were timed.
SpeedJudgement judge_speed(const std::vector<SpeedRounds>& cells, const SpeedSettings& settings);

// One side of a comparison ({"exe", "env": ["KEY=VALUE", ...]}) as "exe KEY=VALUE ...".
std::string side_text(const nlohmann::json& side);

// The judgement (to_json, with "a" and "b" describing the sides) as a table: text or Markdown.
std::string render_speed(const nlohmann::json& judgement, bool markdown);

}  // namespace tw
