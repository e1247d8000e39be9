#include "harness/classify.h"

#include <gtest/gtest.h>
#include <signal.h>

#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "protocol/events.h"

namespace tw {
// Outcome names in failure messages instead of raw bytes.
static void PrintTo(Outcome o, std::ostream* os) { *os << to_string(o); }
}  // namespace tw

namespace {
using nlohmann::json;
using tw::Observation;
using tw::Outcome;

constexpr double kMiB = 1024.0 * 1024.0;

json step(long long k, json loss, json extra = json::object()) {
  json e = {{"event", "step"}, {"rank", 0}, {"step", k}, {"loss", loss}};
  e.update(extra);
  return e;
}

json end(bool reached, json extra = json::object()) {
  json e = {{"event", "end"}, {"rank", 0}, {"reached_target", reached}, {"target_loss", 0.1}};
  e.update(extra);
  return e;
}

json error_event(const std::string& kind, const std::string& message, json extra = json::object()) {
  json e = {{"event", "error"}, {"rank", 0}, {"kind", kind}, {"message", message}};
  e.update(extra);
  return e;
}

// One rank that exited normally with `code`, having sent `events`.
Observation exited(int code, std::vector<json> events) {
  Observation o;
  o.ranks = {tw::RankExit{true, code, 0}};
  o.events = std::move(events);
  o.wall_seconds = 1.25;
  return o;
}

Observation killed(int sig, std::vector<json> events) {
  Observation o = exited(0, std::move(events));
  o.ranks[0].signal = sig;
  return o;
}

Observation watchdog(const std::string& why, std::vector<json> events) {
  Observation o;
  o.ranks = {tw::RankExit{true, 0, SIGKILL}};  // what the harness's own kill leaves behind
  o.events = std::move(events);
  o.watchdog = why;
  o.silence_seconds = 7.4;
  o.limits.heartbeat_seconds = 5;
  o.limits.wall_seconds = 60;
  return o;
}

std::vector<json> training(int steps, double first_loss = 1.0) {
  std::vector<json> out = {{{"event", "start"}, {"rank", 0}, {"pid", 1234}}};
  for (int k = 1; k <= steps; ++k) out.push_back(step(k, first_loss / k));
  return out;
}

// Memory samples per step; everything else healthy, so only the memory decides.
Observation with_memory(const std::vector<double>& mem) {
  std::vector<json> events;
  for (std::size_t i = 0; i < mem.size(); ++i)
    events.push_back(step(static_cast<long long>(i + 1), 1.0 / static_cast<double>(i + 1), {{"mem", mem[i]}}));
  events.push_back(end(true, {{"reached_step", mem.size()}}));
  return exited(0, events);
}

TEST(Classify, Healthy) {
  auto events = training(5);
  events.push_back(end(true, {{"reached_step", 4}}));
  const auto c = tw::classify(exited(0, events));
  EXPECT_EQ(c.outcome, Outcome::kHealthy) << c.evidence.dump();
  EXPECT_EQ(c.evidence["reached_step"], 4);
  EXPECT_EQ(c.evidence["steps"], 5);
  EXPECT_EQ(c.evidence["target_loss"], 0.1);
  EXPECT_DOUBLE_EQ(c.evidence["initial_loss"].get<double>(), 1.0);
  EXPECT_DOUBLE_EQ(c.evidence["final_loss"].get<double>(), 0.2);
  EXPECT_DOUBLE_EQ(c.evidence["wall_seconds"].get<double>(), 1.25);
}

TEST(Classify, StalledWhenTheTargetIsNotReached) {
  auto events = training(5, 0.9);
  events.push_back(end(false));
  const auto c = tw::classify(exited(0, events));
  EXPECT_EQ(c.outcome, Outcome::kStalled) << c.evidence.dump();
  EXPECT_FALSE(c.evidence.contains("reached_step"));
}

TEST(Classify, DivergedAtTheFirstNonFiniteLoss) {
  std::vector<json> events = {step(1, 1.0), step(2, 30.0), step(3, "nan"), step(4, "inf"), step(5, "nan")};
  events.push_back(end(false, {{"final_loss", "nan"}}));
  const auto c = tw::classify(exited(0, events));
  EXPECT_EQ(c.outcome, Outcome::kDiverged) << c.evidence.dump();
  EXPECT_EQ(c.evidence["symptom_step"], 3);  // the first non-finite step, not the last
  EXPECT_EQ(c.evidence["initial_loss"], 1.0);
  EXPECT_EQ(c.evidence["final_loss"], "nan");
}

TEST(Classify, NonFiniteDivergenceSaysSo) {
  std::vector<json> events = {step(1, 1.0), step(2, "nan")};
  events.push_back(end(false));
  const auto c = tw::classify(exited(0, events));
  EXPECT_EQ(c.outcome, Outcome::kDiverged) << c.evidence.dump();
  EXPECT_EQ(c.evidence["divergence"], "nonfinite");
  EXPECT_FALSE(c.evidence.contains("blowup_step"));  // 1.0 is no blow-up
}

// The LR-1.0 curve of the field: 0.91 to 28,896 and back down a little, never NaN.
std::vector<json> blowup_events(bool reached) {
  std::vector<json> events = {step(1, 0.91),    step(2, 4.2),     step(3, 80.5),
                              step(4, 28896.0), step(5, 15000.0), step(6, 9000.0)};
  events.push_back(end(reached, reached ? json{{"reached_step", 6}} : json::object()));
  return events;
}

TEST(Classify, ABlowUpThatNeverReachesTheTargetIsADivergence) {
  const auto c = tw::classify(exited(0, blowup_events(false)));
  EXPECT_EQ(c.outcome, Outcome::kDiverged) << c.evidence.dump();
  EXPECT_EQ(c.evidence["divergence"], "blow-up");
  // 4.2 at step 2 is under 10 x 0.91; 80.5 at step 3 is over it.
  EXPECT_EQ(c.evidence["blowup_step"], 3);
  EXPECT_EQ(c.evidence["symptom_step"], 3);
  EXPECT_DOUBLE_EQ(c.evidence["max_loss"].get<double>(), 28896.0);
  EXPECT_NEAR(c.evidence["blowup_factor"].get<double>(), 28896.0 / 0.91, 1e-6);
  EXPECT_FALSE(c.evidence.contains("recovered_from_blowup"));
}

TEST(Classify, AHugeFiniteLossIsADivergenceNotAStall) {
  std::vector<json> events = {step(1, 2.0), step(2, 1e24), step(3, 1e24)};
  events.push_back(end(false));
  const auto c = tw::classify(exited(0, events));
  EXPECT_EQ(c.outcome, Outcome::kDiverged) << c.evidence.dump();
  EXPECT_EQ(c.evidence["blowup_step"], 2);
  EXPECT_DOUBLE_EQ(c.evidence["blowup_factor"].get<double>(), 5e23);
}

TEST(Classify, ASpikeThatStillReachesTheTargetIsHealthy) {
  const auto c = tw::classify(exited(0, blowup_events(true)));
  EXPECT_EQ(c.outcome, Outcome::kHealthy) << c.evidence.dump();
  EXPECT_EQ(c.evidence["recovered_from_blowup"], true);
  EXPECT_EQ(c.evidence["blowup_step"], 3);
  EXPECT_EQ(c.evidence["reached_step"], 6);
  EXPECT_FALSE(c.evidence.contains("divergence"));
}

TEST(Classify, ASlowRiseWithoutTheTargetIsStalled) {
  // Twice the first loss is bad training, not a blow-up.
  std::vector<json> events;
  for (int k = 1; k <= 10; ++k) events.push_back(step(k, 1.0 + 0.1 * k));
  events.push_back(end(false));
  const auto c = tw::classify(exited(0, events));
  EXPECT_EQ(c.outcome, Outcome::kStalled) << c.evidence.dump();
  EXPECT_FALSE(c.evidence.contains("blowup_step"));
}

TEST(Classify, TheBlowUpBoundStartsAtTheFirstFiniteLossOfRankZero) {
  // A first non-finite step does not set the bound; other ranks' losses do not count.
  std::vector<json> events = {
      step(1, "inf"), step(2, 1.0),  step(3, 50.0, {{"rank", 1}}), step(3, 500.0, {{"rank", 1}}),
      step(4, 9.9),   step(5, 10.1)};
  events.push_back(end(false));
  const auto c = tw::classify(exited(0, events));
  EXPECT_EQ(c.outcome, Outcome::kDiverged) << c.evidence.dump();
  EXPECT_EQ(c.evidence["blowup_step"], 5);
  EXPECT_EQ(c.evidence["recovered_from_nonfinite"], true);
}

TEST(Classify, ALeakKeepsPriorityOverABlowUp) {
  std::vector<json> events;
  for (int k = 1; k <= 20; ++k) events.push_back(step(k, k < 10 ? 1.0 : 1000.0, {{"mem", k * 64.0 * kMiB}}));
  events.push_back(end(false));
  const auto c = tw::classify(exited(0, events));
  EXPECT_EQ(c.outcome, Outcome::kLeak) << c.evidence.dump();
  EXPECT_EQ(c.evidence["blowup_step"], 10);  // still recorded as evidence
}

TEST(Classify, AGuardThatStoppedABlowUpIsDetected) {
  std::vector<json> events = {step(1, 1.0), step(2, 1e6)};
  events.push_back({{"event", "guard"}, {"rank", 0}, {"action", "stop"}, {"guard", "loss_spike"}, {"step", 2}});
  events.push_back(end(false));
  EXPECT_EQ(tw::classify(exited(0, events)).outcome, Outcome::kDetected);
}

TEST(Classify, TransientNonFiniteLossIsNotDivergence) {
  // A skipped step (AMP loss scaling) that training recovers from.
  std::vector<json> events = {step(1, 1.0), step(2, "inf"), step(3, 0.5), step(4, 0.05)};
  events.push_back(end(true, {{"reached_step", 4}}));
  const auto c = tw::classify(exited(0, events));
  EXPECT_EQ(c.outcome, Outcome::kHealthy) << c.evidence.dump();
  EXPECT_EQ(c.evidence["recovered_from_nonfinite"], true);
  EXPECT_EQ(c.evidence["symptom_step"], 2);
}

TEST(Classify, DivergedOnNegativeInfinityAndReportsItAsText) {
  std::vector<json> events = {step(1, 1.0), step(2, "-inf")};
  events.push_back(end(false));
  const auto c = tw::classify(exited(0, events));
  EXPECT_EQ(c.outcome, Outcome::kDiverged) << c.evidence.dump();
  EXPECT_EQ(c.evidence["symptom_step"], 2);
  EXPECT_EQ(c.evidence["final_loss"], "-inf");  // JSON has no infinity: it travels as text
}

TEST(Classify, DivergedFromANonFiniteSymptomEvent) {
  // Weights went non-finite while the reported loss stayed finite.
  auto events = training(6);
  events.insert(events.begin() + 5, json{{"event", "symptom"}, {"rank", 0}, {"kind", "nonfinite"}, {"step", 4}});
  events.push_back(end(true));
  const auto c = tw::classify(exited(0, events));
  EXPECT_EQ(c.outcome, Outcome::kDiverged) << c.evidence.dump();
  EXPECT_EQ(c.evidence["symptom_step"], 4);
}

TEST(Classify, OtherSymptomKindsAreNotDivergence) {
  auto events = training(3);
  events.push_back({{"event", "symptom"}, {"rank", 0}, {"kind", "vanishing_gradient"}, {"step", 2}});
  events.push_back(end(true));
  EXPECT_EQ(tw::classify(exited(0, events)).outcome, Outcome::kHealthy);
}

TEST(Classify, OomFromAnErrorEventOfKindOom) {
  auto events = training(2);
  events.push_back(error_event("oom", "CUDA out of memory. Tried to allocate 1 TiB", {{"step", 3}}));
  const auto c = tw::classify(exited(0, events));
  EXPECT_EQ(c.outcome, Outcome::kOom) << c.evidence.dump();
  EXPECT_EQ(c.evidence["message"], "CUDA out of memory. Tried to allocate 1 TiB");
  EXPECT_EQ(c.evidence["error_step"], 3);
}

TEST(Classify, LeakWhenMemoryGrowsSteadily) {
  std::vector<double> mem;
  for (int k = 0; k < 40; ++k) mem.push_back(100 * kMiB + k * 2 * kMiB);  // 78 MiB in all
  const auto c = tw::classify(with_memory(mem));
  EXPECT_EQ(c.outcome, Outcome::kLeak) << c.evidence.dump();
  EXPECT_DOUBLE_EQ(c.evidence["mem_growth_bytes_per_step"].get<double>(), 2 * kMiB);
  EXPECT_DOUBLE_EQ(c.evidence["mem_growth_bytes"].get<double>(), 78 * kMiB);
  EXPECT_DOUBLE_EQ(c.evidence["peak_mem_bytes"].get<double>(), 178 * kMiB);
}

TEST(Classify, LeakDespiteNoisySamples) {
  std::vector<double> mem;
  for (int k = 0; k < 40; ++k) mem.push_back(k * 2 * kMiB + ((k % 3) - 1) * 0.5 * kMiB);
  mem[20] = 0;  // one sample from a moment the allocator had returned memory
  EXPECT_EQ(tw::classify(with_memory(mem)).outcome, Outcome::kLeak);
}

TEST(Classify, FlatMemoryIsNotALeak) {
  std::vector<double> mem;
  for (int k = 0; k < 40; ++k) mem.push_back(500 * kMiB + (k % 2) * 4096);
  const auto c = tw::classify(with_memory(mem));
  EXPECT_EQ(c.outcome, Outcome::kHealthy) << c.evidence.dump();
  EXPECT_DOUBLE_EQ(c.evidence["peak_mem_bytes"].get<double>(), 500 * kMiB + 4096);
}

TEST(Classify, SingleLateJumpIsNotALeak) {
  // A cache filled once at the end: large growth, but no steady slope.
  std::vector<double> mem(40, 200 * kMiB);
  mem.back() = 400 * kMiB;
  const auto c = tw::classify(with_memory(mem));
  EXPECT_EQ(c.outcome, Outcome::kHealthy) << c.evidence.dump();
  EXPECT_DOUBLE_EQ(c.evidence["mem_growth_bytes"].get<double>(), 200 * kMiB);
}

TEST(Classify, OneJumpMidwayIsNotALeak) {
  // Masks made halfway through a run (pruning) stay: half of all pairs of samples straddle the
  // jump, so the median slope is positive, yet memory does not grow within either half.
  std::vector<double> mem(60, 100 * kMiB);
  for (std::size_t k = 30; k < mem.size(); ++k) mem[k] += 8 * kMiB;
  const auto c = tw::classify(with_memory(mem));
  EXPECT_EQ(c.outcome, Outcome::kHealthy) << c.evidence.dump();
}

TEST(Classify, ALeakIsARateProjectedAgainstTheBudget) {
  // 2 KiB a step: 8 MiB over 4,000 steps, and 80 KiB over 40. Against 1 GiB either run is gone
  // in about 500,000 steps, a leak however short the run; against 4 TiB it takes 2e9, none.
  for (const int steps : {40, 4000}) {
    std::vector<double> mem;
    for (int k = 0; k < steps; ++k) mem.push_back(64 * kMiB + k * 2048.0);
    Observation o = with_memory(mem);
    o.limits.memory_mb = 1024;
    const auto c = tw::classify(o);
    EXPECT_EQ(c.outcome, Outcome::kLeak) << steps << " " << c.evidence.dump();
    EXPECT_NEAR(c.evidence["steps_to_budget"].get<double>(), (1024 - 64) * kMiB / 2048 - steps + 1, 1);
    o.limits.memory_mb = 4 << 20;
    EXPECT_EQ(tw::classify(o).outcome, Outcome::kHealthy) << steps;
  }
}

// Evaluations every 10 steps to a horizon of 10 x losses.size(), then the end event.
std::vector<json> evaluated(const std::vector<double>& losses, json end_extra = json::object()) {
  std::vector<json> events = training(static_cast<int>(losses.size() * 10), losses.front());
  for (std::size_t i = 0; i < losses.size(); ++i)
    events.push_back({{"event", "eval"}, {"rank", 0}, {"step", (i + 1) * 10}, {"eval_loss", losses[i]}});
  json e = {{"event", "end"}, {"rank", 0}, {"target_loss", 0.1}, {"horizon", losses.size() * 10}};
  e.update(end_extra);
  events.push_back(e);
  return events;
}

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
  const auto spike = tw::classify(
      exited(0, evaluated({0.5, 0.09, 0.08, 0.07, 0.06, 0.05, 0.05, 0.05, 0.05, 0.25, 0.05, 0.05})));
  EXPECT_EQ(spike.outcome, Outcome::kHealthy) << spike.evidence.dump();
  EXPECT_DOUBLE_EQ(spike.evidence["window_max_eval_loss"].get<double>(), 0.25);
  const auto most = tw::classify(
      exited(0, evaluated({0.5, 0.09, 0.08, 0.07, 0.06, 0.05, 0.05, 0.05, 0.05, 0.25, 0.12, 0.11})));
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
    events.push_back({{"event", "end"}, {"rank", 0}, {"phase", "serving"}, {"target_loss", 0.1},
                      {"final_eval_loss", served ? 0.06 : 0.4}, {"reached_target", served}});
    const auto c = tw::classify(exited(0, events));
    EXPECT_EQ(c.outcome, served ? Outcome::kHealthy : Outcome::kStalled) << c.evidence.dump();
    EXPECT_EQ(c.evidence["serving_reached_target"], served);
    EXPECT_EQ(c.evidence["reached_step"], 30);  // the training's verdict is kept as evidence
  }
}

