// The classifier on how a run ended: hangs, crashes, errors, a guard's detection, unsupported cells,
// which outcome wins when several apply, malformed events, and every outcome being reachable.
#include <gtest/gtest.h>
#include <signal.h>

#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "classify_test_util.h"
#include "harness/classify.h"

namespace {
using nlohmann::json;
using tw::Observation;
using tw::Outcome;
using namespace tw_test::classify_util;

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

}  // namespace
