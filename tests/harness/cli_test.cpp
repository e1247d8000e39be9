// The trainwreck command line end to end, through the harness host and its self-test cells:
// diff, run --baseline, merge of shards, report, list --cells, the CTest registration of cells,
// and the reliability of a run (repeats, a harness killed mid-run and resumed, a results
// directory that stops being writable, --jobs not changing the matrix).
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "harness/errors.h"
#include "harness/plan.h"
#include "harness/selftest.h"
#include "test_support.h"

#ifndef HARNESS_HOST
#error "HARNESS_HOST must name the trainwreck_harness_host executable"
#endif
#ifndef TRAINWRECK_SOURCE_DIR
#error "TRAINWRECK_SOURCE_DIR must name the source tree"
#endif

namespace {
namespace fs = std::filesystem;
using nlohmann::json;
using Clock = std::chrono::steady_clock;
using namespace tw_test;
using HostResult = ShellResult;

// Starts the harness host without waiting, its output into files.
pid_t spawn_host(const std::vector<std::string>& args, const std::string& out, const std::string& err) {
  const pid_t pid = fork();
  if (pid == 0) {
    unsetenv("TEST_SHARD_INDEX");
    unsetenv("TEST_TOTAL_SHARDS");
    freopen(out.c_str(), "w", stdout);
    freopen(err.c_str(), "w", stderr);
    std::vector<std::string> store = {HARNESS_HOST};
    store.insert(store.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : store) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  return pid;
}

int wait_exit(pid_t pid) {
  int status = 0;
  waitpid(pid, &status, 0);
  return exit_code(status);
}

bool wait_until(const std::function<bool()>& done, double seconds) {
  const auto deadline = Clock::now() + std::chrono::duration<double>(seconds);
  while (!done()) {
    if (Clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

std::vector<std::string> files_ending(const std::string& dir, const std::string& suffix) {
  std::vector<std::string> out;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    const std::string p = it->path().string();
    if (p.size() >= suffix.size() && p.compare(p.size() - suffix.size(), suffix.size(), suffix) == 0) out.push_back(p);
  }
  return out;
}

std::vector<pid_t> children_of(pid_t parent) {
  std::vector<pid_t> out;
  std::error_code ec;
  for (auto it = fs::directory_iterator("/proc", ec); !ec && it != fs::directory_iterator(); it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    const std::string stat = slurp(it->path().string() + "/stat");
    const auto paren = stat.rfind(')');
    if (paren == std::string::npos) continue;
    std::istringstream rest(stat.substr(paren + 2));
    char state = 0;
    long ppid = 0;
    rest >> state >> ppid;
    if (ppid == parent) out.push_back(static_cast<pid_t>(std::stol(name)));
  }
  return out;
}

// Gone, or a zombie waiting for whoever adopted it.
bool is_gone(pid_t pid) {
  if (kill(pid, 0) != 0 && errno == ESRCH) return true;
  const std::string stat = slurp("/proc/" + std::to_string(pid) + "/stat");
  const auto paren = stat.rfind(')');
  return paren != std::string::npos && paren + 2 < stat.size() && stat[paren + 2] == 'Z';
}

std::vector<std::string> selftest_ids() {
  tw::PlanOptions o;
  o.devices = {"cpu"};
  std::vector<std::string> ids;
  for (const auto& c : tw::plan_cells(tw::selftest_scenarios(), tw::selftest_catalog(), o)) ids.push_back(c.id);
  return ids;
}

std::vector<std::string> ids_of(const json& matrix) {
  std::vector<std::string> ids;
  for (const auto& c : matrix["cells"]) ids.push_back(c["id"]);
  return ids;
}

std::map<std::string, std::string> outcomes_of(const json& matrix) {
  std::map<std::string, std::string> m;
  for (const auto& c : matrix["cells"]) m[c["id"]] = c["outcome"];
  return m;
}

// The cells that end quickly, with at least one step each where they have any.
const std::string kQuickCells =
    "--filter 'selftest_ok/*' --filter 'selftest_diverge/*' --filter 'selftest_leak/*' --filter 'selftest_exception/*'";
// Nothing half-written is left, and every JSON file parses.
void expect_clean_results(const std::string& dir) {
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    const std::string name = it->path().filename().string();
    EXPECT_EQ(name.find(".tmp."), std::string::npos) << it->path();
    EXPECT_NE(it->path().extension(), ".partial") << it->path();
    if (it->path().extension() == ".json") {
      EXPECT_FALSE(json::parse(slurp(it->path().string()), nullptr, false).is_discarded()) << it->path();
    }
    if (it->path().extension() == ".jsonl") {
      std::istringstream in(slurp(it->path().string()));
      for (std::string line; std::getline(in, line);)
        EXPECT_FALSE(json::parse(line, nullptr, false).is_discarded()) << it->path() << ": " << line;
    }
  }
}

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

// ---- report -----------------------------------------------------------------------------------

TEST(CliReport, RendersAFinishedRunInEveryFormat) {
  TempDir tmp;
  ASSERT_EQ(run_host("selftest --quiet --jobs 2 " + kQuickCells + " --out '" + tmp / "run" + "'").code, 0);
  const std::string run = tmp / "run";
  EXPECT_EQ(run_host("report '" + run + "' --format md").out, slurp(run + "/matrix.md"));
  EXPECT_EQ(run_host("report '" + run + "' --format junit").out, slurp(run + "/junit.xml"));
  EXPECT_EQ(json::parse(run_host("report '" + run + "/matrix.json' --format json").out),
            read_json(run + "/matrix.json"));
  EXPECT_NE(
      run_host("report '" + run + "' --format csv").out.find("selftest_diverge,selftest_diverge,none,cpu,diverged"),
      std::string::npos);
  EXPECT_NE(run_host("report '" + run + "'").out.find("4 cells: 4 as expected"), std::string::npos);
  const HostResult html = run_host("report '" + run + "' --format html --out '" + tmp / "page.html" + "'");
  EXPECT_EQ(html.code, 0) << html.err;
  EXPECT_EQ(html.out, "");
  EXPECT_EQ(slurp(tmp / "page.html"), slurp(run + "/report.html"));
  const HostResult with_diff =
      run_host("report '" + run + "' --format html --baseline '" + run + "' --out '" + tmp / "diff.html" + "'");
  EXPECT_EQ(with_diff.code, 0) << with_diff.err;
  EXPECT_NE(slurp(tmp / "diff.html").find("<section id=\"diff\">"), std::string::npos);

  EXPECT_EQ(run_host("report '" + run + "' --format pdf").code, tw::kExitBadInput);
  EXPECT_EQ(run_host("report '" + run + "' --format csv --baseline '" + run + "'").code, tw::kExitBadInput);
  EXPECT_EQ(run_host("report /nonexistent/run").code, tw::kExitBadInput);
  EXPECT_EQ(run_host("report '" + tmp.path() + "'").code, tw::kExitBadInput);
  EXPECT_EQ(run_host("report").code, tw::kExitBadInput);
  const HostResult unwritable =
      run_host("report '" + run + "' --format md --out '" + run + "/matrix.md/not-a-directory/x.md'");
  EXPECT_EQ(unwritable.code, tw::kExitResultsLost) << unwritable.err;
}

TEST(CliReport, EvidencePagesAndFiguresFromTheMatrixAlone) {
  TempDir tmp;
  ASSERT_EQ(run_host("selftest --quiet --jobs 2 " + kQuickCells + " --out '" + tmp / "run" + "'").code, 0);
  const std::string run = tmp / "run";
  // run writes a figure per scenario next to the matrix; report makes the same ones from matrix.json.
  EXPECT_TRUE(fs::exists(run + "/figures/selftest_diverge-cpu.svg"));
  const HostResult pages = run_host("report '" + run + "' --format md --out '" + tmp / "evidence" + "'");
  ASSERT_EQ(pages.code, 0) << pages.err;
  EXPECT_EQ(pages.out, "");
  EXPECT_EQ(slurp(tmp / "evidence/figures/selftest_diverge-cpu.svg"), slurp(run + "/figures/selftest_diverge-cpu.svg"));
  const std::string index = slurp(tmp / "evidence/index.md");
  EXPECT_NE(index.find("| [harness self-test](harness-self-test.md) |"), std::string::npos) << index;
  const std::string page = slurp(tmp / "evidence/harness-self-test.md");
  EXPECT_NE(page.find("## selftest_diverge (cpu)"), std::string::npos) << page;
  EXPECT_NE(page.find("Fault `selftest_diverge`: reports a NaN loss at step 3."), std::string::npos) << page;
  EXPECT_NE(
      page.find("![Training loss per step of every remedy, selftest_diverge (cpu)](figures/selftest_diverge-cpu.svg)"),
      std::string::npos)
      << page;
  EXPECT_NE(page.find("| `none` | fault | diverged@3 | 1 seed | pass |"), std::string::npos) << page;
  // A file name still means one Markdown file; the pages refuse a baseline.
  EXPECT_EQ(run_host("report '" + run + "' --format md --out '" + tmp / "one.md" + "'").code, 0);
  EXPECT_EQ(slurp(tmp / "one.md"), slurp(run + "/matrix.md"));
  EXPECT_EQ(run_host("report '" + run + "' --format md --baseline '" + run + "' --out '" + tmp / "ev2/" + "'").code,
            tw::kExitBadInput);
}

TEST(CliReport, ACatalogGivesAnOldMatrixItsArticleRowsAndDescriptions) {
  TempDir tmp;
  ASSERT_EQ(run_host("selftest --quiet --jobs 2 " + kQuickCells + " --out '" + tmp / "run" + "'").code, 0);
  json m = read_json(tmp / "run/matrix.json");
  ASSERT_TRUE(m.contains("scenarios"));  // run records them
  EXPECT_EQ(m["scenarios"]["selftest_diverge"]["article_row"], "harness self-test");
  m.erase("scenarios");  // a matrix from before that
  write(tmp / "old.json", m.dump());
  EXPECT_NE(run_host("report '" + tmp / "old.json" + "' --format md").out.find("#### other scenarios"),
            std::string::npos);
  write(tmp / "list.json", R"({"faults": [{"name": "selftest_diverge", "summary": "NaN at 3", "article_row": "code"}],
      "scenarios": [{"name": "selftest_diverge", "fault": "selftest_diverge", "description": "Says NaN."}]})");
  const HostResult r =
      run_host("report '" + tmp / "old.json" + "' --catalog '" + tmp / "list.json" + "' --format html");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find(">code</th>"), std::string::npos);
  EXPECT_NE(r.out.find("<p class=\"desc\">Says NaN.</p>"), std::string::npos);
  write(tmp / "bad.json", "[1, 2]");
  EXPECT_EQ(run_host("report '" + tmp / "old.json" + "' --catalog '" + tmp / "bad.json" + "'").code, tw::kExitBadInput);
}

// Enough of the JUnit shape that Jenkins (Surefire's schema), GitLab and the GitHub test
// reporters read: testsuites > testsuite > testcase > failure | skipped | system-out, counts and
// plain decimal times. No "skipped" on the root, which that schema does not allow.
const char* kJunitSchema = R"(<?xml version="1.0" encoding="UTF-8"?>
<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema">
  <xs:simpleType name="seconds"><xs:restriction base="xs:string">
    <xs:pattern value="[0-9]+(\.[0-9]+)?"/></xs:restriction></xs:simpleType>
  <xs:simpleType name="count"><xs:restriction base="xs:nonNegativeInteger"/></xs:simpleType>
  <xs:complexType name="result" mixed="true">
    <xs:attribute name="message" type="xs:string"/>
    <xs:attribute name="type" type="xs:string"/>
  </xs:complexType>
  <xs:element name="testsuites">
    <xs:complexType>
      <xs:sequence><xs:element ref="testsuite" minOccurs="0" maxOccurs="unbounded"/></xs:sequence>
      <xs:attribute name="name" type="xs:string"/>
      <xs:attribute name="tests" type="count" use="required"/>
      <xs:attribute name="failures" type="count" use="required"/>
      <xs:attribute name="errors" type="count" use="required"/>
      <xs:attribute name="time" type="seconds" use="required"/>
    </xs:complexType>
  </xs:element>
  <xs:element name="testsuite">
    <xs:complexType>
      <xs:sequence><xs:element name="properties" minOccurs="0"><xs:complexType><xs:sequence>
        <xs:element name="property" maxOccurs="unbounded"><xs:complexType>
          <xs:attribute name="name" type="xs:string" use="required"/>
          <xs:attribute name="value" type="xs:string" use="required"/>
        </xs:complexType></xs:element></xs:sequence></xs:complexType></xs:element>
      <xs:element name="testcase" maxOccurs="unbounded">
        <xs:complexType>
          <xs:sequence>
            <xs:choice minOccurs="0">
              <xs:element name="failure" type="result"/>
              <xs:element name="skipped" type="result"/>
            </xs:choice>
            <xs:element name="system-out" type="xs:string" minOccurs="0"/>
          </xs:sequence>
          <xs:attribute name="classname" type="xs:string" use="required"/>
          <xs:attribute name="name" type="xs:string" use="required"/>
          <xs:attribute name="time" type="seconds" use="required"/>
        </xs:complexType>
      </xs:element></xs:sequence>
      <xs:attribute name="name" type="xs:string" use="required"/>
      <xs:attribute name="tests" type="count" use="required"/>
      <xs:attribute name="failures" type="count" use="required"/>
      <xs:attribute name="errors" type="count" use="required"/>
      <xs:attribute name="skipped" type="count" use="required"/>
      <xs:attribute name="time" type="seconds" use="required"/>
      <xs:attribute name="timestamp" type="xs:string"/>
    </xs:complexType>
  </xs:element>
</xs:schema>
)";