TEST(Classify, TooFewSamplesAreNotALeak) {
  std::vector<double> mem;
  for (int k = 0; k < 7; ++k) mem.push_back(k * 100 * kMiB);
  EXPECT_EQ(tw::classify(with_memory(mem)).outcome, Outcome::kHealthy);
}

TEST(Classify, HangOnHeartbeat) {
  const auto events = training(1);
  const auto c = tw::classify(watchdog("heartbeat", events));
  EXPECT_EQ(c.outcome, Outcome::kHang) << c.evidence.dump();
  EXPECT_EQ(c.evidence["watchdog"], "heartbeat");
  EXPECT_EQ(c.evidence["message"], "no event for 7 s (limit 5 s)");
  EXPECT_EQ(c.evidence["last_event"], events.back());
  EXPECT_FALSE(c.evidence.contains("signal"));  // the harness's kill is not a crash
}

TEST(Classify, HangOnWallClock) {
  const auto c = tw::classify(watchdog("wall", training(300)));
  EXPECT_EQ(c.outcome, Outcome::kHang) << c.evidence.dump();
  EXPECT_EQ(c.evidence["watchdog"], "wall");
  EXPECT_EQ(c.evidence["message"], "over the wall-clock limit of 60 s");
}

TEST(Classify, HangWithNoEventsAtAll) {
  const auto c = tw::classify(watchdog("heartbeat", {}));
  EXPECT_EQ(c.outcome, Outcome::kHang) << c.evidence.dump();
  EXPECT_FALSE(c.evidence.contains("last_event"));
}

