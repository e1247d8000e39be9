// The classifier on held-out evaluations, and the pieces it is built from: outcome and verdict names,
// the robust slope, JSON numbers, and the event protocol's words (protocol/events.h).
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "classify_test_util.h"
#include "harness/classify.h"
#include "protocol/events.h"

namespace {
using nlohmann::json;
using tw::Outcome;
using namespace tw_test::classify_util;

TEST(ClassifyEvaluations, HealthyWhenTheLastQuarterHoldsTheTarget) {
  const auto c = tw::classify(exited(0, evaluated({0.5, 0.3, 0.09, 0.12, 0.08, 0.07, 0.06, 0.05, 0.05, 0.04})));
  EXPECT_EQ(c.outcome, Outcome::kHealthy) << c.evidence.dump();
  // The first evaluation at the target after which the median of the rest stays there: the spike
  // to 0.12 at step 40 does not move it, as it does not decide the verdict.
  EXPECT_EQ(c.evidence["reached_step"], 30);
  EXPECT_EQ(c.evidence["window_from_step"], 80);
  EXPECT_DOUBLE_EQ(c.evidence["window_max_eval_loss"].get<double>(), 0.05);
  EXPECT_DOUBLE_EQ(c.evidence["window_median_eval_loss"].get<double>(), 0.05);
  EXPECT_DOUBLE_EQ(c.evidence["target_margin"].get<double>(), 2.0);
  EXPECT_DOUBLE_EQ(c.evidence["final_eval_loss"].get<double>(), 0.04);
  EXPECT_EQ(c.evidence["eval_curve"].size(), 10u);
  EXPECT_EQ(c.evidence["eval_curve"][2], json({30, 0.09}));
}

TEST(ClassifyEvaluations, ATargetReachedAndLostIsNotHealthy) {
  // Under the target from step 40 to 60, back above it for the last quarter: a run that stopped
  // at the first hold would have been called healthy.
  const auto c = tw::classify(exited(0, evaluated({0.5, 0.3, 0.2, 0.09, 0.08, 0.09, 0.12, 0.15, 0.15, 0.16})));
  EXPECT_EQ(c.outcome, Outcome::kStalled) << c.evidence.dump();
  EXPECT_FALSE(c.evidence.contains("reached_step"));
  EXPECT_NEAR(c.evidence["eval_trend"].get<double>(), 0.15 / 0.09, 1e-9);
}

TEST(ClassifyEvaluations, OneSpikeDoesNotDecideButMostOfTheWindowDoes) {
  // Evaluations 80 to 120: one spike over the target is noise; three of five over it are not.
  const auto spike =
      tw::classify(exited(0, evaluated({0.5, 0.09, 0.08, 0.07, 0.06, 0.05, 0.05, 0.05, 0.05, 0.25, 0.05, 0.05})));
  EXPECT_EQ(spike.outcome, Outcome::kHealthy) << spike.evidence.dump();
  EXPECT_DOUBLE_EQ(spike.evidence["window_max_eval_loss"].get<double>(), 0.25);
  const auto most =
      tw::classify(exited(0, evaluated({0.5, 0.09, 0.08, 0.07, 0.06, 0.05, 0.05, 0.05, 0.05, 0.25, 0.12, 0.11})));
  EXPECT_NE(most.outcome, Outcome::kHealthy) << most.evidence.dump();
  EXPECT_DOUBLE_EQ(most.evidence["window_median_eval_loss"].get<double>(), 0.12);
}

TEST(ClassifyEvaluations, ANonFiniteEvaluationInTheWindowIsNeverHealthy) {
  std::vector<json> events = evaluated({0.5, 0.09, 0.08, 0.07, 0.06, 0.05, 0.05, 0.05});
  // json::object: a braced list here would insert four arrays, not one event.
  events.insert(events.end() - 1, json::object({{"event", "eval"}, {"rank", 0}, {"step", 75}, {"eval_loss", "nan"}}));
  const auto c = tw::classify(exited(0, events));
  EXPECT_NE(c.outcome, Outcome::kHealthy) << c.evidence.dump();
  ASSERT_EQ(c.evidence["eval_curve"].size(), 9u) << c.evidence.dump();
  EXPECT_EQ(c.evidence["eval_curve"][8][0], 75) << c.evidence.dump();
}

TEST(ClassifyEvaluations, SlowWhileTheEvalLossStillFalls) {
  std::vector<double> losses;
  for (int k = 0; k < 12; ++k) losses.push_back(5.0 * std::pow(0.85, k));  // 5.0 down to 0.84
  const auto c = tw::classify(exited(0, evaluated(losses)));
  EXPECT_EQ(c.outcome, Outcome::kSlow) << c.evidence.dump();
  EXPECT_LT(c.evidence["horizons_to_target"].get<double>(), tw::kSlowHorizons);
}

TEST(ClassifyEvaluations, StalledWhenTheEvalLossIsFlat) {
  std::vector<double> losses;
  for (int k = 0; k < 12; ++k) losses.push_back(0.8 + 0.02 * (k % 3));
  const auto c = tw::classify(exited(0, evaluated(losses)));
  EXPECT_EQ(c.outcome, Outcome::kStalled) << c.evidence.dump();
  EXPECT_GT(c.evidence["eval_trend"].get<double>(), 0.9);
}

TEST(ClassifyEvaluations, APlateauNearItsTargetIsStalledNotSlow) {
  // 4 % down per half horizon, 0.11 against a target of 0.1: the projection alone would call it
  // slow; a plateau's median moves that much by noise.
  std::vector<double> losses;
  for (int k = 0; k < 12; ++k) losses.push_back(0.12 * std::pow(0.99, k));
  const auto c = tw::classify(exited(0, evaluated(losses)));
  EXPECT_EQ(c.outcome, Outcome::kStalled) << c.evidence.dump();
  EXPECT_GT(c.evidence["eval_trend"].get<double>(), tw::kSlowMaxTrend);
}

TEST(ClassifyEvaluations, ClimbingBackFromABlowUpToWhereItStartedIsNotSlow) {
  // ln 16 at the start, a blow-up to 8, then back down to chance level: fast, but nothing learned.
  const auto c = tw::classify(exited(0, evaluated({2.77, 8.0, 7.0, 6.0, 5.5, 4.0, 3.2, 2.9, 2.8, 2.78, 2.77, 2.76})));
  EXPECT_EQ(c.outcome, Outcome::kStalled) << c.evidence.dump();
  EXPECT_LT(c.evidence["eval_trend"].get<double>(), tw::kSlowMaxTrend);
}

TEST(ClassifyEvaluations, AServedModelMustMeetTheTargetToo) {
  const std::vector<double> trained = {0.5, 0.2, 0.08, 0.07, 0.06, 0.05, 0.05, 0.05};
  for (const bool served : {true, false}) {
    auto events = evaluated(trained);
    events.push_back({{"event", "end"},
                      {"rank", 0},
                      {"phase", "serving"},
                      {"target_loss", 0.1},
                      {"final_eval_loss", served ? 0.06 : 0.4},
                      {"reached_target", served}});
    const auto c = tw::classify(exited(0, events));
    EXPECT_EQ(c.outcome, served ? Outcome::kHealthy : Outcome::kStalled) << c.evidence.dump();
    EXPECT_EQ(c.evidence["serving_reached_target"], served);
    EXPECT_EQ(c.evidence["reached_step"], 30);  // the training's verdict is kept as evidence
  }
}

TEST(Outcomes, NamesRoundTrip) {
  ASSERT_EQ(tw::outcome_names().size(), 11u);
  for (const auto& name : tw::outcome_names()) {
    const auto o = tw::parse_outcome(name);
    ASSERT_TRUE(o.has_value()) << name;
    EXPECT_EQ(tw::to_string(*o), name);
  }
  EXPECT_FALSE(tw::parse_outcome("Healthy").has_value());
  EXPECT_FALSE(tw::parse_outcome("").has_value());
}

TEST(Verdicts, OnlyUnexpectedFlakyAndSeedDependentAreFailures) {
  EXPECT_FALSE(tw::is_failure(tw::Verdict::kPass));
  EXPECT_FALSE(tw::is_failure(tw::Verdict::kUnpinned));
  EXPECT_TRUE(tw::is_failure(tw::Verdict::kUnexpected));
  EXPECT_TRUE(tw::is_failure(tw::Verdict::kFlaky));
  EXPECT_TRUE(tw::is_failure(tw::Verdict::kSeedDependent));
  for (const char* v : {"pass", "unexpected", "unpinned", "flaky", "seed-dependent"})
    EXPECT_EQ(tw::to_string(*tw::parse_verdict(v)), std::string(v));
  EXPECT_FALSE(tw::parse_verdict("fail").has_value());
}

TEST(RobustSlope, ExactLine) {
  const std::vector<double> x = {1, 2, 3, 4, 5}, y = {5, 8, 11, 14, 17};
  EXPECT_DOUBLE_EQ(tw::robust_slope(x, y), 3.0);
}

TEST(RobustSlope, IgnoresAnOutlier) {
  std::vector<double> x, y;
  for (int i = 0; i < 20; ++i) {
    x.push_back(i);
    y.push_back(2.0 * i + 1);
  }
  y[7] = 1e9;
  y[13] = -1e9;
  EXPECT_DOUBLE_EQ(tw::robust_slope(x, y), 2.0);
}

TEST(RobustSlope, DegenerateInputs) {
  EXPECT_EQ(tw::robust_slope({}, {}), 0.0);
  EXPECT_EQ(tw::robust_slope({1}, {5}), 0.0);
  EXPECT_EQ(tw::robust_slope({3, 3, 3}, {1, 2, 3}), 0.0);           // no two distinct x
  EXPECT_DOUBLE_EQ(tw::robust_slope({0, 1, 2, 3}, {0, -1}), -1.0);  // extra x beyond y ignored
  EXPECT_DOUBLE_EQ(tw::robust_slope({0, 1, 2}, {4, 4, 4}), 0.0);
}

TEST(RobustSlope, LongSeriesAreSubsampledButExact) {
  std::vector<double> x, y;
  for (int i = 0; i < 5000; ++i) {
    x.push_back(i);
    y.push_back(0.5 * i - 3);
  }
  EXPECT_DOUBLE_EQ(tw::robust_slope(x, y), 0.5);
}

TEST(JsonNumber, NumbersAndNonFiniteText) {
  EXPECT_TRUE(std::isnan(tw::json_number("nan")));
  EXPECT_EQ(tw::json_number("inf"), std::numeric_limits<double>::infinity());
  EXPECT_EQ(tw::json_number("-inf"), -std::numeric_limits<double>::infinity());
  EXPECT_EQ(tw::json_number(2.5), 2.5);
  EXPECT_EQ(tw::json_number(3), 3.0);
  EXPECT_EQ(tw::json_number(-4), -4.0);
  // Anything else is not a number: treated as non-finite, never as a value.
  EXPECT_TRUE(std::isnan(tw::json_number("NaN")));
  EXPECT_TRUE(std::isnan(tw::json_number("1.5")));
  EXPECT_TRUE(std::isnan(tw::json_number(nullptr)));
  EXPECT_TRUE(std::isnan(tw::json_number(json::array())));
}

}  // namespace

