// The diff's numerics and steps tiers: loss curves compared within a tolerance, where drifted curves
// part, every seed's curve, steps to target and steps run, and drift an A/A run shows too.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "diff_test_util.h"
#include "harness/diff.h"

namespace {
using nlohmann::json;
using namespace tw_test::diff_util;
}  // namespace

namespace tiers {

TEST(DiffTiers, BitIdenticalCurvesAreIdentical) {
  const json m = matrix(host_context(), json::array({trained("s/none/cpu", curve(kLoss), {{"final_loss", 0.1}})}));
  const json d = tw::diff_matrices(m, m, {});
  const json* c = per_cell(d, "s/none/cpu");
  ASSERT_NE(c, nullptr) << d.dump(1);
  EXPECT_EQ((*c)["numerics"]["tier"], "identical");
  EXPECT_EQ((*c)["numerics"]["seeds"][0]["steps_compared"], 8);
  EXPECT_EQ(d["summary"]["numerics"]["identical"], 1);
  EXPECT_EQ(d["summary"]["numerics"]["cell_seeds"], 1);
  EXPECT_FALSE(d["host_changed"]["changed"].get<bool>());
  const std::string text = tw::render_diff_text(d, false);
  EXPECT_EQ(text.find("WARNING"), std::string::npos) << text;
  EXPECT_EQ(text.find("Loss curves not bit-identical"), std::string::npos) << text;
  EXPECT_NE(text.find("loss curves   1 identical, 0 within tolerance (1%), 0 drifted"), std::string::npos) << text;
}

TEST(DiffTiers, ASmallDifferenceIsWithinToleranceAndDriftedAtToleranceZero) {
  std::vector<double> moved = kLoss;
  moved[5] = 0.2 * (1 - 0.00024);  // -0.024 % from step 51 on
  moved[6] = 0.15 * (1 - 0.0001);
  const json a = matrix(host_context(), json::array({trained("bf16/amp/cpu", curve(kLoss))}));
  const json b = matrix(host_context(), json::array({trained("bf16/amp/cpu", curve(moved))}));
  const json d = tw::diff_matrices(a, b, {});
  const json& s = (*per_cell(d, "bf16/amp/cpu"))["numerics"]["seeds"][0];
  EXPECT_EQ(s["tier"], "within tolerance") << s.dump();
  EXPECT_EQ(s["first_differing_step"], 51);
  EXPECT_EQ(s["last_equal_step"], 41);
  EXPECT_EQ(s["max_rel_diff_step"], 51);
  EXPECT_NEAR(s["max_rel_diff"].get<double>(), 0.00024, 1e-9);
  EXPECT_FALSE(s.contains("first_drift_step"));
  EXPECT_EQ(d["summary"]["numerics"]["within_tolerance"], 1);
  EXPECT_TRUE(d["cells"].empty()) << "within tolerance is not a change of behaviour\n" << d.dump(1);
  const std::string text = tw::render_diff_text(d, false);
  EXPECT_NE(text.find("Loss curves not bit-identical:\n  bf16/amp/cpu (seed 1): within tolerance, max relative "
                      "difference 0.024% at step 51; the curves part at step 51 (identical through step 41)"),
            std::string::npos)
      << text;

  tw::DiffOptions exact;
  exact.loss_tolerance = 0;
  const json d0 = tw::diff_matrices(a, b, exact);
  const json& s0 = (*per_cell(d0, "bf16/amp/cpu"))["numerics"]["seeds"][0];
  EXPECT_EQ(s0["tier"], "drifted");
  EXPECT_EQ(s0["first_drift_step"], 51);
  EXPECT_EQ(d0["summary"]["numerics"]["drifted"], 1);
}

TEST(DiffTiers, ADriftedCurveSaysWhereTheCurvesPartAndIsAChange) {
  std::vector<double> moved = kLoss;
  moved[3] = 0.45 * 1.001;  // parts at step 31, within 1 %
  moved[4] = 0.3 * 1.05;    // beyond 1 % from step 41
  moved[7] = 0.1 * 1.20;    // the largest difference at step 71
  const json a = matrix(host_context(), json::array({trained("s/none/cpu", curve(kLoss), {{"final_loss", 0.1}})}));
  const json b = matrix(host_context(), json::array({trained("s/none/cpu", curve(moved), {{"final_loss", 0.1}})}));
  const json d = tw::diff_matrices(a, b, {});
  const json& s = (*per_cell(d, "s/none/cpu"))["numerics"]["seeds"][0];
  EXPECT_EQ(s["tier"], "drifted");
  EXPECT_EQ(s["first_differing_step"], 31);
  EXPECT_EQ(s["last_equal_step"], 21);
  EXPECT_EQ(s["first_drift_step"], 41);
  EXPECT_EQ(s["max_rel_diff_step"], 71);
  EXPECT_NEAR(s["max_rel_diff"].get<double>(), 0.2 / 1.2, 1e-9);
  // A drifted curve is a change even when the final loss agrees (it was the only thing compared).
  ASSERT_EQ(d["cells"].size(), 1u) << d.dump(1);
  EXPECT_EQ(d["cells"][0]["changes"][0]["field"], "loss_curve");
  EXPECT_EQ(d["summary"]["evidence_changed"], 1);
  EXPECT_FALSE(tw::outcomes_changed(d));
  const std::string text = tw::render_diff_text(d, false);
  EXPECT_NE(text.find("s/none/cpu: loss curve drifted (seed 1: from step 41, max 16.7% at step 71)"), std::string::npos)
      << text;
  EXPECT_NE(text.find("s/none/cpu (seed 1): drifted from step 41, max relative difference 16.7% at step 71; the "
                      "curves part at step 31 (identical through step 21)"),
            std::string::npos)
      << text;
  EXPECT_NE(tw::render_diff_markdown(d).find("### Loss curves not bit-identical"), std::string::npos);
  EXPECT_TRUE(tw::diff_failures(d, {}).empty());
  EXPECT_EQ(tw::diff_failures(d, {tw::FailOn::kNumerics}), std::vector<std::string>{"1 loss curve(s) drifted"});
}

TEST(DiffTiers, EverySeedsCurveIsComparedWhenBothRunsHadTheSameSeeds) {
  auto seeded_cell = [](const std::vector<double>& third) {
    json c = seeded("s/none/cpu", {"healthy", "healthy", "healthy"});
    c["series"] = curve(kLoss);
    c["seed_series"] = {curve(kLoss), curve(third)};
    return c;
  };
  std::vector<double> moved = kLoss;
  moved[2] = 0.7;
  json ctx = host_context();
  ctx["seeds"] = {1, 2, 3};
  const json d = tw::diff_matrices(matrix(ctx, json::array({seeded_cell(kLoss)})),
                                   matrix(ctx, json::array({seeded_cell(moved)})), {});
  const json& n = (*per_cell(d, "s/none/cpu"))["numerics"];
  ASSERT_EQ(n["seeds"].size(), 3u) << n.dump(1);
  EXPECT_EQ(n["seeds"][0]["tier"], "identical");
  EXPECT_EQ(n["seeds"][1]["tier"], "identical");
  EXPECT_EQ(n["seeds"][2]["tier"], "drifted");
  EXPECT_EQ(n["seeds"][2]["seed"], 3);
  EXPECT_EQ(n["tier"], "drifted");  // the worst seed's
  EXPECT_EQ(d["summary"]["numerics"]["identical"], 2);
  EXPECT_EQ(d["summary"]["numerics"]["drifted"], 1);

  // Another main seed: the curves are not comparable (and not "drifted").
  json other = matrix(host_context(), json::array({trained("s/none/cpu", curve(kLoss))}));
  other["context"]["seed"] = 2;
  const json d2 =
      tw::diff_matrices(matrix(host_context(), json::array({trained("s/none/cpu", curve(moved))})), other, {});
  EXPECT_EQ((*per_cell(d2, "s/none/cpu"))["numerics"]["tier"], "not comparable");
  EXPECT_EQ(d2["summary"]["numerics"]["not_comparable"], 1);
}

TEST(DiffTiers, StepsToTargetAndStepsRun) {
  json ctx = host_context();
  ctx["seeds"] = {1, 2, 3};
  auto with_steps = [](int main_reached, int main_steps, int third_reached) {
    json c = seeded("s/adam/cpu", {"healthy", "healthy", "healthy"});
    c["evidence"] = {{"reached_step", main_reached}, {"steps", main_steps}, {"final_loss", 0.1}};
    c["seeds"]["evidence"] = {{{"reached_step", main_reached}, {"steps", main_steps}},
                              {{"reached_step", 50}, {"steps", 300}},
                              {{"reached_step", third_reached}, {"steps", 300}}};
    return c;
  };
  const json a = matrix(ctx, json::array({with_steps(60, 300, 90)}));
  const json same = tw::diff_matrices(a, a, {});
  EXPECT_FALSE((*per_cell(same, "s/adam/cpu"))["steps"]["changed"].get<bool>());
  EXPECT_EQ(same["summary"]["steps"]["changed"], 0);

  const json d = tw::diff_matrices(a, matrix(ctx, json::array({with_steps(20, 260, 100)})), {});
  const json& st = (*per_cell(d, "s/adam/cpu"))["steps"];
  EXPECT_TRUE(st["changed"].get<bool>());
  ASSERT_EQ(st["seeds"].size(), 2u) << st.dump(1);
  EXPECT_EQ(st["seeds"][0]["seed"], 1);
  EXPECT_EQ(st["seeds"][0]["reached_step"], json({{"a", 60}, {"b", 20}}));
  EXPECT_EQ(st["seeds"][0]["steps"], json({{"a", 300}, {"b", 260}}));
  EXPECT_EQ(st["seeds"][1]["seed"], 3);
  EXPECT_FALSE(st["seeds"][1].contains("steps"));
  EXPECT_EQ(d["summary"]["steps"]["changed"], 1);
  EXPECT_EQ(d["summary"]["steps"]["reached_step_changed"], 2);
  EXPECT_EQ(d["summary"]["steps"]["steps_changed"], 1);
  ASSERT_EQ(d["cells"].size(), 1u);
  const std::string text = tw::render_diff_text(d, false);
  EXPECT_NE(text.find("s/adam/cpu: steps to target 60 -> 20; steps to target per seed 60, 50, 90 -> 20, 50, 100 "
                      "(changed on seed(s) 3); steps run 300 -> 260"),
            std::string::npos)
      << text;
  EXPECT_EQ(tw::diff_failures(d, {tw::FailOn::kSteps}), std::vector<std::string>{"1 cell(s) with changed steps"});
}

TEST(DiffTiers, AChangeOfTheStepsRunAloneNamesItsCell) {
  json ctx = host_context();
  ctx["seeds"] = {1, 2, 3};
  auto with_steps = [](int main_steps, int third_steps) {
    json c = seeded("s/adam/cpu", {"healthy", "healthy", "healthy"});
    c["evidence"] = {{"reached_step", 40}, {"steps", main_steps}};
    c["seeds"]["evidence"] = {{{"reached_step", 40}, {"steps", main_steps}},
                              {{"reached_step", 50}, {"steps", 300}},
                              {{"reached_step", 60}, {"steps", third_steps}}};
    return c;
  };
  const json a = matrix(ctx, json::array({with_steps(300, 300)}));
  // The first seed ran fewer steps: "steps".
  const json d = tw::diff_matrices(a, matrix(ctx, json::array({with_steps(250, 300)})), {});
  EXPECT_EQ(tw::diff_failures(d, {tw::FailOn::kSteps}), std::vector<std::string>{"1 cell(s) with changed steps"});
  ASSERT_EQ(d["cells"].size(), 1u) << "the failing cell is named\n" << d.dump(1);
  EXPECT_EQ(d["cells"][0]["id"], "s/adam/cpu");
  EXPECT_EQ(d["cells"][0]["changes"][0], json({{"field", "steps"}, {"a", 300}, {"b", 250}}));
  EXPECT_NE(tw::render_diff_text(d, false).find("s/adam/cpu: steps run 300 -> 250"), std::string::npos);
  // Another seed ran fewer steps: "seed_steps".
  const json d2 = tw::diff_matrices(a, matrix(ctx, json::array({with_steps(300, 280)})), {});
  EXPECT_EQ(tw::diff_failures(d2, {tw::FailOn::kSteps}), std::vector<std::string>{"1 cell(s) with changed steps"});
  ASSERT_EQ(d2["cells"].size(), 1u) << d2.dump(1);
  EXPECT_EQ(d2["cells"][0]["changes"][0]["field"], "seed_steps");
  EXPECT_NE(tw::render_diff_text(d2, false).find(
                "s/adam/cpu: steps run per seed 300, 300, 300 -> 300, 300, 280 (changed on seed(s) 3)"),
            std::string::npos)
      << tw::render_diff_text(d2, false);
}

TEST(DiffTiers, ADriftTheAARunShowsTooIsNoiseAndFailsNothing) {
  std::vector<double> moved = kLoss, other = kLoss;
  moved[4] = 0.3 * 1.05;
  other[5] = 0.2 * 1.08;
  const json a = matrix(host_context(), json::array({trained("s/none/cpu", curve(kLoss))}));
  const json a2 = matrix(host_context(), json::array({trained("s/none/cpu", curve(moved))}));  // A's own rerun drifts
  const json b = matrix(host_context(), json::array({trained("s/none/cpu", curve(other))}));
  tw::DiffOptions o;
  o.noise_name = "A2";
  const json d = tw::diff_matrices(a, b, o, a2);
  const json& n = (*per_cell(d, "s/none/cpu"))["numerics"];
  EXPECT_EQ(n["tier"], "drifted") << n.dump(1);
  EXPECT_EQ(n["noise_tier"], "drifted");
  EXPECT_TRUE(n["drifts_in_noise"].get<bool>());
  EXPECT_EQ(n["seeds"][0]["noise_tier"], "drifted");
  EXPECT_EQ(d["summary"]["numerics"]["drifted"], 0);
  EXPECT_EQ(d["summary"]["numerics"]["drifted_in_noise"], 1);
  EXPECT_TRUE(d["cells"].empty()) << "noise is no change\n" << d.dump(1);
  EXPECT_TRUE(tw::diff_failures(d, {tw::FailOn::kNumerics}).empty());
  const std::string text = tw::render_diff_text(d, false);
  EXPECT_NE(text.find("0 drifted, 1 drift in the A/A run too (noise, no change)"), std::string::npos) << text;
  EXPECT_NE(text.find("s/none/cpu (seed 1): drifted from step 51"), std::string::npos) << text;
  EXPECT_NE(text.find("drifts in A/A too (noise"), std::string::npos) << text;
  // Without the A/A run, or with one that reproduces A, the same drift fails.
  EXPECT_EQ(tw::diff_failures(tw::diff_matrices(a, b, {}), {tw::FailOn::kNumerics}),
            std::vector<std::string>{"1 loss curve(s) drifted"});
  const json quiet = tw::diff_matrices(a, b, o, a);
  EXPECT_EQ((*per_cell(quiet, "s/none/cpu"))["numerics"]["noise_tier"], "identical");
  EXPECT_EQ(tw::diff_failures(quiet, {tw::FailOn::kNumerics}), std::vector<std::string>{"1 loss curve(s) drifted"});
}

TEST(CompareCurves, ACurveCutShortIsIdenticalOnSharedStepsOnly) {
  const json a = curve(kLoss);
  const json b = curve(std::vector<double>(kLoss.begin(), kLoss.begin() + 5));  // B stopped at step 41
  const json c = tw::compare_curves(a, b, 0.01);
  EXPECT_EQ(c["tier"], "identical on shared steps") << c.dump();
  EXPECT_EQ(c["steps_compared"], 5);
  EXPECT_EQ(c["a_last_step"], 71);
  EXPECT_EQ(c["b_last_step"], 41);
  EXPECT_EQ(tw::compare_curves(b, a, 0.01)["tier"], "identical on shared steps");  // A the shorter one
  EXPECT_EQ(tw::compare_curves(a, a, 0.01)["tier"], "identical");
  const json d = tw::diff_matrices(matrix(host_context(), json::array({trained("s/none/cpu", a)})),
                                   matrix(host_context(), json::array({trained("s/none/cpu", b)})), {});
  EXPECT_EQ(d["summary"]["numerics"]["identical"], 0);
  EXPECT_EQ(d["summary"]["numerics"]["identical_on_shared_steps"], 1);
  const std::string text = tw::render_diff_text(d, false);
  EXPECT_NE(text.find("0 identical, 1 identical on shared steps only (one curve shorter)"), std::string::npos) << text;
  EXPECT_NE(text.find("s/none/cpu (seed 1): identical on shared steps (5 steps compared); last step 71 -> 41"),
            std::string::npos)
      << text;
}

TEST(CompareCurves, CurvesThatDifferFromTheFirstSharedStep) {
  std::vector<double> moved = kLoss;
  moved[0] = 1.5;
  const json c = tw::compare_curves(curve(kLoss), curve(moved), 0.01);
  EXPECT_EQ(c["tier"], "drifted") << c.dump();
  EXPECT_EQ(c["first_differing_step"], 1);
  EXPECT_TRUE(c["last_equal_step"].is_null());
  EXPECT_EQ(c["first_drift_step"], 1);
  const json d = tw::diff_matrices(matrix(host_context(), json::array({trained("s/none/cpu", curve(kLoss))})),
                                   matrix(host_context(), json::array({trained("s/none/cpu", curve(moved))})), {});
  const std::string text = tw::render_diff_text(d, false);
  EXPECT_NE(text.find("the curves part at step 1\n"), std::string::npos) << text;  // no "identical through"
  EXPECT_EQ(text.find("identical through"), std::string::npos) << text;
}

TEST(CompareCurves, NonFiniteLossesAsRecorded) {
  const json a = {{"step", {1, 2, 3, 4}}, {"loss", {1.0, 0.5, "nan", "nan"}}};
  // The same words at the same steps are identical.
  EXPECT_EQ(tw::compare_curves(a, a, 0)["tier"], "identical");
  // A loss that became NaN is a drift of infinite size, written "inf" in JSON.
  const json b = {{"step", {1, 2, 3, 4}}, {"loss", {1.0, "nan", "nan", "nan"}}};
  const json c = tw::compare_curves(a, b, 0.01);
  EXPECT_EQ(c["tier"], "drifted") << c.dump();
  EXPECT_EQ(c["first_differing_step"], 2);
  EXPECT_EQ(c["last_equal_step"], 1);
  EXPECT_EQ(c["max_rel_diff"], "inf");
  EXPECT_EQ(c["max_rel_diff_step"], 2);
  // "inf" and "nan" are different words.
  const json inf = {{"step", {1, 2, 3, 4}}, {"loss", {1.0, 0.5, "inf", "nan"}}};
  EXPECT_EQ(tw::compare_curves(a, inf, 0.01)["first_drift_step"], 3);
  const json d = tw::diff_matrices(matrix(host_context(), json::array({trained("s/none/cpu", a)})),
                                   matrix(host_context(), json::array({trained("s/none/cpu", b)})), {});
  EXPECT_NE(tw::render_diff_text(d, false).find("max relative difference inf at step 2"), std::string::npos)
      << tw::render_diff_text(d, false);
}

}  // namespace tiers