TEST(Classify, CrashOnSignal) {
  const auto c = tw::classify(killed(SIGSEGV, training(1)));
  EXPECT_EQ(c.outcome, Outcome::kCrash) << c.evidence.dump();
  EXPECT_EQ(c.evidence["signal"], "SIGSEGV");
  EXPECT_EQ(c.evidence["rank"], 0);
}

TEST(Classify, CrashNamesTheRankThatDied) {
  Observation o = exited(0, training(2));
  o.ranks.push_back(tw::RankExit{true, 0, SIGABRT});
  const auto c = tw::classify(o);
  EXPECT_EQ(c.outcome, Outcome::kCrash) << c.evidence.dump();
  EXPECT_EQ(c.evidence["signal"], "SIGABRT");
  EXPECT_EQ(c.evidence["rank"], 1);
}

TEST(Classify, UnknownSignalNumberIsNamedByNumber) {
  EXPECT_EQ(tw::classify(killed(SIGUSR1, {})).evidence["signal"], "signal " + std::to_string(SIGUSR1));
}

TEST(Classify, ErrorFromAnExceptionEvent) {
  auto events = training(2);
  events.push_back(error_event("exception", "shape mismatch: [4, 8] vs [8, 3]", {{"step", 2}}));
  const auto c = tw::classify(exited(0, events));
  EXPECT_EQ(c.outcome, Outcome::kError) << c.evidence.dump();
  EXPECT_EQ(c.evidence["message"], "shape mismatch: [4, 8] vs [8, 3]");
  EXPECT_EQ(c.evidence["error_step"], 2);
}

