// What a user points trainwreck at is never lost, never hangs it, and is reported clearly
// (issue 19): results directories that are not trainwreck's, FIFOs and devices as scenario files,
// duplicate keys, and the messages of bad input.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "harness/errors.h"
#include "harness/plan.h"
#include "harness/runner.h"
#include "harness/scenario.h"
#include "harness/selftest.h"
#include "harness/store.h"
#include "test_support.h"
#include "trainwreck/build_info.h"

#ifndef HARNESS_HOST
#error "HARNESS_HOST must name the trainwreck_harness_host executable"
#endif

namespace {
namespace fs = std::filesystem;
using nlohmann::json;
using namespace tw_test;

const std::string kOneCell = "selftest --quiet --jobs 1 --filter 'selftest_ok/*'";

// --- item 1: nothing trainwreck did not write is deleted or overwritten ---------------------------

TEST(ResultsDirectory, ANonEmptyDirectoryThatIsNotTrainwrecksIsRefusedAndLeftAsItWas) {
  TempDir tmp;
  const std::string dir = tmp / "mine";
  fs::create_directories(dir + "/cells");
  write(dir + "/cells/thesis.tex", "chapter 1");
  write(dir + "/matrix.md", "my own notes");
  const ShellResult r = run_host(kOneCell + " --out '" + dir + "'");
  EXPECT_EQ(r.code, tw::kExitBadInput) << r.err;
  EXPECT_NE(r.err.find(dir), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("--out"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("not a trainwreck results directory"), std::string::npos) << r.err;
  EXPECT_EQ(slurp(dir + "/cells/thesis.tex"), "chapter 1");
  EXPECT_EQ(slurp(dir + "/matrix.md"), "my own notes");
  EXPECT_FALSE(fs::exists(dir + "/run.json"));
  EXPECT_FALSE(fs::exists(dir + "/run.lock"));
  EXPECT_FALSE(fs::exists(dir + "/" + tw::kResultsMarker));
}

TEST(ResultsDirectory, AnEmptyOrNewDirectoryIsClaimedAndARerunReplacesOnlyItsOwnFiles) {
  TempDir tmp;
  const std::string dir = tmp / "empty";
  fs::create_directories(dir);
  ShellResult r =
      run_host("selftest --quiet --jobs 1 --filter 'selftest_ok/*' --filter 'selftest_diverge/*' --out '" + dir + "'");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(fs::exists(dir + "/" + tw::kResultsMarker));
  EXPECT_TRUE(fs::exists(dir + "/cells/selftest_diverge.none.cpu.result.json"));
  // A file of the user's inside trainwreck's own directory, and one in cells/.
  write(dir + "/README.txt", "what this run was for");
  write(dir + "/cells/keep.txt", "keep me");
  r = run_host(kOneCell + " --out '" + dir + "'");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(slurp(dir + "/README.txt"), "what this run was for");
  EXPECT_EQ(slurp(dir + "/cells/keep.txt"), "keep me");
  // The earlier run's cell files are replaced: only this run's cell is left.
  EXPECT_FALSE(fs::exists(dir + "/cells/selftest_diverge.none.cpu.result.json"));
  EXPECT_TRUE(fs::exists(dir + "/cells/selftest_ok.none.cpu.result.json"));
  EXPECT_EQ(read_json(dir + "/matrix.json")["cells"].size(), 1u);

  const std::string fresh = tmp / "new/deeper";
  ASSERT_EQ(run_host(kOneCell + " --out '" + fresh + "'").code, 0);
  EXPECT_TRUE(fs::exists(fresh + "/" + tw::kResultsMarker));
}

TEST(ResultsDirectory, ARunFromBeforeTheMarkerIsStillTrainwrecks) {
  TempDir tmp;
  const std::string dir = tmp / "old";
  ASSERT_EQ(run_host(kOneCell + " --out '" + dir + "'").code, 0);
  fs::remove(dir + "/" + tw::kResultsMarker);
  const ShellResult r = run_host(kOneCell + " --out '" + dir + "'");
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(fs::exists(dir + "/" + tw::kResultsMarker));
}

TEST(ResultsDirectory, MergeIntoADirectoryThatIsNotTrainwrecksIsRefused) {
  TempDir tmp;
  const std::string run = tmp / "run";
  ASSERT_EQ(run_host(kOneCell + " --out '" + run + "'").code, 0);
  const std::string dir = tmp / "mine";
  fs::create_directories(dir);
  write(dir + "/matrix.md", "my own notes");
  const ShellResult r = run_host("merge '" + run + "' --out '" + dir + "'");
  EXPECT_EQ(r.code, tw::kExitBadInput) << r.err;
  EXPECT_NE(r.err.find("not a trainwreck results directory"), std::string::npos) << r.err;
  EXPECT_EQ(slurp(dir + "/matrix.md"), "my own notes");
  EXPECT_FALSE(fs::exists(dir + "/matrix.json"));
}

// --- item 5: --out naming a file is the argument's fault (2), not a write failure (4) --------------

TEST(ResultsDirectory, OutNamingARegularFileIsBadInputAndTheFileIsKept) {
  TempDir tmp;
  const std::string file = tmp.write("a_regular_file", "x");
  for (const std::string& out : {file, file + "/results"}) {
    const ShellResult r = run_host(kOneCell + " --out '" + out + "'");
    EXPECT_EQ(r.code, tw::kExitBadInput) << out << "\n" << r.err;
    EXPECT_NE(r.err.find("--out"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("not a directory"), std::string::npos) << r.err;
  }
  EXPECT_EQ(slurp(file), "x");
}

// --- item 2: only regular files are read as scenarios, and never more than the limit ---------------

// `timeout` turns a hang into a failure (exit 124) and the address-space limit keeps an unbounded
// read from taking the machine's memory before the limit is reached.
// Under AddressSanitizer the address-space limit would stop ASan's shadow mapping itself, so the
// sanitizer pass keeps only the timeout (its own allocator reports an unbounded read as an error).
ShellResult run_bounded(const std::string& args) {
#ifdef TRAINWRECK_SANITIZED
  return run_host(args, "timeout 20 ");
#else
  return run_host(args, "ulimit -v 4000000; timeout 20 ");
#endif
}

TEST(ScenarioFiles, AFifoIsRefusedWithoutWaitingForAWriter) {
  TempDir tmp;
  const std::string fifo = tmp / "scenario.json";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  const auto t0 = std::chrono::steady_clock::now();
  const ShellResult r = run_bounded("run --device cpu --scenarios '" + fifo + "' --out '" + tmp / "out" + "'");
  EXPECT_EQ(r.code, tw::kExitBadInput) << r.err;
  EXPECT_NE(r.err.find(fifo), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("not a regular file"), std::string::npos) << r.err;
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 10);
  EXPECT_FALSE(fs::exists(tmp / "out"));
}

TEST(ScenarioFiles, AnEndlessDeviceIsRefusedUnread) {
  const ShellResult r = run_bounded("run --device cpu --scenarios /dev/zero --out /nonexistent/never");
  EXPECT_EQ(r.code, tw::kExitBadInput) << r.err;
  EXPECT_NE(r.err.find("/dev/zero"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("not a regular file"), std::string::npos) << r.err;
}

TEST(ScenarioFiles, ALargeFileIsRefusedAtTheLimit) {
  TempDir tmp;
  const std::string big = tmp.write("big.json", std::string(tw::kMaxScenarioBytes + 1, ' '));
  const ShellResult r = run_bounded("run --device cpu --scenarios '" + big + "' --out '" + tmp / "out" + "'");
  EXPECT_EQ(r.code, tw::kExitBadInput) << r.err;
  EXPECT_NE(r.err.find("too large"), std::string::npos) << r.err;
  EXPECT_THROW(tw::read_input_file("/dev/zero", 1024), tw::InputError);
}

// --- item 4: a key given twice is an error naming the key ------------------------------------------

tw::ParamSpec integer_param(const std::string& name, double max) {
  tw::ParamSpec p;
  p.name = name;
  p.type = tw::ParamSpec::Type::kInteger;
  p.min = 1;
  p.max = max;
  return p;
}

tw::Catalog small_catalog() {
  tw::Catalog c = tw::selftest_catalog();
  c.recipe = {integer_param("steps", 1 << 30), integer_param("batch_size", 1 << 20)};
  return c;
}

// The InputError a scenario text raises, as "field: message" ("" when it loads).
std::string problem(const std::string& text) {
  try {
    tw::parse_scenario(text, "s.json", small_catalog());
  } catch (const tw::InputError& e) {
    return e.field() + ": " + e.what();
  }
  return "";
}

const char* const kValid = R"({"name": "ok", "fault": "selftest_ok", "devices": ["cpu"],
    "mitigations": [{"name": "none", "expect": {"cpu": "healthy"}}]})";

TEST(DuplicateKeys, AreRefusedNamingTheKeyAndItsPath) {
  ASSERT_EQ(problem(kValid), "");
  struct Case {
    std::string text, field;
  };
  const std::vector<Case> cases = {
      {R"({"name": "a", "name": "b", "fault": "selftest_ok", "mitigations": [{"name": "none"}]})", "name"},
      {R"({"name": "a", "fault": "selftest_ok", "recipe": {"steps": 10, "steps": 20},
          "mitigations": [{"name": "none"}]})",
       "recipe.steps"},
      {R"({"name": "a", "fault": "selftest_ok", "limits": {"memory_mb": 64, "wall_seconds": 5, "memory_mb": 128},
          "mitigations": [{"name": "none"}]})",
       "limits.memory_mb"},
      {R"({"name": "a", "fault": "selftest_ok", "mitigations": [{"name": "none"},
          {"name": "none", "label": "x", "expect": {"cpu": "healthy", "cpu": "hang"}}]})",
       "mitigations[1].expect.cpu"},
  };
  for (const auto& c : cases) {
    const std::string p = problem(c.text);
    EXPECT_EQ(p.substr(0, p.find(':')), c.field) << c.text << "\n" << p;
    EXPECT_NE(p.find("given twice"), std::string::npos) << p;
  }
  // The same key in two different objects is fine.
  EXPECT_EQ(problem(R"({"name": "a", "fault": "selftest_ok", "devices": ["cpu"], "mitigations": [
      {"name": "none", "label": "x"}, {"name": "none", "label": "y"}]})"),
            "");
}

