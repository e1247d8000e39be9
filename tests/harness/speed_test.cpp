// The interleaved speed judgement (harness/speed.h) on measured rounds with known noise.
#include "harness/speed.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

namespace tw {
namespace {

// `rounds` rounds of a cell whose step time is `base` seconds on A and base * (1 + change) on B,
// each run off by a log-normal factor of spread `sigma`.
SpeedRounds measured(const std::string& id, double base, double change, double sigma, int rounds, std::mt19937& rng) {
  std::normal_distribution<double> noise(0, sigma);
  SpeedRounds r;
  r.id = id;
  for (int i = 0; i < rounds; ++i) {
    r.a.push_back(base * std::exp(noise(rng)));
    r.b.push_back(base * (1 + change) * std::exp(noise(rng)));
  }
  return r;
}

TEST(SpeedJudgement, SameBuildTwiceIsTheSameAndTheAACheckIsClean) {
  std::mt19937 rng(7);
  for (int trial = 0; trial < 20; ++trial) {
    std::vector<SpeedRounds> cells;
    for (int c = 0; c < 12; ++c) cells.push_back(measured("c" + std::to_string(c), 0.01 * (c + 1), 0, 0.08, 5, rng));
    const SpeedJudgement j = judge_speed(cells, SpeedSettings{});
    EXPECT_EQ(j.count(SpeedCall::kSlower), 0) << "trial " << trial;
    EXPECT_EQ(j.count(SpeedCall::kFaster), 0) << "trial " << trial;
    EXPECT_EQ(j.aa_flagged(), 0) << "trial " << trial;
    EXPECT_NEAR(j.sigma, 0.08 * std::sqrt(2.0), 0.06);  // one A/A ratio spans two runs' noise
  }
}

TEST(SpeedJudgement, APlantedSlowdownIsSlowerAndOnlyThatCell) {
  std::mt19937 rng(11);
  std::vector<SpeedRounds> cells;
  for (int c = 0; c < 6; ++c) cells.push_back(measured("same" + std::to_string(c), 0.005, 0, 0.05, 5, rng));
  cells.push_back(measured("planted", 0.01, 0.40, 0.05, 5, rng));
  const SpeedJudgement j = judge_speed(cells, SpeedSettings{});
  ASSERT_EQ(j.cells.size(), 7u);
  EXPECT_EQ(j.cells.back().ab.call, SpeedCall::kSlower);
  EXPECT_GT(j.cells.back().ab.interval.first, 0.05);
  EXPECT_LT(j.cells.back().ab.interval.first, 0.40);
  EXPECT_GT(j.cells.back().ab.interval.second, 0.40);
  EXPECT_EQ(j.count(SpeedCall::kSlower), 1);
  EXPECT_EQ(j.aa_flagged(), 0);
}

TEST(SpeedJudgement, AFasterCandidateIsFaster) {
  std::mt19937 rng(3);
  std::vector<SpeedRounds> cells;
  for (int c = 0; c < 4; ++c) cells.push_back(measured("c" + std::to_string(c), 0.01, -0.5, 0.03, 5, rng));
  const SpeedJudgement j = judge_speed(cells, SpeedSettings{});
  EXPECT_EQ(j.count(SpeedCall::kFaster), 4);
}

TEST(SpeedJudgement, ACellThatSpreadsWiderIsJudgedByItsOwnSpread) {
  // Pooled noise 2 %; one cell jumps by a factor of two from run to run: its 30 % is no finding.
  std::mt19937 rng(5);
  std::vector<SpeedRounds> cells;
  for (int c = 0; c < 8; ++c) cells.push_back(measured("quiet" + std::to_string(c), 0.01, 0, 0.02, 5, rng));
  SpeedRounds wild;
  wild.id = "wild";
  wild.a = {0.010, 0.020, 0.011, 0.021, 0.010};
  wild.b = {0.026, 0.013, 0.027, 0.014, 0.013};
  cells.push_back(wild);
  const SpeedJudgement j = judge_speed(cells, SpeedSettings{});
  EXPECT_EQ(j.cells.back().ab.call, SpeedCall::kSame);
  EXPECT_GT(j.cells.back().sigma, 3 * j.sigma);
  EXPECT_EQ(j.aa_flagged(), 0);
}

TEST(SpeedJudgement, ThresholdDecidesASmallButCertainChange) {
  SpeedRounds r;
  r.id = "steady";
  r.a = {0.01000, 0.01001, 0.01000, 0.00999, 0.01000};
  r.b = {0.01030, 0.01031, 0.01030, 0.01029, 0.01030};  // +3 %, measured tightly
  SpeedSettings s;
  EXPECT_EQ(judge_speed({r}, s).cells[0].ab.call, SpeedCall::kSame);  // under the 5 % threshold
  s.threshold = 0.01;
  EXPECT_EQ(judge_speed({r}, s).cells[0].ab.call, SpeedCall::kSlower);
}

TEST(SpeedJudgement, CellsNotTimedAreCountedWithTheirReason) {
  SpeedRounds r;
  r.id = "short";
  r.not_timed = "trained for less than 50 ms";
  SpeedRounds one;
  one.id = "one-round";
  one.a = {0.01};
  one.b = {0.02};
  const SpeedJudgement j = judge_speed({r, one}, SpeedSettings{});
  EXPECT_EQ(j.count(SpeedCall::kNotTimed), 2);
  const nlohmann::json out = j.to_json();
  EXPECT_EQ(out["summary"]["not_timed"], 2);
  EXPECT_EQ(out["cells"][0]["reason"], "trained for less than 50 ms");
  EXPECT_EQ(out["cells"][1]["reason"], "fewer than two rounds");
}

TEST(SpeedJudgement, JsonAndTableCarryEveryCell) {
  std::mt19937 rng(9);
  std::vector<SpeedRounds> cells = {measured("x/none/cpu", 0.01, 0.5, 0.02, 5, rng),
                                    measured("y/none/cpu", 0.01, 0, 0.02, 5, rng)};
  nlohmann::json j = judge_speed(cells, SpeedSettings{}).to_json();
  j["rounds"] = 5;
  j["a"] = {{"exe", "/bin/a"}, {"env", nlohmann::json::array()}};
  j["b"] = {{"exe", "/bin/a"}, {"env", {"ATEN_CPU_CAPABILITY=default"}}};
  EXPECT_EQ(j["summary"]["slower"], 1);
  EXPECT_EQ(j["cells"][0]["verdict"], "slower");
  EXPECT_EQ(j["cells"][0]["a_step_seconds"].size(), 5u);
  EXPECT_EQ(j["cells"][1]["aa"]["verdict"], "same");
  const std::string md = render_speed(j, true);
  EXPECT_NE(md.find("| `x/none/cpu` |"), std::string::npos);
  EXPECT_NE(md.find("B: `/bin/a ATEN_CPU_CAPABILITY=default`"), std::string::npos);
  const std::string text = render_speed(j, false);
  EXPECT_NE(text.find("1 slower, 0 faster, 1 the same, 0 not timed; A/A check: 0 cell(s) flagged"), std::string::npos);
}

}  // namespace
}  // namespace tw