TEST(Classify, ErrorEventWithoutKindIsAnException) {
  const auto c = tw::classify(exited(0, {{{"event", "error"}, {"rank", 0}, {"message", "boom"}}}));
  EXPECT_EQ(c.outcome, Outcome::kError) << c.evidence.dump();
  EXPECT_EQ(c.evidence["message"], "boom");
}

TEST(Classify, ErrorOnNonzeroExitWithoutEvents) {
  const auto c = tw::classify(exited(7, {}));
  EXPECT_EQ(c.outcome, Outcome::kError) << c.evidence.dump();
  EXPECT_EQ(c.evidence["exit_code"], 7);
  EXPECT_EQ(c.evidence["message"], "exited with code 7 without an error event");
}

TEST(Classify, ErrorOnCleanExitWithoutEndEvent) {
  const auto c = tw::classify(exited(0, training(3)));
  EXPECT_EQ(c.outcome, Outcome::kError) << c.evidence.dump();
  EXPECT_EQ(c.evidence["message"], "exited without an end event");
  EXPECT_EQ(c.evidence["steps"], 3);
}

TEST(Classify, ErrorKeepsProtocolErrorsAsEvidence) {
  Observation o = exited(0, {});
  o.protocol_errors = 4;
  o.bad_lines = {"this is not json", "[1,2,3]"};
  const auto c = tw::classify(o);
  EXPECT_EQ(c.outcome, Outcome::kError) << c.evidence.dump();
  EXPECT_EQ(c.evidence["protocol_errors"], 4);
  EXPECT_EQ(c.evidence["bad_lines"], json({"this is not json", "[1,2,3]"}));
}

