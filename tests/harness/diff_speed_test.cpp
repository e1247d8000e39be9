// The diff's speed and memory tiers: step times against a threshold and an A/A run's noise band,
// the median over seeds, every memory field with its own band, and runs too short to judge.
#include <gtest/gtest.h>

#include <map>
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

TEST(DiffTiers, SpeedAgainstTheThresholdAlone) {
  const json a = matrix(
      host_context(),
      json::array({timed("slow/x/cpu", 10), timed("fast/x/cpu", 10), timed("same/x/cpu", 10), timed("tiny/x/cpu", 0.1),
                   cell("none/x/cpu", "healthy"), timed("mean/x/cpu", 10, 100, "train_seconds")}));
  const json b = matrix(
      host_context(),
      json::array({timed("slow/x/cpu", 12), timed("fast/x/cpu", 8), timed("same/x/cpu", 10.5), timed("tiny/x/cpu", 0.3),
                   cell("none/x/cpu", "healthy"), timed("mean/x/cpu", 11, 100, "train_seconds")}));
  const json d = tw::diff_matrices(a, b, {});
  auto speed = [&](const std::string& id) { return (*per_cell(d, id))["speed"]; };
  EXPECT_EQ(speed("slow/x/cpu")["verdict"], "slower") << speed("slow/x/cpu").dump();
  EXPECT_NEAR(speed("slow/x/cpu")["change"].get<double>(), 0.2, 1e-9);
  EXPECT_EQ(speed("slow/x/cpu")["band"], 0.07);
  EXPECT_FALSE(speed("slow/x/cpu").contains("noise"));
  EXPECT_EQ(speed("slow/x/cpu")["source"], "step_seconds_median");
  EXPECT_EQ(speed("fast/x/cpu")["verdict"], "faster");
  EXPECT_EQ(speed("same/x/cpu")["verdict"], "within band");  // +5 % < 7 %
  EXPECT_EQ(speed("tiny/x/cpu")["verdict"], "too short");    // 10 ms of training
  EXPECT_EQ(speed("none/x/cpu")["verdict"], "not measured");
  EXPECT_EQ(speed("mean/x/cpu")["verdict"], "slower");  // train_seconds / steps when no median
  EXPECT_EQ(speed("mean/x/cpu")["source"], "train_seconds/steps");
  const json& s = d["summary"]["speed"];
  EXPECT_EQ(s["slower"], 2);
  EXPECT_EQ(s["faster"], 1);
  EXPECT_EQ(s["within_band"], 1);
  EXPECT_EQ(s["too_short"], 1);
  EXPECT_EQ(s["not_measured"], 1);
  EXPECT_FALSE(s["noise_band"].get<bool>());
  EXPECT_NEAR(s["median_change"].get<double>(), 0.075, 1e-9);  // of -20 %, +5 %, +10 %, +20 %
  EXPECT_TRUE(d["cells"].empty()) << "speed is not a change of behaviour\n" << d.dump(1);
  const std::string text = tw::render_diff_text(d, false);
  EXPECT_NE(text.find("speed         2 slower, 1 faster, 1 within the band, 1 too short (< 50 ms), 1 not measured; "
                      "median change +7.5%; median step time, threshold 7% alone (no --noise run: no noise band)"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("Speed beyond the band:\n  slow/x/cpu: slower: 10 ms -> 12 ms per step (+20%; band 7%)"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("fast/x/cpu: faster: 10 ms -> 8 ms per step (-20%; band 7%)"), std::string::npos) << text;
  EXPECT_NE(tw::render_diff_markdown(d).find("| slow/x/cpu | slower: 10 ms -> 12 ms per step (+20%; band 7%) |"),
            std::string::npos);
  EXPECT_TRUE(tw::diff_failures(d, {}).empty());
  EXPECT_EQ(tw::diff_failures(d, {tw::FailOn::kSpeed}), std::vector<std::string>{"2 cell(s) slower beyond the band"});

  tw::DiffOptions strict;
  strict.speed_threshold = 0.01;
  strict.min_seconds = 0;
  const json d2 = tw::diff_matrices(a, b, strict);
  EXPECT_EQ((*per_cell(d2, "same/x/cpu"))["speed"]["verdict"], "slower");
  EXPECT_EQ((*per_cell(d2, "tiny/x/cpu"))["speed"]["verdict"], "slower");
}

TEST(DiffTiers, SpeedAgainstTheNoiseBandOfAnAARun) {
  const json a = matrix(host_context(), json::array({timed("noisy/x/cpu", 10), timed("quiet/x/cpu", 10)}));
  // The A/A rerun: the noisy cell moved by 30 %, the quiet one by 2 %.
  const json a2 = matrix(host_context(), json::array({timed("noisy/x/cpu", 13), timed("quiet/x/cpu", 10.2)}));
  const json b = matrix(host_context(), json::array({timed("noisy/x/cpu", 12), timed("quiet/x/cpu", 12)}));
  tw::DiffOptions o;
  o.noise_name = "A2";
  const json d = tw::diff_matrices(a, b, o, a2);
  const json& noisy = (*per_cell(d, "noisy/x/cpu"))["speed"];
  EXPECT_EQ(noisy["verdict"], "within band") << noisy.dump();  // +20 % inside a 30 % band
  EXPECT_NEAR(noisy["noise"].get<double>(), 0.3, 1e-9);
  EXPECT_NEAR(noisy["band"].get<double>(), 0.3, 1e-9);
  const json& quiet = (*per_cell(d, "quiet/x/cpu"))["speed"];
  EXPECT_EQ(quiet["verdict"], "slower");  // the 7 % threshold is the floor of the band
  EXPECT_NEAR(quiet["band"].get<double>(), 0.07, 1e-9);
  EXPECT_EQ(d["noise"], "A2");
  EXPECT_TRUE(d["summary"]["speed"]["noise_band"].get<bool>());
  const std::string text = tw::render_diff_text(d, false);
  EXPECT_NE(text.find("threshold 7% or the A/A noise of A2 when larger"), std::string::npos) << text;
  EXPECT_NE(text.find("quiet/x/cpu: slower: 10 ms -> 12 ms per step (+20%; band 7%, A/A noise 2%)"), std::string::npos)
      << text;
  // Without the A/A run, both are slower.
  EXPECT_EQ(tw::diff_matrices(a, b, {})["summary"]["speed"]["slower"], 2);
}

TEST(DiffTiers, SpeedJudgedByTheSpreadOfTheAARunAndTheAACheck) {
  // Twenty cells; the A/A run moves each by a few percent (spread about 2 %), one by 40 %. B
  // slows one cell by 30 % (a planted regression) and another by 5 %, and leaves the rest.
  json a = json::array(), a2 = json::array(), b = json::array();
  for (int i = 0; i < 20; ++i) {
    const std::string id = "c" + std::to_string(i) + "/x/cpu";
    const double wobble = 1 + 0.02 * ((i % 5) - 2) / 2.0;  // -2 % .. +2 %
    a.push_back(timed(id, 10));
    a2.push_back(timed(id, i == 7 ? 14 : 10 * wobble));
    b.push_back(timed(id, i == 3 ? 13 : i == 4 ? 10.5 : 10 * wobble));
  }
  tw::DiffOptions o;
  o.noise_name = "A2";
  const json d = tw::diff_matrices(matrix(host_context(), a), matrix(host_context(), b), o, matrix(host_context(), a2));
  const json& spread = d["summary"]["speed"]["noise_spread"];
  EXPECT_EQ(spread["cells"], 20) << spread.dump();
  EXPECT_GT(spread["sigma"].get<double>(), 0.005);
  EXPECT_LT(spread["sigma"].get<double>(), 0.03);  // the one 40 % cell does not widen it
  const json& planted = (*per_cell(d, "c3/x/cpu"))["speed"];
  EXPECT_EQ(planted["verdict"], "slower") << planted.dump();
  ASSERT_TRUE(planted["interval"].is_array());
  EXPECT_GT(planted["interval"][0].get<double>(), 0.07);
  EXPECT_LT(planted["interval"][0].get<double>(), 0.3);
  EXPECT_GT(planted["interval"][1].get<double>(), 0.3);
  EXPECT_EQ((*per_cell(d, "c4/x/cpu"))["speed"]["verdict"], "within band");  // +5 %: inside
  EXPECT_EQ(d["summary"]["speed"]["slower"], 1);
  // The A/A check: the same rule on A against A2 flags the 40 % cell, and only it.
  const json& aa = d["summary"]["speed"]["aa_check"];
  EXPECT_EQ(aa["compared"], 20);
  ASSERT_EQ(aa["flagged"].size(), 1u) << aa.dump();
  EXPECT_EQ(aa["flagged"][0]["id"], "c7/x/cpu");
  const std::string text = tw::render_diff_text(d, false);
  EXPECT_NE(text.find("A/A check: 1 of 20 cells flagged by the same rule"), std::string::npos) << text;
  EXPECT_NE(text.find("c3/x/cpu: slower: 10 ms -> 13 ms per step (+30%; band 12.4%, interval +23.8% to +36.5%"),
            std::string::npos)
      << text;
}

TEST(DiffTiers, TheMedianStepTimeOverSeeds) {
  auto seeded_timed = [](std::vector<double> ms) {
    json c = seeded("s/x/cpu", {"healthy", "healthy", "healthy"});
    c["evidence"] = {{"steps", 100}, {"step_seconds_median", ms[0] / 1000}, {"train_seconds", ms[0] / 10}};
    c["seeds"]["evidence"] = json::array();
    for (double m : ms)
      c["seeds"]["evidence"].push_back({{"steps", 100}, {"step_seconds_median", m / 1000}, {"train_seconds", m / 10}});
    return c;
  };
  // The first seed alone looks 50 % slower; the median over seeds moved by 1 %.
  const json d = tw::diff_matrices(matrix(host_context(), json::array({seeded_timed({10, 10, 10})})),
                                   matrix(host_context(), json::array({seeded_timed({15, 10.1, 10})})), {});
  const json& s = (*per_cell(d, "s/x/cpu"))["speed"];
  EXPECT_EQ(s["verdict"], "within band") << s.dump();
  EXPECT_EQ(s["samples"], json({3, 3}));
}

TEST(DiffTiers, EveryMemoryFieldWithItsOwnBand) {
  const json ea = {{"peak_mem_bytes", 100e6},          {"peak_alloc_bytes", 100e6}, {"peak_reserved_bytes", 200e6},
                   {"mem_growth_bytes_per_step", 0.0}, {"mem_growth_bytes", 0.0},   {"cuda_peak_workspace_bytes", 1e6}};
  json eb = ea;
  eb["peak_alloc_bytes"] = 120e6;           // +20 %: grew
  eb["peak_reserved_bytes"] = 210e6;        // +5 %: the same
  eb["mem_growth_bytes_per_step"] = 512.0;  // under the 1 KiB/step floor: the same
  eb["cuda_peak_workspace_bytes"] = 0.5e6;  // an unknown peak field: shrank
  json leak_a = {{"mem_growth_bytes_per_step", 2048.0}}, leak_b = {{"mem_growth_bytes_per_step", 8192.0}};
  const json a = matrix(host_context(), json::array({cell("m/x/cpu", "healthy", ea), cell("leak/x/cpu", "leak", leak_a),
                                                     cell("new/x/cpu", "healthy", {{"peak_mem_bytes", 1e6}})}));
  const json b =
      matrix(host_context(),
             json::array({cell("m/x/cpu", "healthy", eb), cell("leak/x/cpu", "leak", leak_b),
                          cell("new/x/cpu", "healthy", {{"peak_mem_bytes", 1e6}, {"peak_reserved_bytes", 4e6}})}));
  const json d = tw::diff_matrices(a, b, {});
  std::map<std::string, std::string> verdict;
  for (const auto& f : (*per_cell(d, "m/x/cpu"))["memory"]["fields"])
    verdict[f["key"].get<std::string>()] = f["verdict"].get<std::string>();
  EXPECT_EQ(verdict["peak_mem_bytes"], "same");
  EXPECT_EQ(verdict["peak_alloc_bytes"], "grew");
  EXPECT_EQ(verdict["peak_reserved_bytes"], "same");
  EXPECT_EQ(verdict["mem_growth_bytes_per_step"], "same");
  EXPECT_EQ(verdict["mem_growth_bytes"], "same");
  EXPECT_EQ(verdict["cuda_peak_workspace_bytes"], "shrank");
  EXPECT_EQ((*per_cell(d, "leak/x/cpu"))["memory"]["fields"][0]["verdict"], "grew");
  // A field one run does not record (a newer kernel's) is no change.
  EXPECT_EQ((*per_cell(d, "new/x/cpu"))["memory"]["fields"][1]["verdict"], "one side only");
  EXPECT_FALSE((*per_cell(d, "new/x/cpu"))["memory"]["changed"].get<bool>());
  const json& m = d["summary"]["memory"];
  EXPECT_EQ(m["changed"], 2);
  EXPECT_EQ(m["fields"]["peak_alloc_bytes"]["grew"], 1);
  EXPECT_EQ(m["fields"]["mem_growth_bytes_per_step"]["grew"], 1);
  EXPECT_EQ(m["fields"]["mem_growth_bytes_per_step"]["compared"], 2);
  EXPECT_EQ(m["fields"]["peak_reserved_bytes"]["compared"], 1);
  const std::string text = tw::render_diff_text(d, false);
  EXPECT_NE(text.find("m/x/cpu: peak allocated 95.37 MiB -> 114.4 MiB (+20%; band 10%); cuda_peak_workspace_bytes"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("leak/x/cpu: growth per step 2 KiB -> 8 KiB (+300%; band 10%)"), std::string::npos) << text;
  EXPECT_NE(text.find("memory        peak memory 0 grew, 0 shrank of 2; peak allocated 1 grew, 0 shrank of 1"),
            std::string::npos)
      << text;
  EXPECT_EQ(tw::diff_failures(d, {tw::FailOn::kMemory}),
            std::vector<std::string>{"2 memory field(s) grew beyond the band"});

  // Each field's tolerance, and the A/A noise widening a band.
  tw::DiffOptions loose;
  loose.memory_tolerance = 0.25;
  const json d2 = tw::diff_matrices(a, b, loose);
  EXPECT_EQ(d2["summary"]["memory"]["fields"]["peak_alloc_bytes"]["grew"], 0);
  EXPECT_EQ(d2["summary"]["memory"]["fields"]["mem_growth_bytes_per_step"]["grew"], 1);
  json a2 = a;
  a2["cells"][0]["evidence"]["peak_alloc_bytes"] = 125e6;  // the rerun moved by 25 % of A
  const json d3 = tw::diff_matrices(a, b, {}, a2);
  EXPECT_EQ(d3["summary"]["memory"]["fields"]["peak_alloc_bytes"]["grew"], 0) << d3.dump(1);
  EXPECT_NEAR((*per_cell(d3, "m/x/cpu"))["memory"]["fields"][1]["noise"].get<double>(), 0.25, 1e-9);
  EXPECT_NEAR((*per_cell(d3, "m/x/cpu"))["memory"]["fields"][1]["band"].get<double>(), 0.25, 1e-9);
}

TEST(DiffTiers, TheMemoryBandIsAgainstAsValueLikeTheChangeItPrints) {
  auto verdict = [](double a, double b, double tolerance) {
    tw::DiffOptions o;
    o.memory_tolerance = tolerance;
    const json d = tw::diff_matrices(
        matrix(host_context(), json::array({cell("m/x/cpu", "healthy", {{"peak_mem_bytes", a}})})),
        matrix(host_context(), json::array({cell("m/x/cpu", "healthy", {{"peak_mem_bytes", b}})})), o);
    return (*per_cell(d, "m/x/cpu"))["memory"]["fields"][0]["verdict"].get<std::string>();
  };
  // 100 -> 111 MB prints +11 %: beyond a 10 % band (11 MB is within 10 % of 111 MB, not of 100 MB).
  EXPECT_EQ(verdict(100e6, 111e6, 0.10), "grew");
  // The boundary, in numbers a double holds exactly: 12.5 % of 800 is 100.
  EXPECT_EQ(verdict(800, 900, 0.125), "same");
  EXPECT_EQ(verdict(800, 901, 0.125), "grew");
  EXPECT_EQ(verdict(800, 700, 0.125), "same");
  EXPECT_EQ(verdict(800, 699, 0.125), "shrank");
  // Nothing before: any growth beyond the floor is a change.
  EXPECT_EQ(verdict(0, 0, 0.125), "same");
  EXPECT_EQ(verdict(0, 1, 0.125), "grew");
}

TEST(DiffTiers, ASeedWithoutADurationDoesNotHideATooShortOne) {
  auto cell_with = [](double second_seed_seconds) {
    json c = seeded("s/x/cpu", {"healthy", "healthy", "healthy"});
    c["evidence"] = {{"step_seconds_median", 0.01}};
    c["seeds"]["evidence"] = {{{"step_seconds_median", 0.01}},  // no steps, no train_seconds: unknown
                              {{"step_seconds_median", 0.01}, {"train_seconds", second_seed_seconds}},
                              {{"step_seconds_median", 0.01}, {"train_seconds", 1.0}}};
    return c;
  };
  const json d = tw::diff_matrices(matrix(host_context(), json::array({cell_with(0.01)})),
                                   matrix(host_context(), json::array({cell_with(1.0)})), {});
  const json& s = (*per_cell(d, "s/x/cpu"))["speed"];
  EXPECT_EQ(s["verdict"], "too short") << s.dump();
  EXPECT_EQ(s["a_seconds"], 0.01);
  EXPECT_EQ(s["b_seconds"], 1.0);
}

}  // namespace tiers