TEST(CliJunit, ARunsJunitHasTheShapeCiReportersRead) {
  TempDir tmp;
  fs::create_directory(tmp / "scenarios");
  // One cell as expected, one unexpected, one unpinned; a crash whose log has invalid UTF-8.
  write(tmp / "scenarios/mixed.json", R"({"name": "mixed", "fault": "selftest_ok", "devices": ["cpu"],
      "limits": {"wall_seconds": 30, "heartbeat_seconds": 10, "memory_mb": 256},
      "mitigations": [{"name": "none", "label": "right", "expect": {"cpu": "healthy"}},
                      {"name": "none", "label": "wrong", "expect": {"cpu": "diverged"}},
                      {"name": "none", "label": "unpinned"}]})");
  write(tmp / "scenarios/garbage.json", R"({"name": "garbage", "fault": "selftest_garbage_events", "devices": ["cpu"],
      "limits": {"wall_seconds": 30, "heartbeat_seconds": 10, "memory_mb": 256},
      "mitigations": [{"name": "none", "expect": {"cpu": "error"}}]})");
  const HostResult r =
      run_host("run --quiet --device cpu --scenarios '" + tmp / "scenarios" + "' --out '" + tmp / "run" + "'");
  EXPECT_EQ(r.code, 1) << r.err;
  // The run ends with where its results are, then a line per cell that failed.
  const std::string ending = "\nresults: " + tmp / "run" + "/matrix.md, " + tmp / "run" + "/report.html (figures in " +
                             tmp / "run" + "/figures/)\nunexpected  mixed/wrong/cpu: healthy, expected diverged\n";
  EXPECT_GE(r.out.size(), ending.size());
  EXPECT_EQ(r.out.substr(r.out.size() - std::min(r.out.size(), ending.size())), ending) << r.out;
  const std::string xml = slurp(tmp / "run/junit.xml");
  const std::regex times("time=\"([^\"]*)\"");
  int n = 0;
  for (std::sregex_iterator it(xml.begin(), xml.end(), times), end; it != end; ++it, ++n)
    EXPECT_TRUE(std::regex_match((*it)[1].str(), std::regex("[0-9]+\\.[0-9]{3}"))) << (*it)[1];
  EXPECT_EQ(n, 1 + 2 + 4);  // root, two suites, four cases
  const std::string root =
      xml.substr(xml.find("<testsuites"), xml.find('>', xml.find("<testsuites")) - xml.find("<testsuites"));
  EXPECT_EQ(root.find("skipped"), std::string::npos) << root;
  EXPECT_NE(xml.find("<testcase classname=\"mixed\" name=\"wrong [cpu]\""), std::string::npos) << xml;
  EXPECT_NE(xml.find("<failure type=\"unexpected\" message=\"healthy (expected diverged)\">"), std::string::npos)
      << xml;
  // The unpinned cell ran: it passes, named by a property of its suite (as Surefire's schema has them).
  EXPECT_EQ(xml.find("<skipped "), std::string::npos) << xml;
  EXPECT_NE(xml.find("<property name=\"unpinned\" value=\"unpinned [cpu]: healthy\"/>"), std::string::npos) << xml;

  if (access("/usr/bin/xmllint", X_OK) != 0) GTEST_SKIP() << "xmllint not installed: the schema check is skipped";
  write(tmp / "junit.xsd", kJunitSchema);
  const HostResult lint =
      run_shell("xmllint --noout --schema '" + tmp / "junit.xsd" + "' '" + tmp / "run/junit.xml" + "'");
  EXPECT_EQ(lint.code, 0) << lint.err;
  // The schema check can fail: a root with "skipped" is refused.
  std::string bad = xml;
  bad.replace(bad.find("<testsuites "), 12, "<testsuites skipped=\"1\" ");
  write(tmp / "bad.xml", bad);
  const HostResult lint_bad =
      run_shell("xmllint --noout --schema '" + tmp / "junit.xsd" + "' '" + tmp / "bad.xml" + "'");
  EXPECT_NE(lint_bad.code, 0);
  EXPECT_NE(lint_bad.err.find("skipped"), std::string::npos) << lint_bad.err;
}