TEST(Classify, DetectedWithLatency) {
  auto events = training(7);
  events.push_back({{"event", "guard"},
                    {"rank", 0},
                    {"guard", "nonfinite_guard"},
                    {"action", "stop"},
                    {"step", 7},
                    {"symptom_step", 5},
                    {"message", "loss is nan"},
                    {"details", {{"param", "fc1.weight"}}}});
  events.push_back(end(false));
  const auto c = tw::classify(exited(0, events));
  EXPECT_EQ(c.outcome, Outcome::kDetected) << c.evidence.dump();
  EXPECT_EQ(c.evidence["guard"], "nonfinite_guard");
  EXPECT_EQ(c.evidence["message"], "loss is nan");
  EXPECT_EQ(c.evidence["detected_step"], 7);
  EXPECT_EQ(c.evidence["symptom_step"], 5);
  EXPECT_EQ(c.evidence["detection_latency_steps"], 2);
  EXPECT_EQ(c.evidence["details"]["param"], "fc1.weight");
}

TEST(Classify, DetectedWithoutSymptomStepHasNoLatency) {
  auto events = training(3);
  events.push_back({{"event", "guard"}, {"rank", 0}, {"guard", "leak_guard"}, {"action", "stop"}, {"step", 3}});
  const auto c = tw::classify(exited(0, events));
  EXPECT_EQ(c.outcome, Outcome::kDetected) << c.evidence.dump();
  EXPECT_FALSE(c.evidence.contains("detection_latency_steps"));
}

