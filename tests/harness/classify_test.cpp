// The classifier on a run's loss and memory: healthy, stalled, diverged (non-finite or blown up),
// out of memory, and a leak as a rate projected against the budget.
#include "harness/classify.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "classify_test_util.h"

namespace {
using nlohmann::json;
using tw::Observation;
using tw::Outcome;
using namespace tw_test::classify_util;

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
  std::vector<json> events = {step(1, "inf"), step(2, 1.0), step(3, 50.0, {{"rank", 1}}), step(3, 500.0, {{"rank", 1}}),
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

TEST(Classify, TooFewSamplesAreNotALeak) {
  std::vector<double> mem;
  for (int k = 0; k < 7; ++k) mem.push_back(k * 100 * kMiB);
  EXPECT_EQ(tw::classify(with_memory(mem)).outcome, Outcome::kHealthy);
}

}  // namespace
