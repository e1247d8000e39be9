// The reliability of a run, end to end: repeats and seeds, a harness killed or interrupted mid-run and
// resumed, a results directory that stops being writable, and --jobs not changing the matrix.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <map>
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

// ---- reliability ------------------------------------------------------------------------------

TEST(CliRepeat, DeterministicCellsAreIdenticalAcrossRepeats) {
  TempDir tmp;
  const std::string out = tmp / "run";
  const HostResult r = run_host("selftest --jobs 2 --repeat 3 " + kQuickCells + " --out '" + out + "'");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("repeats: 3 runs of every cell; 0 cell(s) with differing outcomes (flaky), 0 with differing"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.err.find("[12/12]"), std::string::npos) << r.err;  // progress counts every repeat
  const json m = read_json(out + "/matrix.json");
  ASSERT_EQ(m["cells"].size(), 4u);
  for (const auto& c : m["cells"]) {
    const json& rep = c["repeat"];
    EXPECT_EQ(rep["runs"], 3) << c["id"];
    EXPECT_EQ(rep["identical_outcome"], true) << c["id"];
    EXPECT_EQ(rep["identical_evidence"], true) << c["id"] << rep.dump();
    if (c["id"] == "selftest_exception/none/cpu") EXPECT_TRUE(rep["identical_loss"].is_null());  // no steps
    else EXPECT_EQ(rep["identical_loss"], true) << c["id"];
    EXPECT_EQ(c["verdict"], "pass");
  }
  for (const char* round : {"repeat-2", "repeat-3"})
    EXPECT_TRUE(fs::exists(out + "/cells/" + round + "/selftest_diverge.none.cpu.result.json")) << round;
  EXPECT_EQ(read_json(out + "/run.json")["repeat"], 3);

  // A repeat whose outcome differed: the cell is flaky, which fails the run. (The results of the
  // third repeat are edited and the run finished again from them: no cell re-runs.)
  const std::string third = out + "/cells/repeat-3/selftest_ok.none.cpu.result.json";
  json edited = read_json(third);
  edited["outcome"] = "hang";
  write(third, edited.dump());
  const HostResult again = run_host("run --resume '" + out + "'");
  EXPECT_EQ(again.code, tw::kExitUnexpected) << again.err;
  EXPECT_NE(again.err.find("(0 to run)"), std::string::npos) << again.err;
  const json m2 = read_json(out + "/matrix.json");
  for (const auto& c : m2["cells"]) {
    if (c["id"] != "selftest_ok/none/cpu") continue;
    EXPECT_EQ(c["verdict"], "flaky");
    EXPECT_EQ(c["repeat"]["outcomes"], json::array({"healthy", "healthy", "hang"}));
  }
  EXPECT_EQ(m2["summary"]["flaky"], 1);
  EXPECT_NE(slurp(out + "/junit.xml").find("<failure type=\"flaky\""), std::string::npos);
  EXPECT_EQ(run_host("selftest --repeat 0 --out '" + tmp / "x" + "'").code, tw::kExitBadInput);
}