TEST(Classify, GuardThatOnlyWarnsIsNotDetection) {
  auto events = training(3);
  events.push_back({{"event", "guard"}, {"rank", 0}, {"guard", "clip"}, {"action", "clipped"}, {"step", 2}});
  events.push_back(end(true));
  EXPECT_EQ(tw::classify(exited(0, events)).outcome, Outcome::kHealthy);
}

TEST(Classify, UnsupportedFromThePlan) {
  Observation o;  // nothing ran: no ranks, no events
  o.unsupported_reason = "no CUDA device on this machine";
  const auto c = tw::classify(o);
  EXPECT_EQ(c.outcome, Outcome::kUnsupported) << c.evidence.dump();
  EXPECT_EQ(c.evidence, json({{"reason", "no CUDA device on this machine"}}));
}

TEST(Classify, UnsupportedFromAnErrorEvent) {
  const auto c =
      tw::classify(exited(0, {error_event("unsupported", "c10d Gloo backend not compiled into this LibTorch")}));
  EXPECT_EQ(c.outcome, Outcome::kUnsupported) << c.evidence.dump();
  EXPECT_EQ(c.evidence["reason"], "c10d Gloo backend not compiled into this LibTorch");
}

TEST(ClassifyPrecedence, WatchdogBeatsEverything) {
  auto events = training(3);
  events.push_back(error_event("oom", "out of memory"));
  events.push_back({{"event", "guard"}, {"rank", 0}, {"action", "stop"}, {"step", 3}});
  events.push_back(error_event("unsupported", "no"));
  events.push_back(end(true));
  Observation o = watchdog("wall", events);
  o.ranks = {tw::RankExit{true, 0, SIGSEGV}, tw::RankExit{true, 3, 0}};
  EXPECT_EQ(tw::classify(o).outcome, Outcome::kHang);
}