// --- item 5: every message points at what the user wrote --------------------------------------------

TEST(Messages, NumbersInBoundsArePrintedExactly) {
  const std::string p = problem(R"({"name": "a", "fault": "selftest_ok", "recipe": {"steps": 1073741825},
      "mitigations": [{"name": "none"}]})");
  EXPECT_NE(p.find("must be <= 1073741824 (got 1073741825)"), std::string::npos) << p;
  tw::ParamSpec lr;
  lr.name = "lr";
  lr.max = 0.1;
  try {
    tw::validate_params(json{{"lr", 0.10000000000000002}}, {lr}, "s.json", "recipe");
    ADD_FAILURE() << "accepted";
  } catch (const tw::InputError& e) {
    EXPECT_NE(std::string(e.what()).find("must be <= 0.1 (got 0.10000000000000002)"), std::string::npos) << e.what();
  }
}

TEST(Messages, ATopLevelFieldThatBelongsBelowNamesWhereItBelongs) {
  std::string p = problem(R"({"name": "a", "fault": "selftest_ok", "steps": 10, "mitigations": [{"name": "none"}]})");
  EXPECT_EQ(p.substr(0, p.find(':')), "steps") << p;
  EXPECT_NE(p.find("recipe.steps"), std::string::npos) << p;
  p = problem(R"({"name": "a", "fault": "selftest_ok", "memory_mb": 10, "mitigations": [{"name": "none"}]})");
  EXPECT_NE(p.find("limits.memory_mb"), std::string::npos) << p;
  p = problem(R"({"name": "a", "fault": "selftest_ok", "colour": 1, "mitigations": [{"name": "none"}]})");
  EXPECT_NE(p.find("unknown field"), std::string::npos) << p;
}

