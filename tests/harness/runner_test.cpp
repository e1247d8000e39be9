#include "harness/runner.h"
#include "harness/leak_rule.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "harness/classify.h"
#include "harness/errors.h"
#include "harness/plan.h"
#include "harness/selftest.h"
#include "test_support.h"

#ifndef HARNESS_HOST
#error "HARNESS_HOST must name the trainwreck_harness_host executable"
#endif

namespace {
namespace fs = std::filesystem;
using nlohmann::json;
using namespace tw_test;
using HostResult = ShellResult;

// Dead means gone, or a zombie waiting for whoever adopted it to reap it.
bool is_dead(pid_t pid) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  for (;;) {
    if (kill(pid, 0) != 0 && errno == ESRCH) return true;
    const std::string stat = slurp("/proc/" + std::to_string(pid) + "/stat");
    const auto paren = stat.rfind(')');
    if (paren != std::string::npos && paren + 2 < stat.size() && stat[paren + 2] == 'Z') return true;
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

std::vector<tw::CellSpec> selftest_plan() {
  tw::PlanOptions o;
  o.devices = {"cpu"};
  return tw::plan_cells(tw::selftest_scenarios(), tw::selftest_catalog(), o);
}

constexpr std::size_t kLogCap = 1u << 20;  // below the default, to see that the option is honoured

std::vector<tw::CellRecord> run_selftest(int jobs, const std::string& cells_dir, std::vector<std::string>& done) {
  tw::RunnerOptions ro;
  ro.exe = HARNESS_HOST;
  ro.jobs = jobs;
  ro.cells_dir = cells_dir;
  ro.log_cap_bytes = kLogCap;
  tw::Runner runner(ro);
  return runner.run(selftest_plan(), [&](const tw::CellRecord& r) { done.push_back(r.spec.id); });
}

const tw::CellRecord& by_id(const std::vector<tw::CellRecord>& records, const std::string& scenario) {
  for (const auto& r : records)
    if (r.spec.scenario == scenario) return r;
  throw std::runtime_error("no record for " + scenario);
}

long long start_pid(const std::string& events_file) {
  std::ifstream in(events_file);
  for (std::string line; std::getline(in, line);) {
    const json e = json::parse(line, nullptr, false);
    if (e.is_object() && e.value("event", "") == "start") return e.value("pid", -1LL);
  }
  return -1;
}

void expect_isolation_evidence(const std::vector<tw::CellRecord>& records, const std::string& cells_dir) {
  const tw::CellRecord& grandchild = by_id(records, "selftest_grandchild");
  ASSERT_TRUE(grandchild.evidence.contains("grandchild_pid")) << grandchild.evidence.dump();
  const pid_t pid = grandchild.evidence["grandchild_pid"].get<pid_t>();
  ASSERT_GT(pid, 1);
  EXPECT_EQ(grandchild.evidence.value("lingering_processes_killed", false), true);
  EXPECT_TRUE(is_dead(pid)) << "grandchild " << pid << " survived its cell";

  const tw::CellRecord& flood = by_id(records, "selftest_flood_output");
  const std::string log = cells_dir + "/" + flood.spec.file_stem() + ".log";
  ASSERT_TRUE(fs::exists(log));
  EXPECT_LE(fs::file_size(log), kLogCap);
  EXPECT_GT(fs::file_size(log), 0u);
  // Every byte is either kept or counted: 16384 lines of 64 KiB.
  EXPECT_EQ(fs::file_size(log) + flood.evidence.value("log_bytes_dropped", 0ull), 1ull << 30);
  EXPECT_LE(flood.log_tail.size(), tw::RunnerOptions{}.log_tail_bytes);

  // SIGTERM is ignored: only the SIGKILL after the grace period ends it.
  const tw::CellRecord& stubborn = by_id(records, "selftest_ignore_sigterm");
  EXPECT_EQ(stubborn.outcome, tw::Outcome::kHang);
  EXPECT_EQ(stubborn.evidence.value("watchdog", ""), "heartbeat");
  const double expected_end = stubborn.spec.limits.heartbeat_seconds + tw::RunnerOptions{}.term_grace_seconds;
  EXPECT_GE(stubborn.wall_seconds, expected_end - 0.2);
  EXPECT_LT(stubborn.wall_seconds, expected_end + 5);
  const long long stubborn_pid = start_pid(cells_dir + "/" + stubborn.spec.file_stem() + ".jsonl");
  ASSERT_GT(stubborn_pid, 1);
  EXPECT_TRUE(is_dead(static_cast<pid_t>(stubborn_pid)));

  for (const auto& entry : fs::directory_iterator(cells_dir))
    EXPECT_NE(entry.path().extension(), ".partial") << entry.path();
}

TEST(SelftestRunner, EveryCellAsExpectedWithFourJobsAndWithOne) {
  const auto plan = selftest_plan();
  ASSERT_EQ(plan.size(), tw::selftest_scenarios().size());
  for (const auto& c : plan) ASSERT_TRUE(c.expected.has_value()) << c.id;

  TempDir four_dir;
  std::vector<std::string> four_done;
  const auto start = std::chrono::steady_clock::now();
  const auto four = run_selftest(4, four_dir.path(), four_done);
  const double four_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  ASSERT_EQ(four.size(), plan.size());
  EXPECT_EQ(std::set<std::string>(four_done.begin(), four_done.end()).size(), plan.size());
  EXPECT_EQ(four_done.size(), plan.size());
  for (std::size_t i = 0; i < plan.size(); ++i) {
    const tw::CellRecord& r = four[i];
    EXPECT_EQ(r.spec.id, plan[i].id);  // records come back in plan order, whatever the finishing order
    EXPECT_EQ(tw::to_string(r.outcome), std::string(tw::to_string(*plan[i].expected)))
        << r.spec.id << ": " << r.evidence.dump() << "\nlog tail: " << r.log_tail.substr(0, 500);
    EXPECT_EQ(r.verdict, tw::Verdict::kPass) << r.spec.id;
    EXPECT_TRUE(fs::exists(four_dir.path() + "/" + r.spec.file_stem() + ".jsonl")) << r.spec.id;
  }
  // The evidence says why, not only what.
  EXPECT_EQ(by_id(four, "selftest_segfault").evidence.value("signal", ""), "SIGSEGV");
  EXPECT_EQ(by_id(four, "selftest_abort").evidence.value("signal", ""), "SIGABRT");
  EXPECT_EQ(by_id(four, "selftest_sigkill").evidence.value("signal", ""), "SIGKILL");
  EXPECT_EQ(by_id(four, "selftest_uncaught_exception").evidence.value("signal", ""), "SIGABRT");
  EXPECT_EQ(by_id(four, "selftest_exit_nonzero").evidence.value("exit_code", 0), 7);
  EXPECT_EQ(by_id(four, "selftest_exception").evidence.value("message", ""), "selftest: a caught exception");
  for (const char* hang : {"selftest_hang", "selftest_syscall_hang", "selftest_busy_loop"})
    EXPECT_EQ(by_id(four, hang).evidence.value("watchdog", ""), "heartbeat") << hang;
  EXPECT_NE(by_id(four, "selftest_oom").evidence.value("message", "").find("malloc failed"), std::string::npos);
  EXPECT_EQ(by_id(four, "selftest_garbage_events").evidence.value("protocol_errors", 0), 4);
  EXPECT_EQ(by_id(four, "selftest_truncated_event").evidence.value("protocol_errors", 0), 1);
  EXPECT_EQ(by_id(four, "selftest_truncated_event").evidence.value("steps", 0), 1);
  EXPECT_EQ(by_id(four, "selftest_no_end").evidence.value("message", ""), "exited without an end event");
  EXPECT_EQ(by_id(four, "selftest_diverge").evidence.value("symptom_step", 0), 3);
  EXPECT_LT(by_id(four, "selftest_leak").evidence.value("steps_to_budget", 1e9), tw::kLeakProjectionSteps);
  expect_isolation_evidence(four, four_dir.path());

  TempDir one_dir;
  std::vector<std::string> one_done;
  const auto one = run_selftest(1, one_dir.path(), one_done);
  ASSERT_EQ(one.size(), four.size());
  for (std::size_t i = 0; i < one.size(); ++i) {
    EXPECT_EQ(one[i].spec.id, four[i].spec.id);
    EXPECT_EQ(tw::to_string(one[i].outcome), std::string(tw::to_string(four[i].outcome)))
        << one[i].spec.id << " with one job: " << one[i].evidence.dump();
    EXPECT_EQ(one[i].verdict, four[i].verdict) << one[i].spec.id;
  }
  // One job at a time: cells finish in plan order, the exclusive ones after the others.
  std::vector<std::string> plan_ids, exclusive_ids;
  for (const auto& c : plan) (c.limits.exclusive ? exclusive_ids : plan_ids).push_back(c.id);
  EXPECT_EQ(exclusive_ids, std::vector<std::string>{"selftest_flood_output/none/cpu"});
  plan_ids.insert(plan_ids.end(), exclusive_ids.begin(), exclusive_ids.end());
  EXPECT_EQ(one_done, plan_ids);
  expect_isolation_evidence(one, one_dir.path());
  RecordProperty("four_jobs_seconds", std::to_string(four_seconds));
}

TEST(Runner, UnsupportedCellsAreNotStarted) {
  tw::CellSpec c;
  c.id = "needs/gpu/cuda";
  c.scenario = "needs";
  c.fault = "selftest_ok";
  c.unsupported_reason = "no CUDA device on this machine";
  c.expected = tw::Outcome::kUnsupported;
  tw::RunnerOptions ro;
  ro.exe = "/nonexistent/never-run";  // starting it would fail and give an error outcome
  int starts = 0;
  const auto records = tw::Runner(ro).run(
      {c}, [](const tw::CellRecord&) {}, [&](const tw::CellSpec&) { ++starts; });
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].outcome, tw::Outcome::kUnsupported);
  EXPECT_EQ(records[0].verdict, tw::Verdict::kPass);
  EXPECT_EQ(records[0].evidence["reason"], "no CUDA device on this machine");
  EXPECT_EQ(starts, 1);  // reported as started, so progress counts stay whole
}

