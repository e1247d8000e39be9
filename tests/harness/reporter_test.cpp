// The reporters' registry (harness/report/reporter.h): the formats it lists, the --format error
// and the usage text that come from it, and the tap and github formats read line by line.
#include "harness/report/reporter.h"

#include <gtest/gtest.h>

#include <cstddef>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "harness/errors.h"
#include "harness/report.h"
#include "test_support.h"

#ifndef HARNESS_HOST
#error "HARNESS_HOST must name the trainwreck_harness_host executable"
#endif

namespace {
using nlohmann::json;
using namespace tw_test;

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

std::vector<std::string> registered_names() {
  std::vector<std::string> names;
  for (const tw::Reporter* r : tw::reporters()) names.emplace_back(r->name());
  return names;
}

std::string render(const std::string& format, const json& matrix) {
  const tw::Reporter* r = tw::find_reporter(format);
  if (!r) throw std::runtime_error("no reporter " + format);
  return r->render(tw::Matrix(matrix), nullptr, false);
}

// A cell of every kind: pass, unexpected, unpinned, not run, flaky, seed-dependent.
json sample_matrix() {
  json cells = json::array();
  cells.push_back(cell("lr_one", "none", "cpu", "diverged", "diverged", {{"symptom_step", 3}}));
  cells.push_back(cell("lr_one", "lower_lr", "cpu", "diverged", "healthy", {{"symptom_step", 9}}));
  cells.push_back(cell("deep_sigmoid", "clip", "cpu", "stalled", nullptr, {{"final_loss", 0.7}}));
  cells.push_back(cell("two_gpus", "none", "cuda", "unsupported", nullptr, {{"reason", "needs 2 GPUs # found 1"}}));
  cells.push_back(cell("lr_one", "clip", "cpu", "healthy", "healthy", {{"reached_step", 40}}));
  cells.back()["verdict"] = "flaky";
  cells.push_back(cell("lr_one", "warmup", "cpu", "healthy", "healthy", {{"reached_step", 30}}));
  cells.back()["verdict"] = "seed-dependent";
  return {{"context", {{"host", {{"cpu", "Test CPU"}}}}}, {"cells", cells}};
}

// The ids of the cells whose verdict is a failure, in the matrix's order.
std::vector<std::string> failing_ids(const json& matrix) {
  std::vector<std::string> ids;
  for (const auto& c : matrix["cells"]) {
    const std::string v = c["verdict"];
    if (v != "pass" && v != "unpinned") ids.push_back(c["id"]);
  }
  return ids;
}

// ---- the registry ---------------------------------------------------------------------------------

TEST(ReporterRegistry, ListsTheEightFormatsOnceInUsageOrder) {
  EXPECT_EQ(registered_names(),
            (std::vector<std::string>{"text", "md", "html", "junit", "csv", "json", "tap", "github"}));
  std::vector<std::string> with_baseline;
  for (const tw::Reporter* r : tw::reporters()) {
    EXPECT_EQ(tw::find_reporter(r->name()), r) << r->name();
    EXPECT_FALSE(r->description().empty()) << r->name();
    EXPECT_EQ(r->description().find('\n'), std::string::npos) << r->name();
    if (r->takes_baseline()) with_baseline.emplace_back(r->name());
  }
  EXPECT_EQ(with_baseline, (std::vector<std::string>{"text", "md", "html"}));
  EXPECT_EQ(tw::find_reporter("pdf"), nullptr);
  EXPECT_EQ(tw::find_reporter(""), nullptr);
  EXPECT_EQ(tw::find_reporter("TAP"), nullptr);
}

TEST(ReporterRegistry, UnknownFormatErrorNamesEveryFormat) {
  TempDir tmp;
  const std::string matrix = tmp.write("matrix.json", sample_matrix().dump());
  const ShellResult r = run_host("report '" + matrix + "' --format pdf");
  EXPECT_EQ(r.code, tw::kExitBadInput);
  EXPECT_EQ(r.out, "");
  // "trainwreck: command line: field '--format': must be text, md, ... or github (got 'pdf')"
  const std::string head = "must be ", tail = " (got 'pdf')\n";
  const std::size_t from = r.err.find(head);
  ASSERT_NE(from, std::string::npos) << r.err;
  ASSERT_GE(r.err.size(), tail.size());
  ASSERT_EQ(r.err.substr(r.err.size() - tail.size()), tail) << r.err;
  std::string list = r.err.substr(from + head.size(), r.err.size() - tail.size() - from - head.size());
  const std::size_t last = list.rfind(" or ");
  ASSERT_NE(last, std::string::npos) << list;
  list = list.substr(0, last) + ", " + list.substr(last + 4);
  std::vector<std::string> named;
  for (std::size_t pos = 0; pos <= list.size();) {
    const std::size_t comma = std::min(list.find(", ", pos), list.size());
    named.push_back(list.substr(pos, comma - pos));
    pos = comma + 2;
  }
  EXPECT_EQ(named, registered_names());
}

TEST(ReporterRegistry, BaselineErrorNamesTheFormatsThatTakeIt) {
  TempDir tmp;
  const std::string matrix = tmp.write("matrix.json", sample_matrix().dump());
  const ShellResult r = run_host("report '" + matrix + "' --format tap --baseline '" + matrix + "'");
  EXPECT_EQ(r.code, tw::kExitBadInput);
  EXPECT_NE(r.err.find("'--baseline': applies to the text, md and html formats only"), std::string::npos) << r.err;
}

TEST(ReporterRegistry, UsageListsEveryFormatWithItsDescription) {
  const ShellResult help = run_host("--help");
  ASSERT_EQ(help.code, 0);
  std::string words;
  for (const auto& name : registered_names()) words += (words.empty() ? "" : "|") + name;
  std::map<std::string, std::string> described;  // name -> the rest of its line
  bool report_line = false;
  for (const auto& line : lines(help.out)) {
    report_line = report_line || line.rfind("  trainwreck report DIR [--format " + words + "]", 0) == 0;
    std::istringstream in(line);
    std::string name;
    in >> name;
    if (line.rfind("  " + name + "   ", 0) == 0 && tw::find_reporter(name)) {
      std::string rest;
      std::getline(in >> std::ws, rest);
      described[name] = rest;
    }
  }
  EXPECT_TRUE(report_line) << help.out;
  ASSERT_EQ(described.size(), tw::reporters().size()) << help.out;
  for (const tw::Reporter* r : tw::reporters()) EXPECT_EQ(described[std::string(r->name())], r->description());
}

// ---- tap --------------------------------------------------------------------------------------------

struct TapPoint {
  bool ok = false;
  int number = 0;
  std::string description;  // up to an unescaped '#'
  std::string directive;    // after it: "SKIP ..."
  std::map<std::string, json> yaml;  // the diagnostic block after the point, its values parsed
};

struct Tap {
  std::string version, plan;
  std::vector<TapPoint> points;
  std::vector<std::string> comments;
};

// "ok 3 - text # SKIP why": its parts; '#' escaped as "\#" stays in the description.
TapPoint tap_point(const std::string& line) {
  TapPoint p;
  p.ok = line.rfind("ok ", 0) == 0;
  std::size_t at = p.ok ? 3 : 7;
  EXPECT_TRUE(p.ok || line.rfind("not ok ", 0) == 0) << line;
  const std::size_t dash = line.find(" - ", at);
  EXPECT_NE(dash, std::string::npos) << line;
  p.number = std::stoi(line.substr(at, dash - at));
  std::string rest = line.substr(dash + 3);
  for (std::size_t i = 0; i < rest.size(); ++i) {
    if (rest[i] == '\\') {
      ++i;
    } else if (rest[i] == '#') {
      p.directive = rest.substr(i + 1);
      rest = rest.substr(0, i);
      break;
    }
  }
  while (!p.directive.empty() && p.directive.front() == ' ') p.directive.erase(0, 1);
  while (!rest.empty() && rest.back() == ' ') rest.pop_back();
  p.description = rest;
  return p;
}

Tap parse_tap(const std::string& text) {
  Tap t;
  const std::vector<std::string> ls = lines(text);
  EXPECT_GE(ls.size(), 2u);
  if (ls.size() < 2) return t;
  t.version = ls[0];
  t.plan = ls[1];
  for (std::size_t i = 2; i < ls.size(); ++i) {
    const std::string& line = ls[i];
    if (line.rfind("# ", 0) == 0) {
      t.comments.push_back(line.substr(2));
    } else if (line == "  ---") {
      EXPECT_FALSE(t.points.empty()) << "a YAML block before any test point";
      for (++i; i < ls.size() && ls[i] != "  ..."; ++i) {
        const std::size_t colon = ls[i].find(": ");
        EXPECT_EQ(ls[i].rfind("  ", 0), 0u) << ls[i];
        EXPECT_NE(colon, std::string::npos) << ls[i];
        if (colon != std::string::npos && !t.points.empty())
          t.points.back().yaml[ls[i].substr(2, colon - 2)] = json::parse(ls[i].substr(colon + 2));
      }
      EXPECT_LT(i, ls.size()) << "a YAML block without its end";
    } else {
      t.points.push_back(tap_point(line));
    }
  }
  return t;
}

TEST(TapReporter, PlanThenOnePointPerCellNotOkForEachFailure) {
  const json m = sample_matrix();
  const Tap tap = parse_tap(render("tap", m));
  EXPECT_EQ(tap.version, "TAP version 14");
  EXPECT_EQ(tap.plan, "1.." + std::to_string(m["cells"].size()));
  ASSERT_EQ(tap.points.size(), m["cells"].size());
  const std::vector<std::string> failing = failing_ids(m);
  std::vector<std::string> not_ok;
  for (std::size_t i = 0; i < tap.points.size(); ++i) {
    const TapPoint& p = tap.points[i];
    const json& c = m["cells"][i];
    EXPECT_EQ(p.number, static_cast<int>(i + 1));
    EXPECT_EQ(p.description.rfind(c["id"].get<std::string>() + ": ", 0), 0u) << p.description;
    if (p.ok) {
      EXPECT_TRUE(p.yaml.empty()) << c["id"];
      continue;
    }
    not_ok.push_back(c["id"]);
    EXPECT_EQ(p.directive, "");
    EXPECT_EQ(p.yaml.at("verdict"), c["verdict"]);
    EXPECT_EQ(p.yaml.at("outcome"), c["outcome"]);
    EXPECT_EQ(p.yaml.at("expected"), c["expected"]);
    EXPECT_EQ(p.yaml.at("summary"), tw::cell_summary(c));
  }
  EXPECT_EQ(not_ok, failing);
  EXPECT_EQ(not_ok, (std::vector<std::string>{"lr_one/lower_lr/cpu", "lr_one/clip/cpu", "lr_one/warmup/cpu"}));
  // Not run: ok, skipped, the '#' of its reason escaped; unpinned: ok, and said.
  EXPECT_EQ(tap.points[3].directive, "SKIP not run: needs 2 GPUs \\# found 1");
  EXPECT_EQ(tap.points[2].description, "deep_sigmoid/clip/cpu: stalled loss 0.7 (unpinned)");
  EXPECT_EQ(tap.points[1].yaml.at("summary"), "diverged@9");
  ASSERT_EQ(tap.comments.size(), 1u);
  EXPECT_EQ(tap.comments[0], tw::count_verdicts(tw::Matrix(m)).text());
}

TEST(TapReporter, EmptyMatrixHasAnEmptyPlan) {
  const Tap tap = parse_tap(render("tap", json{{"cells", json::array()}}));
  EXPECT_EQ(tap.plan, "1..0");
  EXPECT_TRUE(tap.points.empty());
}

// A selftest run rendered by the harness host; one cell's expectation then changed so that it fails.
TEST(TapReporter, SelftestRunThroughTheCommandLine) {
  TempDir tmp;
  const ShellResult run = run_host("selftest --quiet --jobs 2 --filter 'selftest_ok/*' --filter 'selftest_diverge/*' "
                                   "--out '" + tmp / "run" + "'");
  ASSERT_EQ(run.code, 0) << run.err;
  json m = read_json(tmp / "run/matrix.json");
  ASSERT_EQ(m["cells"].size(), 2u);
  const ShellResult passing = run_host("report '" + tmp / "run" + "' --format tap");
  EXPECT_EQ(passing.code, 0) << passing.err;
  Tap tap = parse_tap(passing.out);
  EXPECT_EQ(tap.plan, "1..2");
  ASSERT_EQ(tap.points.size(), 2u);
  for (const TapPoint& p : tap.points) EXPECT_TRUE(p.ok) << p.description;

  m["cells"][1]["expected"] = "healthy";
  m["cells"][1]["verdict"] = "unexpected";
  write(tmp / "changed.json", m.dump());
  tap = parse_tap(run_host("report '" + tmp / "changed.json" + "' --format tap").out);
  EXPECT_EQ(tap.plan, "1..2");
  ASSERT_EQ(tap.points.size(), 2u);
  EXPECT_TRUE(tap.points[0].ok);
  EXPECT_FALSE(tap.points[1].ok);
  EXPECT_EQ(tap.points[1].yaml.at("expected"), "healthy");
  EXPECT_EQ(tap.points[1].yaml.at("outcome"), m["cells"][1]["outcome"]);
}

// ---- github -----------------------------------------------------------------------------------------

// The first column of the table rows after line `from`, up to the first line that is not a row;
// the index of that line in `end`.
std::vector<std::string> table_ids(const std::vector<std::string>& ls, std::size_t from, std::size_t& end) {
  std::vector<std::string> ids;
  std::size_t i = from;
  EXPECT_LT(i + 1, ls.size());
  EXPECT_EQ(ls[i], "| cell | verdict | outcome | expected |");
  EXPECT_EQ(ls[i + 1], "|---|---|---|---|");
  for (i += 2; i < ls.size() && ls[i].rfind("| `", 0) == 0; ++i) {
    const std::size_t close = ls[i].find("` |", 3);
    EXPECT_NE(close, std::string::npos) << ls[i];
    ids.push_back(ls[i].substr(3, close - 3));
    EXPECT_EQ(count(ls[i], " | "), 3u) << ls[i];
  }
  end = i;
  return ids;
}

std::size_t index_of(const std::vector<std::string>& ls, const std::string& line) {
  for (std::size_t i = 0; i < ls.size(); ++i)
    if (ls[i] == line) return i;
  return ls.size();
}

TEST(GithubReporter, HeadingCountsThenTheFailingCellsFirst) {
  const json m = sample_matrix();
  const std::vector<std::string> ls = lines(render("github", m));
  ASSERT_GE(ls.size(), 4u);
  EXPECT_EQ(ls[0], "## ❌ trainwreck: 3 of 6 cells failed");
  EXPECT_EQ(ls[1], "");
  EXPECT_EQ(ls[2], "6 cells: 1 as expected, 1 unexpected, 2 unpinned, 1 flaky, 1 seed-dependent.");
  EXPECT_EQ(ls[2], tw::count_verdicts(tw::Matrix(m)).text() + ".");

  const std::size_t failing_heading = index_of(ls, "### Failing cells");
  const std::size_t details = index_of(ls, "<details>");
  ASSERT_LT(failing_heading, details);
  std::size_t end = 0;
  EXPECT_EQ(table_ids(ls, failing_heading + 2, end), failing_ids(m));
  EXPECT_LT(end, details);

  ASSERT_LT(details + 3, ls.size());
  EXPECT_EQ(ls[details + 1], "<summary>Every cell (6)</summary>");
  std::vector<std::string> all;
  for (const auto& c : m["cells"]) all.push_back(c["id"]);
  EXPECT_EQ(table_ids(ls, details + 3, end), all);
  EXPECT_EQ(ls.back(), "</details>");
  // The row of a cell: its verdict, its outcome with the key number, its expectation.
  EXPECT_NE(index_of(ls, "| `lr_one/lower_lr/cpu` | unexpected | diverged@9 | healthy |"), ls.size());
  EXPECT_NE(index_of(ls, "| `deep_sigmoid/clip/cpu` | unpinned | stalled loss 0.7 | — |"), ls.size());
}

TEST(GithubReporter, NoFailingTableWhenNothingFailed) {
  json cells = json::array();
  cells.push_back(cell("lr_one", "none", "cpu", "diverged", "diverged", {{"symptom_step", 3}}));
  cells.push_back(cell("lr_one", "clip", "cpu", "healthy", nullptr, {{"reached_step", 40}}));
  const std::vector<std::string> ls = lines(render("github", json{{"cells", cells}}));
  ASSERT_GE(ls.size(), 3u);
  EXPECT_EQ(ls[0], "## ✅ trainwreck: no cell failed");
  EXPECT_EQ(ls[2], "2 cells: 1 as expected, 0 unexpected, 1 unpinned.");
  EXPECT_EQ(index_of(ls, "### Failing cells"), ls.size());
  EXPECT_EQ(ls[4], "<details>");
}

}  // namespace