TEST(Messages, AShortWallLimitAloneIsAcceptedAndTheHeartbeatFollowsIt) {
  const tw::Scenario s = tw::parse_scenario(R"({"name": "a", "fault": "selftest_ok", "limits": {"wall_seconds": 20},
      "mitigations": [{"name": "none"}]})",
                                            "s.json", small_catalog());
  EXPECT_EQ(s.limits.wall_seconds, 20);
  EXPECT_EQ(s.limits.heartbeat_seconds, 20);
  // Written by the user, a heartbeat over the wall limit is still theirs to fix.
  const std::string p = problem(R"({"name": "a", "fault": "selftest_ok", "limits": {"heartbeat_seconds": 200},
      "mitigations": [{"name": "none"}]})");
  EXPECT_EQ(p.substr(0, p.find(':')), "limits.heartbeat_seconds") << p;
}

TEST(Messages, AScenarioDirectoryWithoutScenariosIsNamedNotTheDeviceFlag) {
  TempDir tmp;
  fs::create_directories(tmp / "empty");
  tmp.write("empty/notes.txt", "no scenarios here");
  const ShellResult r = run_host("run --device cpu --scenarios '" + tmp / "empty" + "' --out '" + tmp / "out" + "'");
  EXPECT_EQ(r.code, tw::kExitBadInput) << r.err;
  EXPECT_NE(r.err.find(tmp / "empty"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("no scenario files"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("--device"), std::string::npos) << r.err;
}

TEST(Messages, AShardCountOverTheLimitSaysTheLimit) {
  const ShellResult r = run_host(kOneCell + " --shard 1/1000000 --out /nonexistent/never");
  EXPECT_EQ(r.code, tw::kExitBadInput) << r.err;
  EXPECT_NE(r.err.find("N <= 100000"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("1000000 parts"), std::string::npos) << r.err;
}

// --- item 6: a cell's memory budget is what the machine can give, and is recorded -------------------

std::vector<tw::CellSpec> selftest_cells(const std::string& scenario) {
  tw::PlanOptions o;
  o.devices = {"cpu"};
  o.filters = {scenario + "/*"};
  return tw::plan_cells(tw::selftest_scenarios(), tw::selftest_catalog(), o);
}

TEST(MemoryBudget, ACpuCellsBudgetIsCappedAtWhatTheMachineHasAndRecorded) {
  auto plan = selftest_cells("selftest_oom");
  ASSERT_EQ(plan.size(), 1u);
  plan[0].limits.memory_mb = 1LL << 24;  // 16 TiB
  tw::RunnerOptions ro;
  ro.exe = HARNESS_HOST;
  ro.machine_memory_mb = 64;
  const auto records = tw::Runner(ro).run(plan, {});
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].outcome, tw::Outcome::kOom) << records[0].evidence.dump();
  EXPECT_EQ(records[0].evidence.value("memory_budget_mb", 0LL), 64) << records[0].evidence.dump();
  EXPECT_EQ(records[0].evidence.value("memory_budget_requested_mb", 0LL), 1LL << 24);
  // The cell itself was given the capped budget, not the one asked for.
  EXPECT_NE(records[0].evidence.dump().find("budget 64 MiB"), std::string::npos) << records[0].evidence.dump();
}

TEST(MemoryBudget, ABudgetOverTheMachinesMemoryRunsWithTheMachinesMemory) {
  const long long machine = tw::machine_memory_mb();
  ASSERT_GT(machine, 0);
  ASSERT_LE(machine, (static_cast<long long>(sysconf(_SC_PHYS_PAGES)) * sysconf(_SC_PAGE_SIZE)) >> 20);
  TempDir tmp;
  fs::create_directories(tmp / "s");
  tmp.write("s/huge.json", R"({"name": "huge", "fault": "selftest_ok", "devices": ["cpu"],
      "limits": {"memory_mb": 16777216}, "mitigations": [{"name": "none", "expect": {"cpu": "healthy"}}]})");
  const ShellResult r =
      run_host("run --quiet --device cpu --scenarios '" + tmp / "s" + "' --out '" + tmp / "out" + "'");
  ASSERT_EQ(r.code, 0) << r.err;
  const json cell = read_json(tmp / "out/matrix.json")["cells"][0];
  EXPECT_EQ(cell["evidence"].value("memory_budget_mb", 0LL), machine) << cell.dump();
  EXPECT_EQ(cell["evidence"].value("memory_budget_requested_mb", 0LL), 16777216) << cell.dump();
}

// --- item 7: context.json's revision is the one the binary was built from ----------------------------

TEST(Context, GitRevisionIsTheBuildsNotWhatGitSaysAtRunTime) {
  TempDir tmp;
  // A git that answers for whatever folder it is asked about: the harness must not ask it.
  fs::create_directories(tmp / "bin");
  const std::string fake = tmp.write("bin/git", "#!/bin/sh\necho 0000deadbeef\n");
  fs::permissions(fake, fs::perms::owner_all);
  const ShellResult r = run_host(kOneCell + " --out '" + tmp / "out" + "'", "PATH='" + tmp / "bin" + "':\"$PATH\" ");
  ASSERT_EQ(r.code, 0) << r.err;
  const json host = read_json(tmp / "out/context.json")["host"];
  const std::string built = TRAINWRECK_GIT_REVISION;
  EXPECT_EQ(host.value("git_revision", ""), TRAINWRECK_GIT_DIRTY ? built + "-dirty" : built) << host.dump();
  EXPECT_EQ(host.value("git_dirty", true), TRAINWRECK_GIT_DIRTY != 0) << host.dump();
  EXPECT_EQ(host.dump().find("0000deadbeef"), std::string::npos) << host.dump();
}

}  // namespace