TEST(ClassifyPrecedence, SignalBeatsErrorEvent) {
  auto events = training(1);
  events.push_back(error_event("exception", "gloo::EnforceNotMet"));
  const auto c = tw::classify(killed(SIGABRT, events));
  EXPECT_EQ(c.outcome, Outcome::kCrash) << c.evidence.dump();
  EXPECT_EQ(c.evidence["signal"], "SIGABRT");
  EXPECT_EQ(c.evidence["message"], "gloo::EnforceNotMet");  // the last words travel with the crash
}

TEST(ClassifyPrecedence, GuardStopBeatsAnErrorAfterIt) {
  auto events = training(3);
  events.push_back({{"event", "guard"}, {"rank", 0}, {"guard", "g"}, {"action", "stop"}, {"step", 3}});
  events.push_back(error_event("exception", "raised by the guard"));
  EXPECT_EQ(tw::classify(exited(1, events)).outcome, Outcome::kDetected);
}

TEST(ClassifyPrecedence, ErrorEventExplainsANonzeroExit) {
  const auto c = tw::classify(exited(1, {error_event("exception", "bad input")}));
  EXPECT_EQ(c.outcome, Outcome::kError) << c.evidence.dump();
  EXPECT_EQ(c.evidence["message"], "bad input");
  EXPECT_FALSE(c.evidence.contains("exit_code"));
}