// ---- list --cells and the CTest registration ---------------------------------------------------

TEST(CliList, CellsOnePerLineForScripts) {
  const HostResult r = run_host("list --cells --selftest --device cpu");
  ASSERT_EQ(r.code, 0) << r.err;
  std::istringstream in(r.out);
  std::vector<std::string> ids;
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("#", 0) == 0) continue;
    std::vector<std::string> fields;
    std::istringstream fs_(line);
    for (std::string f; std::getline(fs_, f, '\t');) fields.push_back(f);
    ASSERT_GE(fields.size(), 7u) << line;
    EXPECT_EQ(fields[4], "cpu");
    ids.push_back(fields[0]);
  }
  EXPECT_EQ(ids, selftest_ids());
  EXPECT_EQ(r.out.find("# capabilities"), std::string::npos);  // cpu only: no probe

  const HostResult all = run_host("list --cells --selftest --device all --filter 'selftest_ok/*'");
  EXPECT_NE(all.out.find("# capabilities gpus=0"), std::string::npos) << all.out;
  const HostResult j = run_host("list --cells --selftest --device cpu --json --filter 'selftest_diverge/*'");
  const json cells = json::parse(j.out)["cells"];
  ASSERT_EQ(cells.size(), 1u);
  EXPECT_EQ(cells[0]["fault"], "selftest_diverge");
  EXPECT_EQ(cells[0]["expected"], "diverged");
  EXPECT_EQ(run_host("list --device cpu").code, tw::kExitBadInput);
  EXPECT_EQ(run_host("list --cells --device tpu").code, tw::kExitBadInput);
}