// An exclusive cell (limits.exclusive) starts when nothing else runs and nothing starts beside it;
// the other cells still run several at a time.
TEST(Runner, ExclusiveCellRunsAlone) {
  tw::PlanOptions o;
  o.devices = {"cpu"};
  o.filters = {"selftest_ok/*",        "selftest_diverge/*",      "selftest_leak/*",
               "selftest_exception/*", "selftest_exit_nonzero/*", "selftest_abort/*"};
  auto plan = tw::plan_cells(tw::selftest_scenarios(), tw::selftest_catalog(), o);
  ASSERT_EQ(plan.size(), 6u);
  const std::string alone_id = plan[1].id;  // not the last: it must wait for the ones after it
  plan[1].limits.exclusive = true;
  tw::RunnerOptions ro;
  ro.exe = HARNESS_HOST;
  ro.jobs = 4;
  std::set<std::string> in_flight;
  std::size_t most_in_flight = 0;
  bool alone_started = false, alone_done = false;
  std::vector<std::string> started_beside;
  const auto records = tw::Runner(ro).run(
      plan,
      [&](const tw::CellRecord& r) {
        in_flight.erase(r.spec.id);
        if (r.spec.id == alone_id) alone_done = true;
      },
      [&](const tw::CellSpec& c) {
        if (c.id == alone_id) {
          alone_started = true;
          EXPECT_TRUE(in_flight.empty()) << in_flight.size() << " cells still running when the exclusive one started";
        } else if (alone_started && !alone_done) {
          started_beside.push_back(c.id);
        }
        in_flight.insert(c.id);
        most_in_flight = std::max(most_in_flight, in_flight.size());
      });
  EXPECT_TRUE(alone_started && alone_done);
  EXPECT_TRUE(started_beside.empty()) << started_beside.front() << " started beside the exclusive cell";
  EXPECT_GE(most_in_flight, 2u);  // the others shared the machine
  ASSERT_EQ(records.size(), plan.size());
  for (const auto& r : records) EXPECT_EQ(r.verdict, tw::Verdict::kPass) << r.spec.id << " " << r.evidence.dump();
  EXPECT_EQ(records[1].spec.id, alone_id);  // records keep the plan's order
}

