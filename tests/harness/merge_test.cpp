// Merging shards into one matrix, comparing repeated runs of a cell, and the progress lines a run
// prints.
#include "harness/merge.h"

#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "diff_test_util.h"
#include "harness/errors.h"
#include "harness/progress.h"
#include "harness/repeat.h"

namespace {
using nlohmann::json;
using namespace tw_test::diff_util;

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