TEST(ClassifyPrecedence, DivergenceBeatsLeak) {
  std::vector<double> mem;
  for (int k = 0; k < 40; ++k) mem.push_back(k * 4 * kMiB);
  Observation o = with_memory(mem);
  for (std::size_t k = 30; k < 40; ++k) o.events[k]["loss"] = "nan";
  const auto c = tw::classify(o);
  EXPECT_EQ(c.outcome, Outcome::kDiverged) << c.evidence.dump();
  EXPECT_EQ(c.evidence["symptom_step"], 31);
}

TEST(ClassifyPrecedence, RankZeroEndEventDecides) {
  json rank1_end = end(false);
  rank1_end["rank"] = 1;
  Observation o = exited(0, {step(1, 0.05), rank1_end, end(true)});
  o.ranks.push_back(tw::RankExit{true, 0, 0});
  EXPECT_EQ(tw::classify(o).outcome, Outcome::kHealthy);
}

TEST(ClassifyRobustness, WronglyTypedEventFieldsDoNotThrow) {
  // A cell may send valid JSON with any types; classification must still yield an outcome.
  const std::vector<std::vector<json>> streams = {
      {step(1, 1.0, {{"step", "one"}}), end(true)},
      {{{"event", "error"}, {"rank", 0}, {"kind", 3}, {"message", "x"}}},
      {{{"event", "error"}, {"rank", 0}, {"kind", "exception"}, {"message", {{"nested", true}}}}},
      {{{"event", "guard"}, {"rank", 0}, {"action", "stop"}, {"step", "7"}, {"symptom_step", 5}}},
      {step(1, 1.0), {{"event", "end"}, {"rank", 0}, {"reached_target", "yes"}}},
      {{{"event", "symptom"}, {"rank", 0}, {"kind", "nonfinite"}, {"step", {1, 2}}}},
  };
  for (const auto& events : streams) {
    SCOPED_TRACE(json(events).dump());
    tw::Classification c;
    ASSERT_NO_THROW(c = tw::classify(exited(0, events)));
    EXPECT_EQ(c.outcome, Outcome::kError);
    EXPECT_TRUE(c.evidence.contains("malformed_event")) << c.evidence.dump();
    // The exits and the watchdog still decide what they always decide.
    ASSERT_NO_THROW(c = tw::classify(watchdog("heartbeat", events)));
    EXPECT_EQ(c.outcome, Outcome::kHang);
    ASSERT_NO_THROW(c = tw::classify(killed(SIGSEGV, events)));
    EXPECT_EQ(c.outcome, Outcome::kCrash);
  }
}

TEST(ClassifyClosedSet, EveryOutcomeIsReachable) {
  std::vector<double> leak;
  for (int k = 0; k < 40; ++k) leak.push_back(k * 4 * kMiB);
  Observation unsupported;
  unsupported.unsupported_reason = "no GPU";
  auto healthy = training(2), stalled = training(2), diverged = training(2);
  healthy.push_back(end(true));
  stalled.push_back(end(false));
  diverged.push_back(step(3, "nan"));
  diverged.push_back(end(false));
  const std::vector<Observation> all = {
      exited(0, healthy),
      exited(0, diverged),
      exited(0, stalled),
      exited(0, {error_event("oom", "oom")}),
      with_memory(leak),
      watchdog("heartbeat", {}),
      killed(SIGBUS, {}),
      exited(2, {}),
      exited(0, {{{"event", "guard"}, {"rank", 0}, {"action", "stop"}}}),
      unsupported,
      exited(0, evaluated({5.0, 4.0, 3.0, 2.5, 2.0, 1.6, 1.3, 1.0})),
  };
  std::set<std::string> seen;
  for (const auto& o : all) seen.insert(tw::to_string(tw::classify(o).outcome));
  EXPECT_EQ(seen, std::set<std::string>(tw::outcome_names().begin(), tw::outcome_names().end()));
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
