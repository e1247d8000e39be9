// The trainwreck command line end to end, through the harness host and its self-test cells: diff,
// run --baseline, and the merge of shards.
#include <gtest/gtest.h>
#include <sys/types.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "cli_test_util.h"
#include "harness/errors.h"
#include "test_support.h"

namespace {
namespace fs = std::filesystem;
using nlohmann::json;
using namespace tw_test;
using HostResult = ShellResult;
using namespace tw_test::cli_util;

// ---- diff -----------------------------------------------------------------------------------

TEST(CliDiff, ExitCodeSaysWhetherAnOutcomeChanged) {
  TempDir tmp;
  const HostResult run = run_host("selftest --quiet --jobs 2 " + kQuickCells + " --out '" + tmp / "a" + "'");
  ASSERT_EQ(run.code, 0) << run.err;
  json b = read_json(tmp / "a/matrix.json");
  for (auto& c : b["cells"]) {
    if (c["id"] == "selftest_diverge/none/cpu") {
      c["outcome"] = "healthy";
      c["evidence"] = {{"reached_step", 2}, {"final_loss", 0.05}};
    }
    if (c["id"] == "selftest_ok/none/cpu") c["evidence"]["final_loss"] = 0.3;
  }
  b["context"]["probe"]["libtorch"] = "9.9.9";
  fs::create_directory(tmp / "b");
  write(tmp / "b/matrix.json", b.dump());

  const HostResult same = run_host("diff '" + tmp / "a" + "' '" + tmp / "a/matrix.json" + "'");
  EXPECT_EQ(same.code, 0) << same.err;
  EXPECT_NE(same.out.find("Changed cells: none"), std::string::npos) << same.out;

  const HostResult changed = run_host("diff '" + tmp / "a" + "' '" + tmp / "b" + "'");
  EXPECT_EQ(changed.code, 1) << changed.err;
  const auto context_at = changed.out.find("LibTorch");
  const auto cells_at = changed.out.find("selftest_diverge/none/cpu: outcome diverged@3 -> healthy");
  const auto summary_at = changed.out.find("1 outcome(s) changed, 1 with changed evidence only");
  EXPECT_NE(context_at, std::string::npos) << changed.out;
  EXPECT_NE(cells_at, std::string::npos) << changed.out;
  EXPECT_NE(summary_at, std::string::npos) << changed.out;
  EXPECT_LT(context_at, cells_at);
  EXPECT_LT(cells_at, summary_at);
  EXPECT_NE(changed.out.find("selftest_ok/none/cpu: final_loss 0.2 -> 0.3 (+50%)"), std::string::npos) << changed.out;

  // The loss change is within a 60 % tolerance; the outcome change is not a matter of tolerance.
  const HostResult loose = run_host("diff --loss-tolerance 0.6 --format json '" + tmp / "a" + "' '" + tmp / "b" + "'");
  EXPECT_EQ(loose.code, 1);
  const json d = json::parse(loose.out);
  EXPECT_EQ(d["summary"]["outcome_changed"], 1);
  EXPECT_EQ(d["summary"]["evidence_changed"], 0);

  const HostResult md = run_host("diff --format md '" + tmp / "a" + "' '" + tmp / "b" + "'");
  EXPECT_NE(md.out.find("### Changed cells"), std::string::npos);

  for (const std::string& bad : {"diff '" + tmp / "a" + "'", "diff '" + tmp / "a" + "' /nonexistent/run",
                                 "diff '" + tmp / "a" + "' '" + tmp.path() + "'",  // no matrix.json there
                                 "diff --loss-tolerance -1 '" + tmp / "a" + "' '" + tmp / "b" + "'",
                                 "diff --format xml '" + tmp / "a" + "' '" + tmp / "b" + "'"}) {
    const HostResult r = run_host(bad);
    EXPECT_EQ(r.code, tw::kExitBadInput) << bad << "\n" << r.err;
    EXPECT_NE(r.err.find("trainwreck: "), std::string::npos) << r.err;
  }
  write(tmp / "b/matrix.json", "{\"cells\": 3}");
  EXPECT_EQ(run_host("diff '" + tmp / "a" + "' '" + tmp / "b" + "'").code, tw::kExitBadInput);
}

TEST(CliRun, BaselineComparesInTheSameRun) {
  TempDir tmp;
  const std::string cells = "--filter 'selftest_ok/*' --filter 'selftest_diverge/*'";
  ASSERT_EQ(run_host("selftest --quiet " + cells + " --out '" + tmp / "before" + "'").code, 0);

  const HostResult same =
      run_host("selftest --quiet " + cells + " --out '" + tmp / "now" + "' --baseline '" + tmp / "before" + "'");
  EXPECT_EQ(same.code, 0) << same.err;
  EXPECT_NE(same.out.find("0 outcome(s) changed"), std::string::npos) << same.out;
  EXPECT_NE(slurp(tmp / "now/diff.md").find("No outcome or key evidence changed."), std::string::npos);

  json before = read_json(tmp / "before/matrix.json");
  before["cells"][1]["outcome"] = "healthy";
  write(tmp / "before.json", before.dump());
  const HostResult changed =
      run_host("selftest --quiet " + cells + " --out '" + tmp / "now" + "' --baseline '" + tmp / "before.json" + "'");
  EXPECT_EQ(changed.code, 1) << "every cell passed, but an outcome changed against the baseline\n" << changed.err;
  // The diff comes after the matrix.
  EXPECT_LT(changed.out.find("2 cells: 2 as expected"), changed.out.find("Diff ")) << changed.out;
  EXPECT_NE(changed.out.find("selftest_diverge/none/cpu: outcome healthy -> diverged@3"), std::string::npos)
      << changed.out;
  EXPECT_NE(slurp(tmp / "now/diff.md").find("| selftest_diverge/none/cpu | healthy | **diverged@3** ✗ |"),
            std::string::npos);
  const std::string html = slurp(tmp / "now/report.html");
  EXPECT_NE(html.find("<section id=\"diff\">"), std::string::npos);
  EXPECT_NE(html.find("&#916; was healthy"), std::string::npos);
  EXPECT_EQ(read_json(tmp / "now/matrix.json")["context"]["baseline"], tmp / "before.json");

  // A baseline that is not there: nothing runs, nothing is written.
  const HostResult missing =
      run_host("selftest --quiet " + cells + " --out '" + tmp / "never" + "' --baseline '" + tmp / "nope" + "'");
  EXPECT_EQ(missing.code, tw::kExitBadInput);
  EXPECT_NE(missing.err.find(tmp / "nope"), std::string::npos) << missing.err;
  EXPECT_FALSE(fs::exists(tmp / "never"));
}

// ---- shards and merge -------------------------------------------------------------------------

TEST(CliMerge, TheShardsTogetherAreTheWholeMatrixWithNoCellTwice) {
  TempDir tmp;
  std::vector<pid_t> pids;
  for (int k = 1; k <= 3; ++k)
    pids.push_back(spawn_host({"selftest", "--quiet", "--jobs", "4", "--shard", std::to_string(k) + "/3", "--out",
                               tmp / ("shard" + std::to_string(k))},
                              tmp / ("out" + std::to_string(k)), tmp / ("err" + std::to_string(k))));
  std::vector<json> shards;
  std::set<std::string> seen;
  std::size_t total = 0;
  for (int k = 1; k <= 3; ++k) {
    EXPECT_EQ(wait_exit(pids[k - 1]), 0) << slurp(tmp / ("err" + std::to_string(k)));
    shards.push_back(read_json(tmp / ("shard" + std::to_string(k)) + "/matrix.json"));
    EXPECT_EQ(shards.back()["context"]["shard"], std::to_string(k) + "/3");
    for (const auto& id : ids_of(shards.back())) {
      EXPECT_TRUE(seen.insert(id).second) << id << " is in two shards";
      ++total;
    }
  }
  const std::vector<std::string> whole = selftest_ids();
  EXPECT_EQ(seen, std::set<std::string>(whole.begin(), whole.end()));
  EXPECT_EQ(total, whole.size());

  const HostResult merged = run_host("merge --quiet '" + tmp / "shard2" + "' '" + tmp / "shard1" + "' '" +
                                     tmp / "shard3/matrix.json" + "' --out '" + tmp / "merged" + "'");
  ASSERT_EQ(merged.code, 0) << merged.err << merged.out;
  const json m = read_json(tmp / "merged/matrix.json");
  EXPECT_EQ(ids_of(m), whole);  // plan order, whatever the order of the shards
  EXPECT_EQ(m["summary"]["total"], whole.size());
  EXPECT_EQ(m["summary"]["pass"], whole.size());
  ASSERT_EQ(m["context"]["merged_from"].size(), 3u);
  EXPECT_EQ(m["context"]["merged_from"][0]["shard"], "2/3");
  EXPECT_FALSE(m["context"].contains("shard"));
  for (const auto& s : shards)
    for (const auto& c : s["cells"]) EXPECT_EQ(outcomes_of(m)[c["id"]], c["outcome"]) << c["id"];
  for (const char* f : {"matrix.md", "junit.xml", "report.html"}) EXPECT_TRUE(fs::exists(tmp / "merged/" + f)) << f;
  EXPECT_EQ(slurp(tmp / "merged/junit.xml").find("<testcase ") != std::string::npos, true);

  // A shard twice: refused, and nothing is written.
  const HostResult twice =
      run_host("merge '" + tmp / "shard1" + "' '" + tmp / "shard1" + "' --out '" + tmp / "twice" + "'");
  EXPECT_EQ(twice.code, tw::kExitBadInput);
  EXPECT_NE(twice.err.find("shard 1/3"), std::string::npos) << twice.err;
  EXPECT_FALSE(fs::exists(tmp / "twice/matrix.json"));
  // Same cells from two differently named copies: the cell is refused.
  fs::copy(tmp / "shard1/matrix.json", tmp / "copy.json");
  const HostResult cell_twice =
      run_host("merge '" + tmp / "shard1" + "' '" + tmp / "copy.json" + "' --out '" + tmp / "twice" + "'");
  EXPECT_EQ(cell_twice.code, tw::kExitBadInput);
  EXPECT_NE(cell_twice.err.find("a cell twice"), std::string::npos) << cell_twice.err;
  // A shard missing: written, but not a complete matrix.
  const HostResult partial =
      run_host("merge --quiet '" + tmp / "shard1" + "' '" + tmp / "shard3" + "' --out '" + tmp / "partial" + "'");
  EXPECT_EQ(partial.code, tw::kExitUnexpected);
  EXPECT_NE(partial.err.find("incomplete: shard(s) 2/3 missing"), std::string::npos) << partial.err;
  EXPECT_EQ(run_host("merge '" + tmp / "shard1" + "' --out '" + tmp / "shard1" + "'").code, tw::kExitBadInput);
  EXPECT_EQ(run_host("merge '" + tmp / "shard1" + "'").code, tw::kExitBadInput);
}

TEST(CliMerge, ShardsOfDifferentRunsAreRefused) {
  TempDir tmp;
  const std::string one = "--quiet --filter 'selftest_ok/*' --filter 'selftest_diverge/*' --shard ";
  ASSERT_EQ(run_host("selftest " + one + "1/2 --out '" + tmp / "s1" + "'").code, 0);
  ASSERT_EQ(run_host("selftest " + one + "2/2 --seed 5 --out '" + tmp / "s2" + "'").code, 0);
  const HostResult r = run_host("merge '" + tmp / "s1" + "' '" + tmp / "s2" + "' --out '" + tmp / "m" + "'");
  EXPECT_EQ(r.code, tw::kExitBadInput);
  EXPECT_NE(r.err.find("seed"), std::string::npos) << r.err;

  // One cell in two shards: one shard is empty, which is a part of the run like any other.
  const std::string single = "--quiet --filter 'selftest_ok/*' --shard ";
  const HostResult a = run_host("selftest " + single + "1/2 --out '" + tmp / "e1" + "'");
  const HostResult b = run_host("selftest " + single + "2/2 --out '" + tmp / "e2" + "'");
  EXPECT_EQ(a.code, 0) << a.err;
  EXPECT_EQ(b.code, 0) << b.err;
  const HostResult m = run_host("merge --quiet '" + tmp / "e1" + "' '" + tmp / "e2" + "' --out '" + tmp / "em" + "'");
  EXPECT_EQ(m.code, 0) << m.err;
  EXPECT_EQ(ids_of(read_json(tmp / "em/matrix.json")), std::vector<std::string>{"selftest_ok/none/cpu"});
}

}  // namespace
