// `trainwreck report` end to end: a finished run rendered in every format, evidence pages and
// figures from the matrix alone, and JUnit of the shape CI reporters read.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <regex>
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

}  // namespace
