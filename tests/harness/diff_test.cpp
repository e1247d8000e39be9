#include "harness/diff.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "harness/context.h"
#include "harness/errors.h"
#include "harness/merge.h"
#include "harness/progress.h"
#include "harness/repeat.h"
#include "test_support.h"

namespace {
using nlohmann::json;

json cell(const std::string& id, const std::string& outcome, json evidence = json::object()) {
  const auto a = id.find('/'), b = id.rfind('/');
  return {{"id", id},
          {"scenario", id.substr(0, a)},
          {"fault", "f"},
          {"mitigation", id.substr(a + 1, b - a - 1)},
          {"device", id.substr(b + 1)},
          {"outcome", outcome},
          {"expected", outcome},
          {"verdict", "pass"},
          {"evidence", evidence}};
}

json context(const std::string& libtorch, const std::string& compiler) {
  return {{"host", {{"compiler", compiler}, {"cpu", "Test CPU"}}},
          {"probe", {{"libtorch", libtorch}, {"nccl", "2.28.3"}}},
          {"seed", 1},
          {"started_at", "2026-01-01T00:00:00Z"}};
}

json matrix(const json& ctx, const json& cells) { return {{"context", ctx}, {"cells", cells}}; }

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

// A cell run with seeds 1, 2, 3 whose outcomes were `outcomes`; the first seed's is the main one.
json seeded(const std::string& id, const std::vector<std::string>& outcomes, json values = {1, 2, 3}) {
  json c = cell(id, outcomes.front());
  std::vector<json> results;
  std::vector<uint64_t> seeds;
  for (std::size_t i = 0; i < outcomes.size(); ++i) {
    results.push_back({{"outcome", outcomes[i]}, {"evidence", json::object()}});
    seeds.push_back(values[i].get<uint64_t>());
  }
  c["seeds"] = tw::aggregate_seeds(seeds, results);
  return c;
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

tw::ShardResult shard(int index, int count, const std::vector<std::pair<std::string, int>>& cells, int seed = 7) {
  tw::ShardResult s;
  s.path = "shard" + std::to_string(index + 1);
  json cj = json::array();
  for (const auto& [id, plan_index] : cells) {
    json c = cell(id, "healthy");
    c["plan_index"] = plan_index;
    cj.push_back(c);
  }
  s.matrix = matrix(
      {{"seed", seed}, {"devices", {"cpu"}}, {"shard", std::to_string(index + 1) + "/" + std::to_string(count)}}, cj);
  s.settings = {{"scenarios", {"scenarios"}}, {"filters", json::array()}, {"device", "cpu"}, {"timeout", 0},
                {"shard_index", index},       {"shard_count", count},     {"seed", seed},    {"selftest", false}};
  return s;
}

TEST(MergeShards, JoinsInPlanOrderAndRecordsWhereFrom) {
  const json m =
      tw::merge_shards({shard(1, 3, {{"b/none/cpu", 1}, {"d/none/cpu", 3}}),
                        shard(0, 3, {{"a/none/cpu", 0}, {"e/none/cpu", 4}}), shard(2, 3, {{"c/none/cpu", 2}})});
  std::vector<std::string> ids;
  for (const auto& c : m["cells"]) ids.push_back(c["id"]);
  EXPECT_EQ(ids, (std::vector<std::string>{"a/none/cpu", "b/none/cpu", "c/none/cpu", "d/none/cpu", "e/none/cpu"}));
  EXPECT_EQ(m["summary"]["total"], 5);
  ASSERT_EQ(m["context"]["merged_from"].size(), 3u);
  EXPECT_EQ(m["context"]["merged_from"][0]["shard"], "2/3");
  EXPECT_FALSE(m["context"].contains("shard"));
  EXPECT_FALSE(m["context"].contains("shards_missing"));
}

TEST(MergeShards, CarriesEachCellsSeedsThrough) {
  tw::ShardResult a = shard(0, 2, {{"a/none/cpu", 0}}), b = shard(1, 2, {{"b/none/cpu", 1}});
  for (auto* s : {&a, &b}) {
    s->settings["seeds"] = 3;
    json m = s->matrix.raw();
    m["context"]["seeds"] = {7, 8, 9};
    s->matrix = m;
  }
  json ma = a.matrix.raw();
  ma["cells"][0]["seeds"] = seeded("a/none/cpu", {"healthy", "stalled", "healthy"}, {7, 8, 9})["seeds"];
  ma["cells"][0]["verdict"] = "seed-dependent";
  ma["cells"][0]["seed_series"] = json::array({json::object(), json::object()});
  a.matrix = ma;
  const json m = tw::merge_shards({a, b});
  EXPECT_EQ(m["cells"][0]["seeds"]["outcomes"], json({"healthy", "stalled", "healthy"}));
  EXPECT_EQ(m["cells"][0]["seed_series"].size(), 2u);
  EXPECT_EQ(m["context"]["seeds"], json({7, 8, 9}));
  EXPECT_EQ(m["summary"]["seed_dependent"], 1);
  // Shards run with different seeds are not one run.
  b.settings["seeds"] = 2;
  EXPECT_THROW(tw::merge_shards({a, b}), tw::InputError);
}

TEST(MergeShards, RefusesWhatIsNotOneRun) {
  auto message = [](const std::vector<tw::ShardResult>& shards) {
    try {
      tw::merge_shards(shards);
    } catch (const tw::InputError& e) {
      return e.describe();
    }
    return std::string("(accepted)");
  };
  EXPECT_NE(message({shard(0, 2, {{"a/none/cpu", 0}}), shard(1, 2, {{"a/none/cpu", 0}})}).find("a cell twice"),
            std::string::npos);
  EXPECT_NE(message({shard(0, 2, {{"a/none/cpu", 0}}), shard(1, 2, {{"b/none/cpu", 1}}, 8)}).find("seed"),
            std::string::npos);
  EXPECT_NE(message({shard(0, 2, {{"a/none/cpu", 0}}), shard(1, 3, {{"b/none/cpu", 1}})}).find("shard_count"),
            std::string::npos);
  EXPECT_NE(message({shard(0, 2, {}), shard(0, 2, {})}).find("is shard 1/2, like shard1"), std::string::npos);
  EXPECT_NE(message({}).find("at least one"), std::string::npos);
  const json partial = tw::merge_shards({shard(0, 3, {{"a/none/cpu", 0}}), shard(2, 3, {{"c/none/cpu", 2}})});
  EXPECT_EQ(partial["context"]["shards_missing"], json::array({"2/3"}));
}

TEST(CompareRepeats, IdenticalRunsAndWhatMayDiffer) {
  const json r1 = {{"outcome", "healthy"},
                   {"evidence", {{"final_loss", 0.1}, {"wall_seconds", 1.0}, {"grandchild_pid", 10}}}};
  const json r2 = {{"outcome", "healthy"},
                   {"evidence", {{"final_loss", 0.1}, {"wall_seconds", 2.0}, {"grandchild_pid", 11}}}};
  const std::vector<json> loss = {1.0, 0.5, 0.1};
  const json same = tw::compare_repeats({r1, r2}, {loss, loss});
  EXPECT_EQ(same["runs"], 2);
  EXPECT_TRUE(same["identical_outcome"].get<bool>());
  EXPECT_TRUE(same["identical_evidence"].get<bool>()) << same.dump();  // timings and pids vary by nature
  EXPECT_EQ(same["identical_loss"], true);

  // One ulp apart is a different loss: CPU runs are meant to be bitwise reproducible.
  const std::vector<json> nudged = {1.0, std::nextafter(0.5, 1.0), 0.1};
  const json r3 = {{"outcome", "healthy"}, {"evidence", {{"final_loss", 0.1000001}}}};
  const json differ = tw::compare_repeats({r1, r3}, {loss, nudged});
  EXPECT_TRUE(differ["identical_outcome"].get<bool>());
  EXPECT_FALSE(differ["identical_evidence"].get<bool>());
  EXPECT_EQ(differ["differing_evidence"], json::array({"final_loss"}));
  EXPECT_EQ(differ["identical_loss"], false);

  const json flaky = tw::compare_repeats({r1, {{"outcome", "hang"}}, r2}, {});
  EXPECT_FALSE(flaky["identical_outcome"].get<bool>());
  EXPECT_EQ(flaky["outcomes"], json::array({"healthy", "hang", "healthy"}));
  EXPECT_TRUE(flaky["identical_loss"].is_null());  // no loss series given
}

TEST(Progress, PlainLinesWhenNotATerminal) {
  std::ostringstream out;
  {
    tw::Progress p(out, /*terminal=*/false, 4, 1);
    p.started("a/none/cpu");
    p.finished("a/none/cpu", "a/none/cpu: healthy (pass)", false);
    p.finished("b/none/cpu", "b/none/cpu: crash (unexpected)", true);
  }
  EXPECT_EQ(out.str(), "[2/4] a/none/cpu: healthy (pass)\n[3/4] b/none/cpu: crash (unexpected)\n");
}

TEST(Progress, StatusLineRedrawnInPlaceOnATerminal) {
  std::ostringstream out;
  tw::Progress p(out, /*terminal=*/true, 10, 2);
  p.started("a/none/cpu");
  p.started("b/none/cpu");
  EXPECT_EQ(p.estimate_seconds(5), -1);  // nothing finished yet: no pace to go by
  p.finished("a/none/cpu", "a/none/cpu: healthy (pass)", false);
  // 1 cell in 4 s, 7 left -> 28 s.
  EXPECT_EQ(p.estimate_seconds(4), 28);
  const std::string line = p.status_line(4, 0);
  EXPECT_EQ(line, "[3/10] 4s elapsed, ~28s left; running 1: b/none/cpu") << line;
  EXPECT_LE(p.status_line(65, 30).size(), 29u);  // never wraps the terminal
  EXPECT_EQ(p.status_line(125, 0).substr(0, 20), "[3/10] 2m5s elapsed,");
  p.close();
  const std::string s = out.str();
  EXPECT_NE(s.find("\r\033[K[3/10] a/none/cpu: healthy (pass)\n"), std::string::npos) << s;
  EXPECT_NE(s.find("\r\033[K[2/10]"), std::string::npos) << s;  // the status line, drawn in place
  EXPECT_EQ(s.substr(s.size() - 4), "\r\033[K");                // and erased at the end
}

}  // namespace

// ---- tiers: numerics, steps to target, speed, memory, host ---------------------------------------

namespace tiers {

json curve(std::vector<double> loss, int first_step = 1, int stride = 10) {
  json steps = json::array();
  for (std::size_t i = 0; i < loss.size(); ++i) steps.push_back(first_step + static_cast<int>(i) * stride);
  return {{"step", steps}, {"loss", loss}};
}

// A healthy cell with a loss curve and the given evidence (seconds, memory, steps to target).
json trained(const std::string& id, const json& series, json evidence = json::object()) {
  json c = cell(id, "healthy", std::move(evidence));
  c["series"] = series;
  return c;
}

json host_context(const std::string& cpu = "Intel(R) Xeon(R) Processor",
                  json flags = {"sse4_2", "avx", "avx2", "fma", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile"}) {
  return {{"host",
           {{"compiler", "g++ 12"},
            {"cpu", cpu},
            {"cpu_vendor", "GenuineIntel"},
            {"cpu_family", 6},
            {"cpu_model", 143},
            {"cpu_stepping", 8},
            {"cpu_flags", flags},
            {"cpu_flags_hash", "0123456789ab"},
            {"cpu_cores", 2},
            {"os", "Linux 6.1"}}},
          {"probe", {{"libtorch", "2.11.0"}}},
          {"seed", 1}};
}

const json* per_cell(const json& d, const std::string& id) {
  for (const auto& c : d["per_cell"])
    if (c["id"] == id) return &c;
  return nullptr;
}

const std::vector<double> kLoss = {1.0, 0.8, 0.6, 0.45, 0.3, 0.2, 0.15, 0.1};

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

// A cell that trained `steps` steps at `step_ms` per step.
json timed(const std::string& id, double step_ms, int steps = 100, const char* how = "step_seconds_median") {
  json ev = {{"steps", steps}, {"train_seconds", step_ms * steps / 1000}};
  if (std::string(how) == "step_seconds_median") ev["step_seconds_median"] = step_ms / 1000;
  return cell(id, "healthy", ev);
}

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
  const json d = tw::diff_matrices(matrix(host_context(), a), matrix(host_context(), b), o,
                                   matrix(host_context(), a2));
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

TEST(DiffTiers, AnOutcomeChangeAlwaysFailsTheOtherTiersWhenAskedFor) {
  const json a = matrix(host_context(), json::array({cell("lr/none/cpu", "diverged"), timed("t/x/cpu", 10)}));
  const json b = matrix(host_context(), json::array({cell("lr/none/cpu", "healthy"), timed("t/x/cpu", 10)}));
  const json d = tw::diff_matrices(a, b, {});
  EXPECT_TRUE(tw::outcomes_changed(d));
  EXPECT_TRUE((*per_cell(d, "lr/none/cpu"))["outcome"]["changed"].get<bool>());
  EXPECT_EQ(tw::diff_failures(d, {}), std::vector<std::string>{"1 outcome(s) changed"});
  // Whatever other tiers are asked for, alone or all together, the outcome change fails the diff;
  // the other tiers (nothing changed there) add no reason.
  for (const auto& tier : tw::fail_on_choices())
    EXPECT_EQ(tw::diff_failures(d, {tier}), std::vector<std::string>{"1 outcome(s) changed"}) << tw::to_string(tier);
  EXPECT_EQ(tw::diff_failures(d, tw::fail_on_choices()), std::vector<std::string>{"1 outcome(s) changed"});
  // And with another tier failing too, both reasons, the outcome first.
  const json slower = matrix(host_context(), json::array({cell("lr/none/cpu", "healthy"), timed("t/x/cpu", 20)}));
  EXPECT_EQ(tw::diff_failures(tw::diff_matrices(a, slower, {}), {tw::FailOn::kSpeed}),
            (std::vector<std::string>{"1 outcome(s) changed", "1 cell(s) slower beyond the band"}));
  const json same = tw::diff_matrices(a, a, {});
  for (const auto& tier : tw::fail_on_choices())
    EXPECT_TRUE(tw::diff_failures(same, {tier}).empty()) << tw::to_string(tier);
  EXPECT_NE(tw::render_diff_text(d, false).find("outcomes      1 changed"), std::string::npos);
}

TEST(DiffTiers, ADifferentHostIsALoudWarningAtTheTop) {
  const json a = matrix(host_context(), json::array({trained("s/none/cpu", curve(kLoss))}));
  json hb = host_context("AMD EPYC 9654 96-Core Processor", {"sse4_2", "avx", "avx2", "fma", "avx512f", "avx512_bf16"});
  hb["host"]["os"] = "Linux 6.8";
  hb["host"]["cpu_flags_hash"] = "ba9876543210";
  hb["probe"]["libtorch"] = "2.15.0";
  const json b = matrix(hb, json::array({trained("s/none/cpu", curve(kLoss))}));
  const json d = tw::diff_matrices(a, b, {});
  const json& h = d["host_changed"];
  EXPECT_TRUE(h["changed"].get<bool>()) << h.dump(1);
  EXPECT_TRUE(d["summary"]["host_changed"].get<bool>());
  std::set<std::string> keys;
  for (const auto& f : h["fields"]) keys.insert(f["key"].get<std::string>());
  EXPECT_EQ(keys, (std::set<std::string>{"host.cpu", "host.cpu_flags", "host.cpu_flags_hash", "host.os"}));
  for (const auto& f : h["fields"])
    if (f["key"] == "host.cpu_flags") {
      EXPECT_EQ(f["removed"], json({"amx_bf16", "amx_tile"}));
      EXPECT_TRUE(f["added"].empty());
    }
  const std::string text = tw::render_diff_text(d, false);
  EXPECT_EQ(text.find("WARNING: different host: A and B did not run on the same machine."), 0u) << text;
  EXPECT_NE(text.find("  CPU: Intel(R) Xeon(R) Processor -> AMD EPYC 9654 96-Core Processor\n"), std::string::npos);
  EXPECT_NE(text.find("  CPU flags: without amx_bf16 amx_tile (B lacks them)\n"), std::string::npos) << text;
  EXPECT_NE(text.find("  OS: Linux 6.1 -> Linux 6.8\n"), std::string::npos) << text;
  EXPECT_LT(text.find("WARNING"), text.find("Diff A -> B"));
  const std::string md = tw::render_diff_markdown(d);
  EXPECT_NE(md.find("> **WARNING: different host"), std::string::npos) << md;
  EXPECT_LT(md.find("WARNING"), md.find("### Context"));
  EXPECT_TRUE(tw::diff_failures(d, {}).empty()) << "a new host alone changes no outcome";
  EXPECT_EQ(tw::diff_failures(d, {tw::FailOn::kHost}), std::vector<std::string>{"a different host"});

  // The LibTorch version alone is the upgrade under test, not a different host.
  json hc = host_context();
  hc["probe"]["libtorch"] = "2.15.0";
  hc["probe"]["build_config"] = "USE_MKLDNN=ON";  // probe fields show in the context, generically
  const json d2 = tw::diff_matrices(a, matrix(hc, json::array({trained("s/none/cpu", curve(kLoss))})), {});
  EXPECT_FALSE(d2["host_changed"]["changed"].get<bool>());
  EXPECT_EQ(d2["context"].size(), 2u) << d2["context"].dump(1);
  EXPECT_EQ(tw::render_diff_text(d2, false).find("WARNING"), std::string::npos);

  // A baseline that did not record the CPU's flags: said, not warned.
  json old = host_context();
  old["host"].erase("cpu_flags");
  old["host"].erase("cpu_flags_hash");
  const json d3 = tw::diff_matrices(matrix(old, json::array()), matrix(host_context(), json::array()), {});
  EXPECT_FALSE(d3["host_changed"]["changed"].get<bool>());
  EXPECT_EQ(d3["host_changed"]["unknown"].size(), 2u);
  EXPECT_NE(tw::render_diff_text(d3, false).find("Host facts recorded by one run only (CPU flags, CPU flag hash)"),
            std::string::npos);

  // An A/A run from another host: its noise band is not A's.
  tw::DiffOptions o;
  o.noise_name = "A2";
  const json d4 = tw::diff_matrices(a, a, o, b);
  EXPECT_FALSE(d4["host_changed"]["changed"].get<bool>());
  EXPECT_NE(tw::render_diff_text(d4, false).find("WARNING: the A/A run A2 did not run on A's host"), std::string::npos);
}

TEST(CpuInfo, ModelFamilyAndTheFlagsThatMatterForNumerics) {
  const std::string x86 =
      "processor\t: 0\nvendor_id\t: GenuineIntel\ncpu family\t: 6\nmodel\t\t: 143\n"
      "model name\t: Intel(R) Xeon(R) Platinum 8480+\nstepping\t: 8\n"
      "flags\t\t: fpu sse sse2 sse4_1 sse4_2 avx avx2 fma avx512f avx512_bf16 amx_tile amx_bf16 hypervisor\n\n"
      "processor\t: 1\nvendor_id\t: GenuineIntel\nmodel name\t: other\n";
  const json c = tw::cpu_info_from(x86);
  EXPECT_EQ(c["cpu"], "Intel(R) Xeon(R) Platinum 8480+");
  EXPECT_EQ(c["cpu_vendor"], "GenuineIntel");
  EXPECT_EQ(c["cpu_family"], 6);
  EXPECT_EQ(c["cpu_model"], 143);
  EXPECT_EQ(c["cpu_stepping"], 8);
  EXPECT_EQ(c["cpu_flags"],
            json({"sse4_1", "sse4_2", "avx", "avx2", "fma", "avx512f", "avx512_bf16", "amx_tile", "amx_bf16"}));
  EXPECT_EQ(c["cpu_flags_count"], 13);
  ASSERT_TRUE(c["cpu_flags_hash"].is_string());
  EXPECT_EQ(c["cpu_flags_hash"].get<std::string>().size(), 12u);
  // A flag outside the list still changes the hash; the order of the flags does not.
  std::string fewer = x86;
  fewer.replace(fewer.find(" hypervisor"), 11, "");
  EXPECT_NE(tw::cpu_info_from(fewer)["cpu_flags_hash"], c["cpu_flags_hash"]);
  std::string reordered = x86;
  reordered.replace(reordered.find("fpu sse sse2"), 12, "sse2 sse fpu");
  EXPECT_EQ(tw::cpu_info_from(reordered)["cpu_flags_hash"], c["cpu_flags_hash"]);

  const json arm = tw::cpu_info_from(
      "processor\t: 0\nBogoMIPS\t: 2100.00\nFeatures\t: fp asimd asimdhp sve sve2 bf16 i8mm\n"
      "CPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: 0x0\nCPU part\t: 0xd4f\nCPU revision\t: 1\n");
  EXPECT_EQ(arm["cpu"], "unknown");
  EXPECT_EQ(arm["cpu_vendor"], "0x41");
  EXPECT_EQ(arm["cpu_model"], 0xd4f);
  EXPECT_EQ(arm["cpu_flags"], json({"asimd", "asimdhp", "sve", "sve2", "bf16", "i8mm"}));
  EXPECT_EQ(tw::cpu_info_from("")["cpu"], "unknown");

  // This machine's record carries what its /proc/cpuinfo says, and its online core count.
  const json host = tw::host_context();
  const json own = tw::cpu_info_from(tw_test::slurp("/proc/cpuinfo"));
  ASSERT_TRUE(own.contains("cpu")) << own.dump();
  for (const auto& [key, value] : own.items()) EXPECT_EQ(host[key], value) << key;
  ASSERT_TRUE(host["cpu_cores"].is_number_integer()) << host.dump();
  EXPECT_GE(host["cpu_cores"].get<int>(), 1);
  EXPECT_EQ(host["cpu_cores"].get<long>(), sysconf(_SC_NPROCESSORS_ONLN));
}

TEST(CliDiff, NoiseRunFailOnAndTheJsonOfEveryTier) {
  tw_test::TempDir tmp;
  // The curve cell records its peak memory: the same in A, A2 and B (+5 %, inside the 10 % band),
  // 50 % more in B2.
  auto with_memory = [](json c, double bytes) {
    c["evidence"]["peak_mem_bytes"] = bytes;
    return c;
  };
  const json a =
      matrix(host_context(), json::array({timed("t/x/cpu", 10), with_memory(trained("c/x/cpu", curve(kLoss)), 100e6)}));
  const json a2 =
      matrix(host_context(), json::array({timed("t/x/cpu", 13), with_memory(trained("c/x/cpu", curve(kLoss)), 100e6)}));
  const json b =
      matrix(host_context(), json::array({timed("t/x/cpu", 12), with_memory(trained("c/x/cpu", curve(kLoss)), 105e6)}));
  const json b2 =
      matrix(host_context(), json::array({timed("t/x/cpu", 12), with_memory(trained("c/x/cpu", curve(kLoss)), 150e6)}));
  const std::string pa = tmp.write("a.json", a.dump()), pa2 = tmp.write("a2.json", a2.dump()),
                    pb = tmp.write("b.json", b.dump()), pb2 = tmp.write("b2.json", b2.dump());
  const auto diff = [&](const std::string& flags) {
    return tw_test::run_host("diff '" + pa + "' '" + pb + "' " + flags);
  };
  EXPECT_EQ(diff("").code, 0) << "slower, but speed does not fail unless asked";
  const auto slow = diff("--fail-on speed");
  EXPECT_EQ(slow.code, tw::kExitUnexpected) << slow.out;
  EXPECT_NE(slow.err.find("trainwreck: diff fails: 1 cell(s) slower beyond the band"), std::string::npos) << slow.err;
  EXPECT_EQ(diff("--fail-on speed --noise '" + pa2 + "'").code, 0) << "+20 % is inside the 30 % A/A noise";
  EXPECT_EQ(diff("--fail-on speed --speed-threshold 0.25").code, 0);
  EXPECT_EQ(diff("--fail-on speed,memory --min-seconds 5").code, 0) << "1 s of training is too short then";
  // The memory part of the same list fails on a memory field that grew beyond its band.
  const auto grew = tw_test::run_host("diff '" + pa + "' '" + pb2 + "' --fail-on speed,memory --min-seconds 5");
  EXPECT_EQ(grew.code, tw::kExitUnexpected) << grew.out;
  EXPECT_NE(grew.err.find("1 memory field(s) grew beyond the band"), std::string::npos) << grew.err;
  EXPECT_EQ(grew.err.find("slower"), std::string::npos) << grew.err;
  EXPECT_EQ(tw_test::run_host("diff '" + pa + "' '" + pb2 + "' --fail-on speed --min-seconds 5").code, 0);
  const auto j = diff("--format json --noise '" + pa2 + "'");
  ASSERT_EQ(j.code, 0) << j.err;
  const json d = json::parse(j.out);
  EXPECT_EQ(d["noise"], pa2);
  EXPECT_EQ(d["summary"]["speed"]["within_band"], 1);
  EXPECT_EQ(d["summary"]["numerics"]["identical"], 1);
  for (const char* key : {"host_changed", "per_cell", "cells", "context", "tolerances", "only_a", "only_b"})
    EXPECT_TRUE(d.contains(key)) << key;
  const auto md = diff("--format md");
  EXPECT_NE(md.out.find("| tier | summary |"), std::string::npos) << md.out;  // counts of cells, cell-seeds, fields
  EXPECT_NE(md.out.find("| speed | 1 slower"), std::string::npos) << md.out;
  EXPECT_NE(md.out.find("| memory | peak memory 0 grew, 0 shrank of 1"), std::string::npos) << md.out;
  for (const std::string& bad : {"--fail-on sped", "--fail-on speed,", "--speed-threshold -1", "--min-seconds x",
                                 "--noise /nonexistent/run", "--growth-tolerance nan"}) {
    const auto r = diff(bad);
    EXPECT_EQ(r.code, tw::kExitBadInput) << bad << "\n" << r.err;
  }
}

}  // namespace tiers