std::string cache_value(const std::string& cache, const std::string& key) {
  std::istringstream in(cache);
  for (std::string line; std::getline(in, line);)
    if (line.rfind(key + ":", 0) == 0) return line.substr(line.find('=') + 1);
  return "";
}

// CMake and CTest of the build the harness host came from (empty without a CMakeCache.txt).
struct CmakeTools {
  std::string cmake, ctest;
};
CmakeTools build_tools() {
  const std::string cache = slurp(fs::path(HARNESS_HOST).parent_path().string() + "/CMakeCache.txt");
  return {cache_value(cache, "CMAKE_COMMAND"), cache_value(cache, "CMAKE_CTEST_COMMAND")};
}

// A throwaway project in tmp/project whose tests are the self-test cells (cmake/ctest_cells.cmake),
// followed by `extra` CMake lines.
void write_cells_project(TempDir& tmp, const std::string& extra) {
  fs::create_directory(tmp / "project");
  write(tmp / "project/CMakeLists.txt",
        "cmake_minimum_required(VERSION 3.18)\nproject(cells NONE)\nenable_testing()\n"
        "include(" TRAINWRECK_SOURCE_DIR
        "/cmake/ctest_cells.cmake)\n"
        "trainwreck_add_cell_tests(" HARNESS_HOST " SELFTEST EXTRA_ARGS --timeout 20)\n" +
            extra);
}