TEST(Runner, ExecutableThatCannotStartIsAnErrorOfThatCell) {
  auto plan = selftest_plan();
  plan.resize(1);
  tw::RunnerOptions ro;
  ro.exe = "/nonexistent/trainwreck";
  const auto records = tw::Runner(ro).run(plan, {});
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].outcome, tw::Outcome::kError);
  EXPECT_NE(records[0].evidence.value("message", "").find("could not start"), std::string::npos)
      << records[0].evidence.dump();
}

// Rank 0 of a two-rank cell cannot be started; rank 1 starts and waits for a peer that never
// comes (selftest_hang). The failed start counts as a peer's exit, rank 1 leads the cell's process
// group, and the cell ends after the peer grace period with every process gone. Run in a child
// process with a deadline: a runner that cannot end the cell would otherwise hang the test.
TEST(Runner, RankZeroThatCannotStartEndsTheCellAndItsPeers) {
  TempDir tmp;
  const std::string report = tmp / "report.json";
  const auto t0 = std::chrono::steady_clock::now();
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    tw::PlanOptions o;
    o.devices = {"cpu"};
    o.filters = {"selftest_hang/*"};
    auto plan = tw::plan_cells(tw::selftest_scenarios(), tw::selftest_catalog(), o);
    if (plan.size() != 1) _exit(3);
    plan[0].ranks = 2;
    plan[0].limits.heartbeat_seconds = 20;  // only the peer rule may end it in time
    plan[0].limits.wall_seconds = 20;
    tw::RunnerOptions ro;
    ro.exe = HARNESS_HOST;
    ro.peer_grace_seconds = 0.5;
    json started = json::array();
    ro.spawn = [&](const tw::ProcessSpec& ps) {
      for (const auto& kv : ps.env)
        if (kv == "RANK=0") throw std::system_error(ENOEXEC, std::generic_category(), "exec rank 0 (test)");
      tw::ChildProcess c = tw::spawn_process(ps);
      started.push_back({{"pid", c.pid}, {"group", ps.process_group}});
      return c;
    };
    const auto records = tw::Runner(ro).run(plan, {});
    json out = {{"started", started},
                {"outcome", tw::to_string(records.at(0).outcome)},
                {"evidence", records.at(0).evidence},
                {"wall_seconds", records.at(0).wall_seconds}};
    write(report, out.dump());
    _exit(0);
  }
  int status = 0;
  bool ended = false;
  while (std::chrono::steady_clock::now() - t0 < std::chrono::seconds(30)) {
    if (waitpid(child, &status, WNOHANG) == child) {
      ended = true;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (!ended) {
    kill(child, SIGKILL);
    waitpid(child, &status, 0);
    FAIL() << "the runner did not end a cell whose rank 0 could not start (30 s)";
  }
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  const json r = read_json(report);
  ASSERT_EQ(r["started"].size(), 1u) << r.dump();
  EXPECT_EQ(r["started"][0]["group"], 0) << "rank 1 must lead a new group, not join group -1";
  EXPECT_TRUE(is_dead(r["started"][0]["pid"].get<pid_t>()));
  // Ended by the peer rule (rank 1 gets SIGTERM, classified as its crash), not by a watchdog.
  EXPECT_NE(r["outcome"], "hang") << r.dump();
  EXPECT_NE(r["evidence"].dump().find("could not start"), std::string::npos) << r.dump();
  EXPECT_LT(r["wall_seconds"].get<double>(), 10) << r.dump();
}

TEST(Runner, WallClockOverrideEndsALongCell) {
  tw::PlanOptions o;
  o.devices = {"cpu"};
  o.filters = {"selftest_hang/*"};
  const auto plan = tw::plan_cells(tw::selftest_scenarios(), tw::selftest_catalog(), o);
  ASSERT_EQ(plan.size(), 1u);
  tw::RunnerOptions ro;
  ro.exe = HARNESS_HOST;
  ro.timeout_override = 1;
  const auto records = tw::Runner(ro).run(plan, {});
  EXPECT_EQ(records[0].outcome, tw::Outcome::kHang);
  EXPECT_LT(records[0].wall_seconds, 2.5);  // not the scenario's 3 s heartbeat
}

TEST(VerdictFor, ComparesWithTheExpectation) {
  EXPECT_EQ(tw::verdict_for(tw::Outcome::kHang, tw::Outcome::kHang), tw::Verdict::kPass);
  EXPECT_EQ(tw::verdict_for(tw::Outcome::kHang, tw::Outcome::kCrash), tw::Verdict::kUnexpected);
  EXPECT_EQ(tw::verdict_for(std::nullopt, tw::Outcome::kCrash), tw::Verdict::kUnpinned);
}

TEST(ExtractSeries, DownsamplesAndKeepsTheLastStep) {
  std::vector<json> events;
  for (int k = 1; k <= 1000; ++k) events.push_back({{"event", "step"}, {"rank", 0}, {"step", k}, {"loss", 1.0 / k}});
  events.push_back({{"event", "step"}, {"rank", 1}, {"step", 5000}, {"loss", 9.0}});  // other ranks are not plotted
  const json s = tw::extract_series(events, 100);
  ASSERT_TRUE(s.contains("step"));
  EXPECT_LE(s["step"].size(), 101u);
  EXPECT_EQ(s["step"].front(), 1);
  EXPECT_EQ(s["step"].back(), 1000);
  EXPECT_EQ(s["loss"].size(), s["step"].size());
  EXPECT_FALSE(s.contains("mem"));
  EXPECT_TRUE(tw::extract_series({}, 100).empty());
}

TEST(SelftestCli, ExitsZeroAndWritesEveryResult) {
  TempDir out;
  const std::string dir = out.path() + "/results";
  const HostResult r = run_host("selftest --out '" + dir + "' --jobs 4 --quiet");
  ASSERT_EQ(r.code, 0) << r.err << r.out;
  const json matrix = json::parse(slurp(dir + "/matrix.json"));
  const auto plan = selftest_plan();
  ASSERT_EQ(matrix["cells"].size(), plan.size());
  for (const auto& c : matrix["cells"]) {
    EXPECT_EQ(c["verdict"], "pass") << c.dump();
    EXPECT_EQ(c["outcome"], c["expected"]) << c.dump();
    EXPECT_TRUE(fs::exists(dir + "/cells/" + c["scenario"].get<std::string>() + ".none.cpu.result.json"));
  }
  EXPECT_EQ(matrix["summary"]["unexpected"], 0);
  for (const char* f : {"matrix.md", "junit.xml", "run.json", "context.json"})
    EXPECT_TRUE(fs::exists(dir + "/" + f)) << f;
  EXPECT_NE(r.out.find(std::to_string(plan.size()) + " cells: " + std::to_string(plan.size()) + " as expected"),
            std::string::npos)
      << r.out;
  EXPECT_LE(fs::file_size(dir + "/cells/selftest_flood_output.none.cpu.log"), tw::RunnerOptions{}.log_cap_bytes);
  for (const auto& c : matrix["cells"]) {
    if (c["scenario"] == "selftest_grandchild") EXPECT_TRUE(is_dead(c["evidence"]["grandchild_pid"].get<pid_t>()));
  }
}

TEST(Cli, UsageErrorsExitTwoNamingTheCulpritAndRunNothing) {
  TempDir tmp;
  const std::string out = tmp.path() + "/results";
  struct Case {
    std::string args, named;
  };
  const std::vector<Case> cases = {
      {"selftest --out '" + out + "' --frobnicate", "--frobnicate"},
      {"selftest --out '" + out + "' -x", "-x"},
      {"selftest --out '" + out + "' --quiet=yes", "--quiet"},
      {"selftest --out '" + out + "' stray", "stray"},
      {"selftest --out '" + out + "' --jobs", "--jobs"},
      {"selftest --out '" + out + "' --jobs 0", "--jobs"},
      {"selftest --out '" + out + "' --jobs 4x", "--jobs"},
      {"selftest --out '" + out + "' --timeout -1", "--timeout"},
      {"selftest --out '" + out + "' --device tpu", "--device"},
      {"selftest --out '" + out + "' --shard 0/2", "--shard"},
      {"selftest --out '" + out + "' --shard 3/2", "--shard"},
      {"selftest --out '" + out + "' --filter 'no_such_cell*'", "--filter"},
      {"frobnicate", "frobnicate"},
      {"run --out '" + out + "' --scenarios /nonexistent/scenarios", "/nonexistent/scenarios"},
  };
  for (const auto& c : cases) {
    const HostResult r = run_host(c.args);
    EXPECT_EQ(r.code, tw::kExitBadInput) << c.args << "\n" << r.err;
    EXPECT_NE(r.err.find(c.named), std::string::npos) << c.args << "\nstderr: " << r.err;
    EXPECT_FALSE(fs::exists(out)) << c.args << " wrote results";
  }
  EXPECT_EQ(run_host("").code, tw::kExitBadInput);
  EXPECT_EQ(run_host("--help").code, tw::kExitAsExpected);
}

TEST(Cli, MalformedScenarioInTheDirectoryExitsTwoWithoutAMatrix) {
  TempDir tmp;
  fs::create_directory(tmp.path() + "/scenarios");
  const std::string good = R"({"name": "ok", "fault": "selftest_ok", "devices": ["cpu"],
                               "mitigations": [{"name": "none", "expect": {"cpu": "healthy"}}]})";
  const std::string bad = R"({"name": "bad", "fault": "selftest_ok", "devices": ["cpu"],
                              "mitigations": [{"name": "none", "expect": {"cpu": "fine"}}]})";
  tmp.write("scenarios/a.json", good);
  const std::string bad_path = tmp.write("scenarios/b.json", bad);
  const std::string out = tmp.path() + "/results";
  const HostResult r = run_host("run --scenarios '" + tmp.path() + "/scenarios' --out '" + out + "' --device cpu");
  EXPECT_EQ(r.code, tw::kExitBadInput) << r.err;
  EXPECT_NE(r.err.find(bad_path), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("mitigations[0].expect.cpu"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(out + "/matrix.json"));
  EXPECT_FALSE(fs::exists(out));
}