// ---- the event protocol's words (protocol/events.h) ----------------------------------------------

TEST(Protocol, EveryWordReadsBackAsItsValue) {
  for (auto t : {tw::EventType::kStart, tw::EventType::kStep, tw::EventType::kEval, tw::EventType::kEvidence,
                 tw::EventType::kGuard, tw::EventType::kSymptom, tw::EventType::kError, tw::EventType::kEnd,
                 tw::EventType::kProbe})
    EXPECT_EQ(tw::parse_event_type(tw::to_string(t)), t) << tw::to_string(t);
  for (auto k : {tw::ErrorKind::kException, tw::ErrorKind::kOom, tw::ErrorKind::kUnsupported, tw::ErrorKind::kAbort})
    EXPECT_EQ(tw::parse_error_kind(tw::to_string(k)), k) << tw::to_string(k);
  for (auto a : {tw::GuardAction::kWarn, tw::GuardAction::kSkip, tw::GuardAction::kStop})
    EXPECT_EQ(tw::parse_guard_action(tw::to_string(a)), a) << tw::to_string(a);
  EXPECT_EQ(tw::parse_symptom_kind(tw::to_string(tw::SymptomKind::kNonfinite)), tw::SymptomKind::kNonfinite);
  EXPECT_STREQ(tw::to_string(tw::EventType::kEnd), "end");
  EXPECT_STREQ(tw::to_string(tw::ErrorKind::kOom), "oom");
}

TEST(Protocol, UnknownWordsAndShapesAreNoEvent) {
  EXPECT_FALSE(tw::parse_event_type("Step").has_value());
  EXPECT_FALSE(tw::parse_error_kind("").has_value());
  EXPECT_FALSE(tw::event_type_of(json::array({"event", "step"})).has_value());
  EXPECT_FALSE(tw::event_type_of(json{{"event", 3}}).has_value());
  EXPECT_FALSE(tw::event_type_of(json{{"event", "heartbeat"}}).has_value());
  EXPECT_TRUE(tw::is_rank0_event(json{{"event", "step"}}, tw::EventType::kStep));
  EXPECT_FALSE(tw::is_rank0_event(json{{"event", "step"}, {"rank", 1}}, tw::EventType::kStep));
}

TEST(Protocol, AnUnknownErrorKindIsAnErrorNotAnOom) {
  // A cell that names an error kind the harness does not know: the run failed, and it is not
  // read as an out-of-memory error.
  const auto c = tw::classify(
      exited(0, {json{{"event", "start"}}, json{{"event", "error"}, {"kind", "cosmic_ray"}, {"message", "x"}}}));
  EXPECT_EQ(c.outcome, Outcome::kError) << c.evidence.dump();
}