// cmake/ctest_cells.cmake in a throwaway project: every self-test cell becomes a CTest test with
// its labels, listed when ctest runs, and the tests pass through ctest --output-junit.
TEST(CtestCells, EveryCellIsATestWithLabels) {
  const CmakeTools tools = build_tools();
  const std::string &cmake = tools.cmake, &ctest = tools.ctest;
  if (cmake.empty() || ctest.empty()) GTEST_SKIP() << "no CMakeCache.txt next to the harness host";
  TempDir tmp;
  write_cells_project(
      tmp, "trainwreck_set_test_labels(LABELS matrix cpu browser TESTS cell:selftest_ok/none/cpu No.SuchTest)\n");
  auto sh = run_shell;
  const HostResult configure =
      sh("'" + cmake + "' -S '" + tmp / "project" + "' -B '" + tmp / "build" + "' >/dev/null && echo configured");
  ASSERT_NE(configure.out.find("configured"), std::string::npos) << configure.err;
  const std::string in_build = "cd '" + tmp / "build" + "' && env -u TRAINWRECK_CTEST_DEVICES '" + ctest + "' ";
  auto test_names = [&](const std::string& args) {
    std::vector<std::string> names;
    std::istringstream in(sh(in_build + "-N " + args).out);
    for (std::string line; std::getline(in, line);) {
      const auto at = line.find(": cell:");
      if (at != std::string::npos) names.push_back(line.substr(at + 2));
    }
    return names;
  };
  std::vector<std::string> expected;
  for (const auto& id : selftest_ids()) expected.push_back("cell:" + id);
  EXPECT_EQ(test_names("-L matrix"), expected);
  EXPECT_EQ(test_names("-L 'fault=selftest_diverge$'"), std::vector<std::string>{"cell:selftest_diverge/none/cpu"});
  EXPECT_EQ(test_names("-L 'mitigation=none$'").size(), expected.size());
  // No GPU here: no CUDA cell is registered, but asking for them registers the failing sentinel
  // (CudaAskedWithoutAGpu.* runs it).
  EXPECT_EQ(test_names("-L cuda"), std::vector<std::string>{"cell:cuda-no-gpu"});
  EXPECT_EQ(test_names("-L browser"), std::vector<std::string>{"cell:selftest_ok/none/cpu"});
  const std::vector<std::string> forced = [&] {
    std::vector<std::string> names;
    std::istringstream in(sh("cd '" + tmp / "build" + "' && TRAINWRECK_CTEST_DEVICES=cuda '" + ctest + "' -N").out);
    for (std::string line; std::getline(in, line);)
      if (line.find("cell:") != std::string::npos) names.push_back(line);
    return names;
  }();
  // The self-test scenarios have no CUDA cells at all; forced CUDA without a GPU is the sentinel.
  ASSERT_EQ(forced.size(), 1u);
  EXPECT_NE(forced[0].find("cell:cuda-no-gpu"), std::string::npos) << forced[0];
  // limits.exclusive becomes RUN_SERIAL: ctest -j runs nothing beside that cell either.
  const json shown = json::parse(sh(in_build + "--show-only=json-v1").out, nullptr, false);
  ASSERT_TRUE(shown.is_object() && shown.contains("tests"));
  std::set<std::string> serial;
  for (const auto& t : shown["tests"])
    for (const auto& p : t.value("properties", json::array()))
      if (p.value("name", "") == "RUN_SERIAL" && p.value("value", json(false)) == json(true))
        serial.insert(t.value("name", ""));
  EXPECT_EQ(serial, std::set<std::string>{"cell:selftest_flood_output/none/cpu"});

  const HostResult run = sh(in_build + "-R 'selftest_(ok|diverge|segfault)/' --output-junit '" + tmp / "ctest.xml" +
                            "' >/dev/null 2>&1 && echo passed");
  EXPECT_NE(run.out.find("passed"), std::string::npos) << slurp(tmp / "build/Testing/Temporary/LastTest.log");
  const std::string junit = slurp(tmp / "ctest.xml");
  EXPECT_NE(junit.find("tests=\"3\""), std::string::npos) << junit.substr(0, 400);
  EXPECT_NE(junit.find("failures=\"0\""), std::string::npos) << junit.substr(0, 400);
  EXPECT_TRUE(fs::exists(tmp / "build/cells-ctest/selftest_segfault.none.cpu/matrix.json"));
}

