// Diffing two runs' matrices: context and outcome changes, key evidence, seeds compared seed by
// seed, and the per-seed summaries and loss curves the diff reads.
#include "harness/diff.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "diff_test_util.h"
#include "harness/repeat.h"
#include "test_support.h"

namespace {
using nlohmann::json;
using namespace tw_test::diff_util;

const json* find_cell(const json& d, const std::string& id) {
  for (const auto& c : d["cells"])
    if (c["id"] == id) return &c;
  return nullptr;
}

TEST(DiffMatrices, TheSameRunHasNoChange) {
  const json m = matrix(context("2.11.0", "g++ 13"),
                        {cell("lr/none/cpu", "diverged", {{"symptom_step", 3}, {"final_loss", "nan"}}),
                         cell("lr/clip/cpu", "healthy", {{"final_loss", 0.01}, {"peak_mem_bytes", 1e6}})});
  const json d = tw::diff_matrices(m, m, {});
  EXPECT_TRUE(d["context"].empty()) << d.dump();
  EXPECT_TRUE(d["cells"].empty()) << d.dump();
  EXPECT_EQ(d["summary"]["compared"], 2);
  EXPECT_FALSE(tw::outcomes_changed(d));
  EXPECT_NE(tw::render_diff_text(d, false).find("Changed cells: none"), std::string::npos);
}

TEST(DiffMatrices, ContextDifferencesInTheOrderAnUpgradeCaresAbout) {
  json a = matrix(context("2.10.0", "g++ 12"), json::array());
  json b = matrix(context("2.11.0", "g++ 13"), json::array());
  b["context"]["started_at"] = "2026-02-02T00:00:00Z";  // bookkeeping, not a difference
  b["context"]["probe"]["gpu_name"] = "NVIDIA H100";
  const json d = tw::diff_matrices(a, b, {});
  ASSERT_EQ(d["context"].size(), 3u) << d.dump(1);
  EXPECT_EQ(d["context"][0]["label"], "LibTorch");
  EXPECT_EQ(d["context"][0]["a"], "2.10.0");
  EXPECT_EQ(d["context"][0]["b"], "2.11.0");
  EXPECT_EQ(d["context"][1]["label"], "GPU");
  EXPECT_TRUE(d["context"][1]["a"].is_null());
  EXPECT_EQ(d["context"][2]["label"], "compiler");
  EXPECT_FALSE(tw::outcomes_changed(d));  // a new environment alone changes no outcome
  const std::string text = tw::render_diff_text(d, false);
  EXPECT_LT(text.find("LibTorch"), text.find("compiler")) << text;
  EXPECT_NE(text.find("2.10.0 -> 2.11.0"), std::string::npos) << text;
}

TEST(DiffMatrices, OutcomeAndKeyEvidenceChanges) {
  const json a =
      matrix(context("1", "c"), {cell("lr/none/cpu", "diverged", {{"symptom_step", 3}}),
                                 cell("lr/guard/cpu", "detected", {{"detected_step", 4}, {"symptom_step", 3}}),
                                 cell("lr/adam/cpu", "healthy", {{"final_loss", 0.100}, {"peak_mem_bytes", 1000.0}}),
                                 cell("lr/clip/cpu", "healthy", {{"final_loss", 0.100}, {"peak_mem_bytes", 1000.0}}),
                                 cell("lr/sgd/cpu", "healthy", {{"final_loss", 0.100}})});
  const json b =
      matrix(context("1", "c"), {cell("lr/none/cpu", "healthy", {{"reached_step", 40}}),
                                 cell("lr/guard/cpu", "detected", {{"detected_step", 5}, {"symptom_step", 3}}),
                                 // within 1 % and 10 %: the same
                                 cell("lr/adam/cpu", "healthy", {{"final_loss", 0.1005}, {"peak_mem_bytes", 1090.0}}),
                                 // beyond both tolerances
                                 cell("lr/clip/cpu", "healthy", {{"final_loss", 0.120}, {"peak_mem_bytes", 2000.0}}),
                                 cell("lr/sgd/cpu", "healthy", {{"final_loss", "nan"}})});
  const json d = tw::diff_matrices(a, b, {});
  EXPECT_TRUE(tw::outcomes_changed(d));
  EXPECT_EQ(d["summary"]["outcome_changed"], 1);
  EXPECT_EQ(d["summary"]["evidence_changed"], 3);
  EXPECT_EQ(find_cell(d, "lr/adam/cpu"), nullptr) << d.dump(1);

  const json* none = find_cell(d, "lr/none/cpu");
  ASSERT_NE(none, nullptr);
  EXPECT_TRUE((*none)["outcome_changed"].get<bool>());
  EXPECT_EQ((*none)["a_summary"], "diverged@3");
  EXPECT_EQ((*none)["b_summary"], "healthy@40");
  EXPECT_EQ((*none)["changes"][0]["field"], "outcome");
  EXPECT_EQ((*none)["changes"][1]["field"], "symptom_step");

  const json* guard = find_cell(d, "lr/guard/cpu");
  ASSERT_NE(guard, nullptr);
  ASSERT_EQ((*guard)["changes"].size(), 1u);
  EXPECT_EQ((*guard)["changes"][0]["field"], "detected_step");

  const json* clip = find_cell(d, "lr/clip/cpu");
  ASSERT_NE(clip, nullptr);
  ASSERT_EQ((*clip)["changes"].size(), 2u);
  EXPECT_EQ((*clip)["changes"][0]["field"], "final_loss");
  EXPECT_EQ((*clip)["changes"][0]["note"], "+20%");
  EXPECT_EQ((*clip)["changes"][1]["field"], "peak_mem_bytes");

  EXPECT_NE(find_cell(d, "lr/sgd/cpu"), nullptr);  // a finite loss that became NaN

  // Wider tolerances absorb the clip cell's numbers, not the outcome change.
  tw::DiffOptions loose;
  loose.loss_tolerance = 0.5;
  loose.memory_tolerance = 1.5;
  const json d2 = tw::diff_matrices(a, b, loose);
  EXPECT_EQ(find_cell(d2, "lr/clip/cpu"), nullptr);
  EXPECT_TRUE(tw::outcomes_changed(d2));

  const std::string text = tw::render_diff_text(d, false);
  EXPECT_NE(text.find("lr/none/cpu: outcome diverged@3 -> healthy@40"), std::string::npos) << text;
  EXPECT_NE(text.find("final_loss 0.1 -> 0.12 (+20%)"), std::string::npos) << text;
  const std::string md = tw::render_diff_markdown(d);
  EXPECT_NE(md.find("| lr/none/cpu | diverged@3 | **healthy@40** ✗ |"), std::string::npos) << md;
}

TEST(DiffMatrices, RunsWithTheSameSeedsCompareSeedBySeed) {
  json ctx = context("1", "c");
  ctx["seeds"] = {1, 2, 3};
  const json a = matrix(ctx, {seeded("lr/none/cpu", {"diverged", "diverged", "diverged"}),
                              seeded("lr/clip/cpu", {"healthy", "healthy", "healthy"})});
  const json b = matrix(ctx, {seeded("lr/none/cpu", {"diverged", "diverged", "stalled"}),
                              seeded("lr/clip/cpu", {"healthy", "healthy", "healthy"})});
  const json d = tw::diff_matrices(a, b, {});
  EXPECT_TRUE(tw::outcomes_changed(d)) << "the first seed agrees; the third does not";
  EXPECT_TRUE(d["context"].empty()) << d.dump();
  ASSERT_EQ(d["cells"].size(), 1u) << d.dump(1);
  const json& c = d["cells"][0];
  EXPECT_EQ(c["id"], "lr/none/cpu");
  EXPECT_TRUE(c["outcome_changed"].get<bool>());
  EXPECT_EQ(c["changed_seeds"], json({3}));
  EXPECT_EQ(c["a_summary"], "diverged (3/3 seeds)");
  EXPECT_EQ(c["b_summary"], "diverged 2/3, stalled 1/3");
  const std::string text = tw::render_diff_text(d, false);
  EXPECT_NE(text.find("lr/none/cpu: outcome diverged (3/3 seeds) -> diverged 2/3, stalled 1/3; outcome per seed "
                      "diverged, diverged, diverged -> diverged, diverged, stalled (changed on seed(s) 3)"),
            std::string::npos)
      << text;
}

TEST(DiffMatrices, DifferentSeedsAreAContextDifferenceAndOnlyMainRecordsCompare) {
  json ca = context("1", "c"), cb = context("1", "c");
  ca["seeds"] = {1, 2, 3};
  cb["seeds"] = {4, 5, 6};
  const json a = matrix(ca, {seeded("lr/none/cpu", {"diverged", "diverged", "diverged"})});
  const json b = matrix(cb, {seeded("lr/none/cpu", {"diverged", "stalled", "stalled"}, {4, 5, 6})});
  const json d = tw::diff_matrices(a, b, {});
  EXPECT_FALSE(tw::outcomes_changed(d)) << d.dump(1);
  ASSERT_EQ(d["context"].size(), 1u) << d.dump(1);
  EXPECT_EQ(d["context"][0]["label"], "seeds");
  EXPECT_TRUE(d["cells"].empty()) << "the first seeds agree; the others are not the same seeds";
  // One seed against several: the context says so too.
  const json single = matrix(context("1", "c"), {cell("lr/none/cpu", "diverged")});
  const json d2 = tw::diff_matrices(single, a, {});
  EXPECT_FALSE(tw::outcomes_changed(d2));
  ASSERT_EQ(d2["context"].size(), 1u) << d2.dump(1);
  EXPECT_EQ(d2["context"][0]["key"], "seeds");
}

TEST(DiffMatrices, CellsOnOneSideAreListedButChangeNoOutcome) {
  const json a = matrix(json::object(), {cell("s/none/cpu", "healthy"), cell("gone/none/cpu", "healthy")});
  const json b = matrix(json::object(), {cell("s/none/cpu", "healthy"), cell("new/none/cuda", "oom")});
  tw::DiffOptions o;
  o.a_name = "old";
  o.b_name = "new";
  const json d = tw::diff_matrices(a, b, o);
  EXPECT_EQ(d["only_a"], json::array({"gone/none/cpu"}));
  EXPECT_EQ(d["only_b"], json::array({"new/none/cuda"}));
  EXPECT_FALSE(tw::outcomes_changed(d));
  const std::string text = tw::render_diff_text(d, false);
  EXPECT_NE(text.find("Only in old:\n  gone/none/cpu"), std::string::npos) << text;
  EXPECT_NE(text.find("Only in new:\n  new/none/cuda"), std::string::npos) << text;
}

TEST(AggregateSeeds, OutcomesCountsAndKeyEvidenceOfEachSeed) {
  const std::string long_message(300, 'x');
  const json r1 = {{"outcome", "diverged"},
                   {"evidence", {{"symptom_step", 16}, {"final_loss", "nan"}, {"wall_seconds", 2.0}, {"steps", 16}}}};
  const json r2 = {
      {"outcome", "diverged"},
      {"evidence", {{"symptom_step", 18}, {"peak_mem_bytes", 1e6}, {"median_step_ms", 12.5}, {"p90_step_ms", 20.0}}}};
  const json r3 = {{"outcome", "error"}, {"evidence", {{"message", long_message}, {"final_eval_loss", 0.5}}}};
  const json s = tw::aggregate_seeds({7, 8, 9}, {r1, r2, r3});
  EXPECT_EQ(s["values"], json({7, 8, 9}));
  EXPECT_EQ(s["outcomes"], json({"diverged", "diverged", "error"}));
  EXPECT_EQ(s["counts"], json({{"diverged", 2}, {"error", 1}}));
  ASSERT_EQ(s["evidence"].size(), 3u);
  EXPECT_EQ(s["evidence"][0], json({{"symptom_step", 16}, {"final_loss", "nan"}, {"steps", 16}}));  // no timings
  // A fault's own step timer (median_step_ms) is a step time diff can use per seed.
  EXPECT_EQ(s["evidence"][1], json({{"symptom_step", 18}, {"peak_mem_bytes", 1e6}, {"median_step_ms", 12.5}}));
  EXPECT_EQ(s["evidence"][2]["final_eval_loss"], 0.5);
  EXPECT_EQ(s["evidence"][2]["message"], std::string(tw::kSeedMessageChars, 'x') + "...");
}

TEST(SeedSeries, TheLossCurveOfAnEventFileInAtMostSixtyPoints) {
  tw_test::TempDir tmp;
  std::string lines = "{\"event\":\"start\",\"rank\":0}\n";
  for (int k = 1; k <= 250; ++k) {
    lines += json({{"event", "step"}, {"rank", 0}, {"step", k}, {"loss", 1.0 / k}, {"mem", 5}}).dump() + "\n";
    lines += json({{"event", "step"}, {"rank", 1}, {"step", k}, {"loss", 9.0}}).dump() + "\n";
  }
  lines += "not json\n";
  const json s = tw::seed_series_of(tmp.write("cell.jsonl", lines));
  ASSERT_TRUE(s.contains("step") && s.contains("loss")) << s.dump();
  EXPECT_FALSE(s.contains("mem"));
  EXPECT_LE(s["loss"].size(), 61u);  // the last step is always kept
  EXPECT_EQ(s["step"].size(), s["loss"].size());
  EXPECT_EQ(s["step"].front(), 1);
  EXPECT_EQ(s["step"].back(), 250);
  for (const auto& l : s["loss"]) EXPECT_LT(l.get<double>(), 2.0);  // rank 0 only
  EXPECT_EQ(tw::seed_series_of(tmp / "missing.jsonl"), json::object());
}

TEST(WithinTolerance, RelativeForNumbersExactForWords) {
  EXPECT_TRUE(tw::within_tolerance(1.0, 1.0, 0));
  EXPECT_TRUE(tw::within_tolerance(1.0, 1.009, 0.01));
  EXPECT_FALSE(tw::within_tolerance(1.0, 1.02, 0.01));
  EXPECT_TRUE(tw::within_tolerance(0.0, 0.0, 0.01));
  EXPECT_TRUE(tw::within_tolerance("nan", "nan", 0.01));
  EXPECT_FALSE(tw::within_tolerance("nan", 1.0, 100));
  EXPECT_FALSE(tw::within_tolerance(json(), 1.0, 100));
  EXPECT_TRUE(tw::within_tolerance(json(), json(), 0));
}

}  // namespace
