// The machine-readable reports: JUnit XML for CI (well-formed whatever the names) and CSV with exact
// numbers.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "harness/report.h"
#include "report_test_util.h"
#include "test_support.h"

namespace {
using nlohmann::json;
using tw_test::cell;
using tw_test::count;
using namespace tw_test::report_util;

TEST(Junit, TestcasePerCellFailuresAndSkips) {
  const std::string xml = tw::render_junit(sample_matrix());
  EXPECT_EQ(xml_problem(xml), "") << xml;
  EXPECT_EQ(xml.rfind("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n", 0), 0u);
  EXPECT_EQ(count(xml, "<testcase "), 6u);
  EXPECT_EQ(count(xml, "</testcase>"), 6u);
  EXPECT_EQ(count(xml, "<failure "), 2u);
  // The unpinned cell ran: not skipped, but named by a suite property and its output's first line.
  EXPECT_EQ(count(xml, "<skipped "), 0u);
  EXPECT_NE(xml.find("<testsuite name=\"deep_sigmoid\" tests=\"2\" failures=\"0\" errors=\"0\" skipped=\"0\""),
            std::string::npos)
      << xml;
  EXPECT_NE(xml.find("<properties>\n      <property name=\"unpinned\" value=\"clip [cpu]: stalled loss 0.7\"/>\n"
                     "    </properties>"),
            std::string::npos)
      << xml;
  EXPECT_NE(xml.find("<system-out>unpinned: no expectation pinned; observed stalled loss 0.7\n"), std::string::npos);
  EXPECT_EQ(count(xml, "<testsuite "), 2u);  // one suite per scenario, across devices
  EXPECT_NE(xml.find("<testsuites name=\"trainwreck\" tests=\"6\" failures=\"2\" errors=\"0\" time=\""),
            std::string::npos)
      << xml;
  EXPECT_NE(xml.find("<testcase classname=\"lr_one\" name=\"lower_lr [cpu]\""), std::string::npos) << xml;
  EXPECT_NE(xml.find("message=\"diverged@9 (expected healthy)\""), std::string::npos) << xml;
  EXPECT_NE(xml.find("<testsuite name=\"lr_one\" tests=\"4\" failures=\"2\""), std::string::npos) << xml;
}

TEST(Junit, EscapesMarkupAndControlCharacters) {
  const std::string nasty = "a<b & \"c\" 'd' \x01\x1f end";
  json m = {{"cells",
             {cell(nasty, nasty, "cpu", "error", "healthy", {{"message", nasty}}),
              cell("plain", "none", "cpu", "crash", nullptr, {{"signal", nasty}})}}};
  const std::string xml = tw::render_junit(m);
  EXPECT_EQ(xml_problem(xml), "") << xml;
  EXPECT_NE(xml.find("a&lt;b &amp; &quot;c&quot; &apos;d&apos; ?? end"), std::string::npos) << xml;
  EXPECT_EQ(xml.find('\x01'), std::string::npos);
  EXPECT_EQ(xml.find('\x1f'), std::string::npos);
  EXPECT_EQ(count(xml, "<failure "), 1u);
  EXPECT_EQ(count(xml, "<property name=\"unpinned\" value=\"none [cpu]: crash a&lt;b &amp; &quot;c&quot;"), 1u) << xml;
}

TEST(Junit, OnlyACellThatDidNotRunIsSkipped) {
  json m = {{"cells",
             {cell("nccl", "none", "cpu", "unsupported", nullptr, {{"reason", "needs 2 GPUs"}}),
              cell("nccl", "timeout", "cpu", "unsupported", "hang", {{"reason", "needs 2 GPUs"}}),
              cell("nccl", "ran", "cpu", "hang", nullptr)}}};
  const std::string xml = tw::render_junit(m);
  EXPECT_EQ(xml_problem(xml), "") << xml;
  EXPECT_EQ(count(xml, "<skipped "), 1u) << xml;  // the pinned one that could not run is a failure
  EXPECT_NE(xml.find("<skipped message=\"not run: unsupported (needs 2 GPUs)\"/>"), std::string::npos) << xml;
  EXPECT_EQ(count(xml, "<failure "), 1u);
  EXPECT_NE(xml.find("skipped=\"1\""), std::string::npos);
  EXPECT_EQ(count(xml, "<property "), 1u);
}

TEST(Junit, ThePropertyCheckerCatchesBrokenXml) {
  // The checker above must be able to fail, or the junit tests prove nothing.
  EXPECT_NE(xml_problem("<a><b></a></b>"), "");
  EXPECT_NE(xml_problem("<a>x < y</a>"), "");
  EXPECT_NE(xml_problem("<a>x & y</a>"), "");
  EXPECT_NE(xml_problem("<a t=\"x & y\"/>"), "");
  EXPECT_NE(xml_problem("<a>\x01</a>"), "");
  EXPECT_NE(xml_problem("<a>"), "");
  EXPECT_EQ(xml_problem("<a t=\"&lt;&amp;\"><b/>x &gt; y</a>"), "");
}

TEST(Csv, HeaderAndOneLinePerCellWithItsIdAndExactNumbers) {
  json m = sample_matrix();
  m["cells"][0]["evidence"]["peak_mem_bytes"] = 428272.0;
  m["cells"][0]["evidence"]["final_loss"] = 10456444960768.123;
  m["cells"][1]["evidence"]["final_eval_loss"] = 0.0812345678901234;
  m["scenarios"] = {{"lr_one", {{"article_row", "hyper-parameters"}}}};
  const auto rows = parse_csv(tw::render_csv(m));
  ASSERT_EQ(rows.size(), 7u);
  EXPECT_EQ(rows[0], (std::vector<std::string>{"id",
                                               "scenario",
                                               "fault",
                                               "mitigation",
                                               "device",
                                               "outcome",
                                               "expected",
                                               "verdict",
                                               "summary",
                                               "symptom_step",
                                               "detected_step",
                                               "reached_step",
                                               "final_loss",
                                               "final_eval_loss",
                                               "peak_mem_bytes",
                                               "mem_growth_bytes_per_step",
                                               "wall_seconds",
                                               "stack",
                                               "seeds",
                                               "article_row",
                                               "train_seconds",
                                               "step_seconds_median",
                                               "peak_alloc_bytes",
                                               "peak_reserved_bytes",
                                               "mem_growth_bytes"}));
  for (const auto& r : rows) EXPECT_EQ(r.size(), 25u);
  EXPECT_EQ(rows[3], (std::vector<std::string>{"lr_one/lower_lr/cpu",
                                               "lr_one",
                                               "fault_of_lr_one",
                                               "lower_lr",
                                               "cpu",
                                               "diverged",
                                               "healthy",
                                               "unexpected",
                                               "diverged@9",
                                               "9",
                                               "",
                                               "",
                                               "",
                                               "",
                                               "",
                                               "",
                                               "",
                                               "",
                                               "",
                                               "hyper-parameters",
                                               "",
                                               "",
                                               "",
                                               "",
                                               ""}));
  EXPECT_EQ(rows[5][6], "");   // unpinned: no expectation
  EXPECT_EQ(rows[5][19], "");  // no article row known
  EXPECT_EQ(rows[1][16], "1.5");
  EXPECT_EQ(rows[1][14], "428272");              // all digits, not 4.283e+05
  EXPECT_EQ(rows[1][12], "10456444960768.123");  // as the matrix holds it
  EXPECT_EQ(std::stod(rows[2][13]), 0.0812345678901234);
  EXPECT_EQ(rows[2][11], "40");
}

TEST(Csv, TheTimingAndMemoryNumbersDiffComparesExactly) {
  json m = sample_matrix();
  m["cells"][1]["evidence"].update({{"train_seconds", 1.2345678901234567},
                                    {"step_seconds_median", 0.0012345678901234567},
                                    {"peak_alloc_bytes", 123456789.0},
                                    {"peak_reserved_bytes", 268435456},
                                    {"mem_growth_bytes", -4096.0}});
  const auto rows = parse_csv(tw::render_csv(m));
  ASSERT_EQ(rows.size(), 7u);
  ASSERT_EQ(rows[0].size(), 25u);
  ASSERT_EQ(rows[2].size(), 25u);
  EXPECT_EQ(std::vector<std::string>(rows[0].begin() + 20, rows[0].end()),
            (std::vector<std::string>{"train_seconds", "step_seconds_median", "peak_alloc_bytes", "peak_reserved_bytes",
                                      "mem_growth_bytes"}));
  // Every digit that tells the double apart: it reads back as the same number.
  EXPECT_EQ(std::stod(rows[2][20]), 1.2345678901234567) << rows[2][20];
  EXPECT_EQ(std::stod(rows[2][21]), 0.0012345678901234567) << rows[2][21];
  EXPECT_EQ(std::vector<std::string>(rows[2].begin() + 22, rows[2].end()),
            (std::vector<std::string>{"123456789", "268435456", "-4096"}));
  EXPECT_EQ(std::vector<std::string>(rows[1].begin() + 20, rows[1].end()), std::vector<std::string>(5, ""));
}

TEST(Csv, QuotesFieldsThatNeedIt) {
  const std::vector<std::string> tricky = {"a,b", "say \"hi\"", "two\nlines", "carriage\rreturn", "\"", ","};
  json cells = json::array();
  for (const auto& t : tricky) {
    json c = cell(t, t, "cpu", "stalled", "stalled", {{"final_loss", t}});
    cells.push_back(c);
  }
  const std::string csv = tw::render_csv(json{{"cells", cells}});
  const auto rows = parse_csv(csv);
  ASSERT_EQ(rows.size(), tricky.size() + 1) << csv;
  for (std::size_t i = 0; i < tricky.size(); ++i) {
    SCOPED_TRACE(tricky[i]);
    ASSERT_EQ(rows[i + 1].size(), 25u);
    EXPECT_EQ(rows[i + 1][0], tricky[i] + "/" + tricky[i] + "/cpu");
    EXPECT_EQ(rows[i + 1][1], tricky[i]);
    EXPECT_EQ(rows[i + 1][3], tricky[i]);
    EXPECT_EQ(rows[i + 1][12], tricky[i]);
    EXPECT_EQ(rows[i + 1][8], "stalled loss " + tricky[i]);
  }
  EXPECT_NE(csv.find("\"say \"\"hi\"\"\""), std::string::npos) << csv;
  // Plain fields stay unquoted.
  EXPECT_EQ(csv.find("\"cpu\""), std::string::npos);
}

}  // namespace