TEST(CliSeeds, EverySeedRunsEveryCellAndDisagreementIsAFailure) {
  TempDir tmp;
  const std::string out = tmp / "run";
  const HostResult r = run_host("selftest --jobs 2 --seeds 2 --seed 100 " + kQuickCells + " --out '" + out + "'");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("seeds: 2 per cell (100 to 101); 0 cell(s) whose seeds disagree (seed-dependent)"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("diverged@3 (2/2 seeds)"), std::string::npos) << r.out;
  EXPECT_NE(r.err.find("4 cells x 2 seeds (8 to run)"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("[8/8]"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(", seed 101 (2/2))"), std::string::npos) << r.err;
  EXPECT_EQ(read_json(out + "/run.json")["seeds"], 2);
  EXPECT_EQ(read_json(out + "/context.json")["seeds"], json({100, 101}));
  // Each seed reached its cell: the first seed's files in cells/, the second's in cells/seed-101/.
  EXPECT_EQ(read_json(out + "/cells/selftest_ok.none.cpu.result.json")["evidence"]["seed"], 100);
  EXPECT_EQ(read_json(out + "/cells/seed-101/selftest_ok.none.cpu.result.json")["evidence"]["seed"], 101);
  const json m = read_json(out + "/matrix.json");
  EXPECT_EQ(m["context"]["seeds"], json({100, 101}));
  ASSERT_EQ(m["cells"].size(), 4u);
  for (const auto& c : m["cells"]) {
    EXPECT_EQ(c["verdict"], "pass") << c["id"];
    EXPECT_EQ(c["seeds"]["values"], json({100, 101})) << c["id"];
    EXPECT_EQ(c["seeds"]["outcomes"], json({c["outcome"], c["outcome"]})) << c["id"];
    EXPECT_EQ(c["seeds"]["counts"], json({{c["outcome"].get<std::string>(), 2}})) << c["id"];
    ASSERT_EQ(c["seed_series"].size(), 1u) << c["id"];
    if (c["id"] == "selftest_ok/none/cpu") {
      EXPECT_EQ(c["seed_series"][0]["loss"].size(), 5u);
      EXPECT_EQ(c["seeds"]["evidence"][1]["steps"], 5);
    }
  }
  const std::string before = tmp / "before.json";
  write(before, slurp(out + "/matrix.json"));

  // The second seed's result edited: the seeds disagree, which fails the run on --resume.
  const std::string second = out + "/cells/seed-101/selftest_ok.none.cpu.result.json";
  json edited = read_json(second);
  edited["outcome"] = "stalled";
  write(second, edited.dump());
  const HostResult again = run_host("run --resume '" + out + "'");
  EXPECT_EQ(again.code, tw::kExitUnexpected) << again.err;
  EXPECT_NE(again.err.find("(0 to run)"), std::string::npos) << again.err;
  EXPECT_NE(again.out.find("healthy 1/2, stalled 1/2"), std::string::npos) << again.out;
  EXPECT_NE(again.out.find("1 seed-dependent"), std::string::npos) << again.out;
  const json m2 = read_json(out + "/matrix.json");
  EXPECT_EQ(m2["summary"]["seed_dependent"], 1);
  for (const auto& c : m2["cells"])
    if (c["id"] == "selftest_ok/none/cpu") EXPECT_EQ(c["verdict"], "seed-dependent");
  EXPECT_NE(slurp(out + "/junit.xml").find("<failure type=\"seed-dependent\""), std::string::npos);
  EXPECT_NE(slurp(out + "/matrix.md").find("| **healthy 1/2, stalled 1/2** ✗ seed-dependent |"), std::string::npos);
  EXPECT_NE(run_host("report '" + out + "' --format csv").out.find(",\"healthy 1/2, stalled 1/2\""), std::string::npos);

  // The same seeds before and after: compared seed by seed.
  const HostResult d = run_host("diff '" + before + "' '" + out + "'");
  EXPECT_EQ(d.code, tw::kExitUnexpected) << d.out;
  EXPECT_NE(d.out.find("(changed on seed(s) 101)"), std::string::npos) << d.out;

  // pin: the cells whose seeds agree are pinned; the other is listed and the exit code says so.
  fs::create_directory(tmp / "scenarios");
  for (const char* name : {"selftest_ok", "selftest_diverge"})
    write(tmp / ("scenarios/" + std::string(name) + ".json"),
          std::string(R"({"name": ")") + name + R"(", "fault": ")" + name +
              R"(", "devices": ["cpu"], "mitigations": [{"name": "none"}]})");
  const HostResult pin = run_host("pin '" + out + "' --scenarios '" + tmp / "scenarios" + "'");
  EXPECT_EQ(pin.code, tw::kExitUnexpected) << pin.err;
  EXPECT_NE(pin.err.find("1 cell(s) not pinned: their seeds disagree (seed-dependent)\n  selftest_ok/none/cpu\n"),
            std::string::npos)
      << pin.err;
  EXPECT_NE(pin.out.find("selftest_diverge/none/cpu: (unpinned) -> diverged"), std::string::npos) << pin.out;
  EXPECT_FALSE(read_json(tmp / "scenarios/selftest_ok.json")["mitigations"][0].contains("expect"));
  EXPECT_EQ(read_json(tmp / "scenarios/selftest_diverge.json")["mitigations"][0]["expect"]["cpu"], "diverged");

  for (const std::string& bad :
       {"selftest --seeds 2 --repeat 2 --out '" + tmp / "x" + "'", "selftest --seeds 0 --out '" + tmp / "x" + "'",
        "selftest --seeds 101 --out '" + tmp / "x" + "'", "run --resume '" + out + "' --seeds 3"}) {
    const HostResult b = run_host(bad);
    EXPECT_EQ(b.code, tw::kExitBadInput) << bad << "\n" << b.err;
    EXPECT_NE(b.err.find("--seeds"), std::string::npos) << b.err;
  }
  EXPECT_FALSE(fs::exists(tmp / "x"));
}

TEST(CliResume, HarnessKilledMidRunThenResumedEqualsAnUninterruptedRun) {
  TempDir tmp;
  const std::vector<std::string> cells = {"--filter", "selftest_ok/*",        "--filter", "selftest_segfault/*",
                                          "--filter", "selftest_exception/*", "--filter", "selftest_hang/*",
                                          "--filter", "selftest_diverge/*",   "--filter", "selftest_leak/*"};
  auto args = [&](const std::string& out, const std::string& jobs) {
    std::vector<std::string> a = {"selftest", "--jobs", jobs, "--out", out};
    a.insert(a.end(), cells.begin(), cells.end());
    return a;
  };
  const std::string dir = tmp / "killed";
  const pid_t reference = spawn_host(args(tmp / "reference", "2"), tmp / "ref.out", tmp / "ref.err");
  // One cell at a time: the three quick cells finish, then the hanging one runs for seconds.
  const pid_t victim = spawn_host(args(dir, "1"), tmp / "victim.out", tmp / "victim.err");
  // Killed while the hanging cell runs.
  std::vector<pid_t> cells_running;
  ASSERT_TRUE(wait_until(
      [&] {
        cells_running = children_of(victim);
        return files_ending(dir + "/cells", ".result.json").size() >= 3 && !cells_running.empty();
      },
      20))
      << slurp(tmp / "victim.err");
  // A second run cannot take over the directory while the first holds it.
  const HostResult intruder = run_host("run --resume '" + dir + "'");
  EXPECT_EQ(intruder.code, tw::kExitBadInput);
  EXPECT_NE(intruder.err.find("another trainwreck run"), std::string::npos) << intruder.err;

  ASSERT_EQ(kill(victim, SIGKILL), 0);
  EXPECT_EQ(wait_exit(victim), 128 + SIGKILL);
  // The cells it was running end with it instead of running on unwatched.
  for (const pid_t pid : cells_running) {
    const bool gone = wait_until([&] { return is_gone(pid); }, 5);
    EXPECT_TRUE(gone) << "cell " << pid << " survived its harness";
    if (!gone) kill(pid, SIGKILL);  // still that cell: not left behind by a failing test
  }
  EXPECT_FALSE(fs::exists(dir + "/matrix.json"));

  std::map<std::string, std::string> before;
  for (const auto& f : files_ending(dir + "/cells", ".result.json")) before[f] = slurp(f);
  const std::size_t done_before = before.size();
  const HostResult resumed = run_host("run --resume '" + dir + "' --jobs 2");
  EXPECT_EQ(resumed.code, 0) << resumed.err;
  EXPECT_NE(resumed.err.find("(" + std::to_string(6 - done_before) + " to run)"), std::string::npos) << resumed.err;
  for (const auto& [f, content] : before) EXPECT_EQ(slurp(f), content) << f << " was run again";

  EXPECT_EQ(wait_exit(reference), 0) << slurp(tmp / "ref.err");
  const json ref = read_json(tmp / "reference/matrix.json");
  const json got = read_json(dir + "/matrix.json");
  EXPECT_EQ(ids_of(got), ids_of(ref));
  EXPECT_EQ(outcomes_of(got), outcomes_of(ref));
  EXPECT_EQ(got["summary"], ref["summary"]);
  expect_clean_results(dir);
}

// Ctrl-C (or a CI timeout's SIGTERM) mid-run: the running cell is killed with its harness's
// cleanup, what finished is kept, no matrix claims a complete run, and --resume finishes it.
TEST(CliInterrupt, SigintKillsTheRunningCellsKeepsTheFinishedOnesAndResumeFinishes) {
  for (const int signo : {SIGINT, SIGTERM}) {
    TempDir tmp;
    const std::string dir = tmp / "run";
    const pid_t pid = spawn_host({"selftest", "--jobs", "1", "--out", dir, "--filter", "selftest_ok/*", "--filter",
                                  "selftest_hang/*", "--filter", "selftest_diverge/*"},
                                 tmp / "out", tmp / "err");
    std::vector<pid_t> cells_running;
    ASSERT_TRUE(wait_until(
        [&] {
          cells_running = children_of(pid);
          return fs::exists(dir + "/cells/selftest_ok.none.cpu.result.json") && !cells_running.empty();
        },
        20))
        << slurp(tmp / "err");
    const auto sent = Clock::now();
    ASSERT_EQ(kill(pid, signo), 0);
    EXPECT_EQ(wait_exit(pid), 128 + signo) << slurp(tmp / "err");
    // Well before the hanging cell's own heartbeat limit would have ended it.
    EXPECT_LT(std::chrono::duration<double>(Clock::now() - sent).count(), 2.0);
    for (const pid_t cell : cells_running) EXPECT_TRUE(is_gone(cell)) << "cell " << cell << " outlived the run";
    const std::string err = slurp(tmp / "err");
    EXPECT_NE(err.find("interrupted by " + std::string(signo == SIGINT ? "SIGINT" : "SIGTERM")), std::string::npos)
        << err;
    EXPECT_NE(err.find("1 of 3 cell results are kept"), std::string::npos) << err;
    EXPECT_NE(err.find("trainwreck run --resume " + dir), std::string::npos) << err;
    EXPECT_FALSE(fs::exists(dir + "/matrix.json"));

    const HostResult resumed = run_host("run --resume '" + dir + "' --jobs 2 --quiet");
    EXPECT_EQ(resumed.code, 0) << resumed.err;
    const json matrix = read_json(dir + "/matrix.json");
    EXPECT_EQ(matrix["cells"].size(), 3u);
    EXPECT_EQ(matrix["summary"].value("unexpected", -1), 0) << matrix["summary"].dump();
    expect_clean_results(dir);
  }
}

TEST(CliUnwritable, ResultsDirectoryGoneMidRunExitsFourWithoutAMatrix) {
  TempDir tmp;
  const std::string dir = tmp / "run";
  const pid_t pid = spawn_host({"selftest", "--jobs", "1", "--out", dir, "--filter", "selftest_ok/*", "--filter",
                                "selftest_hang/*", "--filter", "selftest_diverge/*"},
                               tmp / "out", tmp / "err");
  ASSERT_TRUE(wait_until([&] { return fs::exists(dir + "/cells/selftest_ok.none.cpu.result.json"); }, 20));
  // Permissions do not stop root; a file where the cells directory was stops everyone.
  fs::rename(dir + "/cells", dir + "/cells.moved");
  write(dir + "/cells", "");
  const int code = wait_exit(pid);
  const std::string err = slurp(tmp / "err");
  EXPECT_EQ(code, tw::kExitResultsLost) << err;
  EXPECT_NE(err.find("results not written: cannot"), std::string::npos) << err;
  // Between the rename and the write the cells directory is briefly missing, so the system's reason is either.
  EXPECT_TRUE(err.find("Not a directory") != std::string::npos ||
              err.find("No such file or directory") != std::string::npos)
      << err;
  EXPECT_NE(err.find("trainwreck run --resume " + dir), std::string::npos) << err;
  EXPECT_FALSE(fs::exists(dir + "/matrix.json"));
  EXPECT_TRUE(files_ending(dir, ".tmp." + std::to_string(pid)).empty());
}

TEST(CliUnwritable, FileSizeLimitExitsFourWithoutAMatrix) {
  TempDir tmp;
  const std::string dir = tmp / "run";
  // 64 blocks of 512 bytes (POSIX sh): the small results fit, the flood cell's log does not.
  const HostResult r = run_host(
      "selftest --quiet --jobs 1 --filter 'selftest_ok/*' --filter 'selftest_flood_output/*' --out '" + dir + "'",
      "ulimit -f 64 && ");
  EXPECT_EQ(r.code, tw::kExitResultsLost) << r.err;
  EXPECT_NE(r.err.find("File too large"), std::string::npos) << r.err;
  EXPECT_TRUE(fs::exists(dir + "/cells/selftest_ok.none.cpu.result.json"));
  EXPECT_FALSE(fs::exists(dir + "/matrix.json"));
  EXPECT_TRUE(files_ending(dir, ".tmp.").empty());
}

TEST(CliJobs, TwoJobsGiveTheSameMatrixAsOne) {
  TempDir tmp;
  auto args = [&](const std::string& jobs, const std::string& out) {
    std::vector<std::string> a = {"selftest", "--quiet", "--jobs", jobs, "--out", out};
    for (const char* skip : {"selftest_hang", "selftest_syscall_hang", "selftest_busy_loop", "selftest_ignore_sigterm"})
      a.insert(a.end(), {"--filter", std::string("-") + skip + "/*"});
    return a;
  };
  const pid_t one_job = spawn_host(args("1", tmp / "one"), tmp / "one.out", tmp / "one.err");
  const pid_t two_jobs = spawn_host(args("2", tmp / "two"), tmp / "two.out", tmp / "two.err");
  ASSERT_EQ(wait_exit(one_job), 0) << slurp(tmp / "one.err");
  ASSERT_EQ(wait_exit(two_jobs), 0) << slurp(tmp / "two.err");
  const json a = read_json(tmp / "one/matrix.json"), b = read_json(tmp / "two/matrix.json");
  ASSERT_EQ(ids_of(a), ids_of(b));
  EXPECT_EQ(a["cells"].size(), selftest_ids().size() - 4);
  for (std::size_t i = 0; i < a["cells"].size(); ++i) {
    const json &x = a["cells"][i], &y = b["cells"][i];
    EXPECT_EQ(x["outcome"], y["outcome"]) << x["id"];
    EXPECT_EQ(x["verdict"], y["verdict"]) << x["id"];
    EXPECT_EQ(x["plan_index"], y["plan_index"]) << x["id"];
    if (x.contains("series") && x["id"] != "selftest_oom/none/cpu")
      EXPECT_EQ(x["series"]["loss"], y["series"]["loss"]) << x["id"];
  }
  EXPECT_EQ(a["summary"], b["summary"]);
}

}  // namespace
