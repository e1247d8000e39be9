// diff --speed: `trainwreck speed`'s interleaved measurement as the diff's speed tier, and the
// flag's bad input.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "harness/diff.h"
#include "diff_test_util.h"
#include "test_support.h"

namespace {
using nlohmann::json;
using namespace tw_test::diff_util;

json two_cell_matrix(double slow_ms, double other_ms) {
  return matrix(host_context(), json::array({timed("slow/none/cpu", slow_ms), timed("other/none/cpu", other_ms)}));
}

// What `trainwreck speed --format json` writes, for one cell measured over 5 rounds.
json speed_judgement(const std::string& verdict, double change, double lo, double hi) {
  return {{"threshold", 0.05},
          {"rounds", 5},
          {"summary", {{"slower", verdict == "slower" ? 1 : 0}, {"aa_flagged", 0}}},
          {"cells",
           {{{"id", "slow/none/cpu"},
             {"verdict", verdict},
             {"change", change},
             {"interval", {lo, hi}},
             {"a_step_seconds", {0.010, 0.011, 0.010, 0.012, 0.010}},
             {"b_step_seconds", {0.013, 0.013, 0.014, 0.013, 0.012}}}}}};
}

TEST(DiffInterleaved, TheMeasurementDecidesTheCellsItTimed) {
  // The single runs say +60 % for `slow` (one noisy pair); the interleaved measurement says the
  // change is +5 % with an interval across zero: within the band. `other` keeps the single runs'.
  tw::DiffOptions o;
  o.interleaved = speed_judgement("same", 0.05, -0.02, 0.12);
  o.interleaved_name = "speed.json";
  const json d = tw::diff_matrices(two_cell_matrix(10, 10), two_cell_matrix(16, 20), o);
  const json& slow = (*per_cell(d, "slow/none/cpu"))["speed"];
  EXPECT_EQ(slow["verdict"], "within band") << slow.dump();
  EXPECT_EQ(slow["source"], "interleaved");
  EXPECT_EQ(slow["samples"], json({5, 5}));
  EXPECT_DOUBLE_EQ(slow["a_step_seconds"].get<double>(), 0.010);  // the median over rounds
  EXPECT_DOUBLE_EQ(slow["b_step_seconds"].get<double>(), 0.013);
  EXPECT_EQ(slow["interval"], json({-0.02, 0.12}));
  const json& other = (*per_cell(d, "other/none/cpu"))["speed"];
  EXPECT_EQ(other["verdict"], "slower");
  EXPECT_EQ(other["source"], "step_seconds_median");
  const json& summary = d["summary"]["speed"];
  EXPECT_EQ(summary["slower"], 1);
  EXPECT_EQ(summary["within_band"], 1);
  EXPECT_EQ(summary["interleaved"]["cells"], 1);
  EXPECT_EQ(summary["interleaved"]["rounds"], 5);
  const std::string text = tw::render_diff_text(d, false);
  EXPECT_NE(text.find("1 cell(s) judged by the interleaved measurement speed.json (5 rounds, threshold 5%"),
            std::string::npos)
      << text;
}

TEST(DiffInterleaved, ASlowerVerdictCarriesItsInterval) {
  tw::DiffOptions o;
  o.interleaved = speed_judgement("slower", 0.30, 0.21, 0.40);
  const json d = tw::diff_matrices(two_cell_matrix(10, 10), two_cell_matrix(10.2, 10), o);
  const json& slow = (*per_cell(d, "slow/none/cpu"))["speed"];
  EXPECT_EQ(slow["verdict"], "slower");  // though the single runs differ by 2 %
  EXPECT_NE(tw::render_diff_text(d, false).find("interval +21% to +40%, interleaved, 5 rounds"), std::string::npos);
}

TEST(DiffInterleaved, ACellItDidNotTimeKeepsTheSingleRuns) {
  tw::DiffOptions o;
  o.interleaved = speed_judgement("same", 0, -0.1, 0.1);
  o.interleaved["cells"][0]["verdict"] = "not timed";
  const json d = tw::diff_matrices(two_cell_matrix(10, 10), two_cell_matrix(16, 10), o);
  EXPECT_EQ((*per_cell(d, "slow/none/cpu"))["speed"]["source"], "step_seconds_median");
  EXPECT_EQ(d["summary"]["speed"]["interleaved"]["cells"], 0);
}

TEST(DiffInterleaved, ABadSpeedFileIsAnInputErrorNamingTheField) {
  const tw_test::TempDir dir;
  const std::string a = dir.write("a.json", two_cell_matrix(10, 10).dump());
  dir.write("no_cells.json", json{{"threshold", 0.05}}.dump());
  dir.write("no_id.json", json{{"threshold", 0.05}, {"cells", {{{"verdict", "same"}}}}}.dump());
  const auto run = [&](const std::string& file) {
    return tw_test::run_host("diff '" + a + "' '" + a + "' --speed '" + (dir / file) + "'");
  };
  auto r = run("no_cells.json");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("no_cells.json: field 'cells'"), std::string::npos) << r.err;
  EXPECT_TRUE(r.out.empty()) << r.out;
  r = run("no_id.json");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("field 'cells[0].id'"), std::string::npos) << r.err;
  r = run("missing.json");
  EXPECT_EQ(r.code, 2) << r.err;
}

}  // namespace