// `ctest -L cuda` on a machine where the probe finds no GPU must fail, not report "no tests"
// and exit 0; plain ctest (CUDA not asked for) is unaffected.
TEST(CtestCells, CudaAskedForWithoutAGpuFails) {
  const CmakeTools tools = build_tools();
  const std::string &cmake = tools.cmake, &ctest = tools.ctest;
  if (cmake.empty() || ctest.empty()) GTEST_SKIP() << "no CMakeCache.txt next to the harness host";
  TempDir tmp;
  write_cells_project(tmp, "");
  ASSERT_EQ(run_shell("'" + cmake + "' -S '" + tmp / "project" + "' -B '" + tmp / "build" + "'").code, 0);
  const std::string in_build = "cd '" + tmp / "build" + "' && env -u TRAINWRECK_CTEST_DEVICES '" + ctest + "' ";
  for (const std::string& select : {"-L cuda", "--label-regex 'cpu|cuda' -R 'no-gpu|selftest_ok/'"}) {
    const HostResult r = run_shell(in_build + select + " --output-on-failure");
    EXPECT_NE(r.code, 0) << select << "\n" << r.out;
    EXPECT_NE(r.out.find("probe found no GPU"), std::string::npos) << select << "\n" << r.out;
  }
  const HostResult forced = run_shell("cd '" + tmp / "build" + "' && TRAINWRECK_CTEST_DEVICES=cuda '" + ctest + "'");
  EXPECT_NE(forced.code, 0) << forced.out;
  // Not asked for: no sentinel, and the CPU cells pass.
  for (const std::string& args : {"-N", "-N -L matrix", "-N -LE cuda"})
    EXPECT_EQ(run_shell(in_build + args).out.find("cuda-no-gpu"), std::string::npos) << args;
  EXPECT_EQ(run_shell(in_build + "-L cpu -R 'selftest_ok/'").code, 0);
}

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