// Exit 4 (results not written) is covered by CliUnwritable.*; --out below a regular file is the
// argument's fault (exit 2): ResultsDirectory.OutNamingARegularFileIsBadInputAndTheFileIsKept.

TEST(Cli, UnexpectedOutcomeExitsOne) {
  TempDir tmp;
  fs::create_directory(tmp.path() + "/scenarios");
  tmp.write("scenarios/pinned.json", R"({"name": "pinned", "fault": "selftest_ok", "devices": ["cpu"],
      "limits": {"wall_seconds": 30, "heartbeat_seconds": 10, "memory_mb": 256},
      "mitigations": [{"name": "none", "label": "pinned_wrong", "expect": {"cpu": "diverged"}},
                      {"name": "none", "label": "pinned_right", "expect": {"cpu": "healthy"}}]})");
  const std::string out = tmp.path() + "/results";
  const HostResult r =
      run_host("run --quiet --jobs 2 --device cpu --scenarios '" + tmp.path() + "/scenarios' --out '" + out + "'");
  EXPECT_EQ(r.code, tw::kExitUnexpected) << r.err;
  const json matrix = json::parse(slurp(out + "/matrix.json"));
  ASSERT_EQ(matrix["cells"].size(), 2u);
  EXPECT_EQ(matrix["cells"][0]["id"], "pinned/pinned_wrong/cpu");
  EXPECT_EQ(matrix["cells"][0]["verdict"], "unexpected");
  EXPECT_EQ(matrix["cells"][1]["verdict"], "pass");
  const std::string junit = slurp(out + "/junit.xml");
  EXPECT_NE(junit.find("<failure type=\"unexpected\""), std::string::npos) << junit;
}

}  // namespace
