#include "harness/report.h"

#include <gtest/gtest.h>

#include <cctype>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "harness/errors.h"
#include "harness/figures.h"
#include "harness/text_util.h"
#include "test_support.h"

namespace {
using nlohmann::json;
using tw_test::cell;
using tw_test::count;

// Two scenarios x three mitigations on cpu (one cell missing), one scenario on cuda.
json sample_matrix() {
  json cells = json::array();
  cells.push_back(cell("lr_one", "none", "cpu", "diverged", "diverged", {{"symptom_step", 3}, {"wall_seconds", 1.5}}));
  cells.push_back(cell("lr_one", "clip", "cpu", "healthy", "healthy", {{"reached_step", 40}, {"wall_seconds", 2.0}}));
  cells.push_back(cell("lr_one", "lower_lr", "cpu", "diverged", "healthy", {{"symptom_step", 9}}));
  cells.push_back(cell("deep_sigmoid", "none", "cpu", "stalled", "stalled", {{"final_loss", 0.69}}));
  cells.push_back(cell("deep_sigmoid", "clip", "cpu", "stalled", nullptr, {{"final_loss", 0.7}}));
  cells.push_back(cell("lr_one", "none", "cuda", "crash", "diverged", {{"signal", "SIGSEGV"}}));
  return {{"context", {{"host", {{"cpu", "Test CPU"}, {"git_revision", "abc123"}}}}}, {"cells", cells}};
}

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

TEST(CellSummary, KeyNumberPerOutcome) {
  EXPECT_EQ(tw::cell_summary({{"outcome", "diverged"}, {"evidence", {{"symptom_step", 3}}}}), "diverged@3");
  EXPECT_EQ(
      tw::cell_summary({{"outcome", "detected"}, {"evidence", {{"detected_step", 5}, {"detection_latency_steps", 2}}}}),
      "detected@5 (+2)");
  EXPECT_EQ(tw::cell_summary({{"outcome", "detected"}, {"evidence", {{"detected_step", 5}}}}), "detected@5");
  EXPECT_EQ(tw::cell_summary({{"outcome", "healthy"}, {"evidence", {{"reached_step", 12}}}}), "healthy@12");
  EXPECT_EQ(tw::cell_summary({{"outcome", "stalled"}, {"evidence", {{"final_loss", 0.6931}}}}), "stalled loss 0.6931");
  EXPECT_EQ(tw::cell_summary({{"outcome", "stalled"}, {"evidence", {{"final_loss", "nan"}}}}), "stalled loss nan");
  EXPECT_EQ(tw::cell_summary({{"outcome", "leak"}, {"evidence", {{"mem_growth_bytes_per_step", 4194304.0}}}}),
            "leak +4MiB/step");
  EXPECT_EQ(tw::cell_summary({{"outcome", "oom"}, {"evidence", {{"peak_mem_bytes", 268435456}}}}), "oom @256MiB");
  EXPECT_EQ(tw::cell_summary({{"outcome", "crash"}, {"evidence", {{"signal", "SIGSEGV"}}}}), "crash SIGSEGV");
  EXPECT_EQ(tw::cell_summary({{"outcome", "hang"}, {"evidence", {{"watchdog", "heartbeat"}}}}), "hang (heartbeat)");
  EXPECT_EQ(tw::cell_summary({{"outcome", "error"}, {"evidence", {{"message", "x"}}}}), "error");
  EXPECT_EQ(tw::cell_summary({{"outcome", "unsupported"}, {"evidence", {{"reason", "no GPU"}}}}), "unsupported");
}

TEST(CellSummary, MissingEvidenceGivesTheBareOutcome) {
  for (const char* o : {"diverged", "detected", "healthy", "stalled", "leak", "oom", "crash", "hang"})
    EXPECT_EQ(tw::cell_summary({{"outcome", o}}), o);
  EXPECT_EQ(tw::cell_summary(json::object()), "?");
}

TEST(SummarizeVerdicts, Counts) {
  EXPECT_EQ(tw::summarize_verdicts(sample_matrix()),
            json({{"total", 6}, {"pass", 3}, {"unexpected", 2}, {"unpinned", 1}, {"flaky", 0}, {"seed_dependent", 0}}));
  EXPECT_EQ(tw::summarize_verdicts(json::object())["total"], 0);
}

// The rows of the table under "### <device>": each split into its cells.
std::vector<std::vector<std::string>> markdown_table(const std::string& md, const std::string& device) {
  std::vector<std::vector<std::string>> rows;
  bool inside = false;
  for (const auto& line : lines(md)) {
    if (line.rfind("### ", 0) == 0) {
      inside = line.rfind("### " + device, 0) == 0;
      continue;
    }
    if (!inside || line.rfind("|", 0) != 0) continue;
    std::vector<std::string> cells;
    std::string cur;
    for (std::size_t i = 1; i < line.size(); ++i) {
      if (line[i] == '\\' && i + 1 < line.size() && line[i + 1] == '|') {
        cur += '|';
        ++i;
      } else if (line[i] == '|') {
        const auto first = cur.find_first_not_of(' '), last = cur.find_last_not_of(' ');
        cells.push_back(first == std::string::npos ? "" : cur.substr(first, last - first + 1));
        cur.clear();
      } else {
        cur += line[i];
      }
    }
    rows.push_back(cells);
  }
  return rows;
}

TEST(Markdown, OneLinePerScenarioRemediesByHowTheyRead) {
  const std::string md = tw::render_markdown(sample_matrix());
  const auto cpu = markdown_table(md, "cpu");
  ASSERT_EQ(cpu.size(), 4u) << md;  // header, separator, two scenarios
  EXPECT_EQ(cpu[0], (std::vector<std::string>{"scenario", "none", "healed", "caught", "not enough"}));
  EXPECT_EQ(cpu[2], (std::vector<std::string>{"`lr_one` (fault_of_lr_one)", "diverged@3", "`clip` @40", "—",
                                              "**`lower_lr` (diverged@9)** ✗ expected healthy"}));
  EXPECT_EQ(cpu[3], (std::vector<std::string>{"`deep_sigmoid` (fault_of_deep_sigmoid)", "stalled loss 0.69", "—", "—",
                                              "`clip` (stalled loss 0.7) (unpinned)"}));
  const auto cuda = markdown_table(md, "cuda");
  ASSERT_EQ(cuda.size(), 3u) << md;
  EXPECT_EQ(cuda[2][1], "**crash SIGSEGV** ✗ expected diverged");
  EXPECT_EQ(count(md, "✗ expected"), 2u);
  EXPECT_NE(md.find("6 cells: 3 as expected, 2 unexpected, 1 unpinned."), std::string::npos) << md;
  EXPECT_NE(md.find("### cpu (Test CPU)"), std::string::npos) << md;
  EXPECT_NE(md.find("#### other scenarios"), std::string::npos) << md;  // no article rows in this matrix
}

TEST(Markdown, ATablePerArticleRowInTheArticlesOrderAndShortLines) {
  json m = sample_matrix();
  m["scenarios"] = {{"lr_one", {{"article_row", "hyper-parameters"}}}, {"deep_sigmoid", {{"article_row", "data"}}}};
  const std::string md = tw::render_markdown(m);
  const std::size_t data = md.find("#### data"), hyper = md.find("#### hyper-parameters");
  ASSERT_NE(data, std::string::npos) << md;
  ASSERT_NE(hyper, std::string::npos) << md;
  EXPECT_LT(data, hyper);  // the article's order, not the plan's
  EXPECT_EQ(count(md, "| scenario | none | healed | caught | not enough |"), 3u);  // two rows on cpu, one on cuda
  for (const auto& line : lines(md))
    if (line.rfind("|", 0) != 0) EXPECT_LE(line.size(), 120u) << line;
}

TEST(Markdown, PipesAndNewlinesDoNotBreakTheTable) {
  json m = {{"cells",
             {cell("a|b", "none", "cpu", "crash", "crash", {{"signal", "SIG\nNEW"}}),
              cell("a|b", "x|y\rz", "cpu", "healthy", "healthy", {{"reached_step", 7}}),
              cell("a|b", "p|q\r\nr", "cpu", "stalled", "healthy", {{"final_loss", 0.5}})}}};
  const std::string md = tw::render_markdown(m);
  EXPECT_EQ(md.find('\r'), std::string::npos);
  EXPECT_EQ(md.find("\\\\|"), std::string::npos) << "escaped once, not twice\n" << md;
  const auto rows = markdown_table(md, "cpu");
  ASSERT_EQ(rows.size(), 3u) << md;
  ASSERT_EQ(rows[2].size(), 5u) << md;
  EXPECT_EQ(rows[2][0], "`a|b` (fault_of_a|b)");
  EXPECT_EQ(rows[2][1], "crash SIG NEW");
  EXPECT_EQ(rows[2][2], "`x|y z` @7");                                         // a lone CR is a line break too
  EXPECT_EQ(rows[2][4], "**`p|q r` (stalled loss 0.5)** ✗ expected healthy");  // CR LF: one space
  EXPECT_EQ(tw::md_escape("a|b\r\nc\rd\ne"), "a\\|b c d e");
}

// Enough of XML 1.0 for what the renderer emits: balanced elements, quoted attributes,
// known entities and decimal character references only, no raw '<' or '&', no forbidden control characters.
std::string xml_problem(const std::string& xml) {
  auto entity_at = [&](std::size_t k) {
    for (const char* ent : {"&amp;", "&lt;", "&gt;", "&quot;", "&apos;"})
      if (xml.compare(k, std::string(ent).size(), ent) == 0) return true;
    // A decimal character reference (the figures' "&#215;").
    std::size_t d = k + 2;
    while (d < xml.size() && std::isdigit(static_cast<unsigned char>(xml[d]))) ++d;
    return xml.compare(k, 2, "&#") == 0 && d > k + 2 && d < xml.size() && xml[d] == ';';
  };
  auto forbidden = [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u < 0x20 && c != '\n' && c != '\t' && c != '\r';
  };
  std::vector<std::string> open;
  std::size_t i = 0;
  if (xml.compare(0, 5, "<?xml") == 0) i = xml.find("?>") + 2;
  while (i < xml.size()) {
    if (forbidden(xml[i])) return "control character in text";
    if (xml[i] == '&' && !entity_at(i)) return "bare '&' in text";
    if (xml[i] != '<') {
      ++i;
      continue;
    }
    // A tag: quoted attribute values may hold '>' but not '<'.
    std::size_t k = i + 1;
    char quote = 0;
    for (; k < xml.size(); ++k) {
      const char c = xml[k];
      if (forbidden(c)) return "control character in a tag";
      if (quote) {
        if (c == quote) quote = 0;
        else if (c == '<') return "raw '<' in an attribute";
        else if (c == '&' && !entity_at(k)) return "bare '&' in an attribute";
      } else if (c == '"' || c == '\'') {
        quote = c;
      } else if (c == '<') {
        return "raw '<' in text";
      } else if (c == '>') {
        break;
      }
    }
    if (k >= xml.size()) return "unterminated tag";
    const std::string tag = xml.substr(i + 1, k - i - 1);
    if (tag.empty()) return "empty tag";
    const bool closing = tag[0] == '/';
    const std::size_t from = closing ? 1 : 0;
    const std::string name = tag.substr(from, tag.find_first_of(" /", from) - from);
    if (closing) {
      if (open.empty() || open.back() != name) return "mismatched </" + name + ">";
      open.pop_back();
    } else if (tag.back() != '/') {
      open.push_back(name);
    }
    i = k + 1;
  }
  return open.empty() ? "" : "unclosed <" + open.back() + ">";
}

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

// RFC 4180 reader: quoted fields may hold commas, quotes ("") and line breaks.
std::vector<std::vector<std::string>> parse_csv(const std::string& text) {
  std::vector<std::vector<std::string>> rows(1);
  std::string field;
  bool quoted = false, was_quoted = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (quoted) {
      if (c == '"' && i + 1 < text.size() && text[i + 1] == '"') {
        field += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        field += c;
      }
    } else if (c == '"' && field.empty() && !was_quoted) {
      quoted = was_quoted = true;
    } else if (c == ',') {
      rows.back().push_back(field);
      field.clear();
      was_quoted = false;
    } else if (c == '\n' || c == '\r') {
      // An unquoted CR or LF ends the record, as it does for spreadsheet and csv readers.
      if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ++i;
      rows.back().push_back(field);
      field.clear();
      was_quoted = false;
      rows.emplace_back();
    } else {
      field += c;
    }
  }
  if (rows.back().empty() && field.empty()) rows.pop_back();
  else rows.back().push_back(field);
  return rows;
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

// ---- stacks and seeds -----------------------------------------------------------------------

json with_seeds(json c, const std::vector<std::string>& outcomes, const std::string& verdict) {
  json values = json::array(), evidence = json::array(), counts = json::object();
  for (std::size_t i = 0; i < outcomes.size(); ++i) {
    values.push_back(100 + i);
    evidence.push_back({{"steps", 10 + i}});
    counts[outcomes[i]] = counts.value(outcomes[i], 0) + 1;
  }
  c["seeds"] = {{"values", values}, {"outcomes", outcomes}, {"counts", counts}, {"evidence", evidence}};
  c["verdict"] = verdict;
  return c;
}

// A stacked remedy whose three seeds agree, a cell whose seeds disagree, one pinned cell whose
// seeds agree on another outcome, and a plain cell.
json seeds_matrix() {
  json resnet = cell("deep", "resnet", "cpu", "healthy", "healthy", {{"reached_step", 40}});
  resnet["stack"] = {"residual", "batchnorm", "he_init"};
  resnet["mitigation_name"] = "residual+batchnorm+he_init";
  json cells = json::array();
  cells.push_back(with_seeds(resnet, {"healthy", "healthy", "healthy"}, "pass"));
  cells.push_back(with_seeds(cell("deep", "none", "cpu", "diverged", "diverged", {{"symptom_step", 16}}),
                             {"diverged", "diverged", "stalled"}, "seed-dependent"));
  cells.push_back(with_seeds(cell("lr_one", "none", "cpu", "stalled", "diverged", {{"final_loss", 2.5}}),
                             {"stalled", "stalled", "stalled"}, "unexpected"));
  cells.push_back(with_seeds(cell("lr_one", "clip", "cpu", "stalled", nullptr, {{"final_loss", 2.5}}),
                             {"stalled", "healthy", "stalled"}, "seed-dependent"));
  return {{"cells", cells}};
}

TEST(Seeds, TextSaysHowManySeedsAgreed) {
  const json m = seeds_matrix();
  EXPECT_EQ(tw::seeds_text(m["cells"][0]), "3/3 seeds");
  EXPECT_FALSE(tw::seeds_disagree(m["cells"][0]));
  EXPECT_EQ(tw::cell_display(m["cells"][0]), "healthy@40 (3/3 seeds)");
  EXPECT_EQ(tw::seeds_text(m["cells"][1]), "diverged 2/3, stalled 1/3");
  EXPECT_TRUE(tw::seeds_disagree(m["cells"][1]));
  EXPECT_EQ(tw::cell_display(m["cells"][1]), "diverged 2/3, stalled 1/3");
  EXPECT_EQ(tw::cell_display(m["cells"][3]), "stalled 2/3, healthy 1/3");  // most frequent first
  const json plain = cell("a", "b", "cpu", "healthy", nullptr, {{"reached_step", 3}});
  EXPECT_EQ(tw::seeds_text(plain), "");
  EXPECT_EQ(tw::cell_display(plain), "healthy@3");
  EXPECT_EQ(tw::mitigation_display(m["cells"][0]), "resnet [residual+batchnorm+he_init]");
  EXPECT_EQ(tw::mitigation_display(plain), "b");
}

TEST(Seeds, SeedDependentIsCountedAndIsAFailure) {
  const json s = tw::summarize_verdicts(seeds_matrix());
  EXPECT_EQ(s,
            json({{"total", 4}, {"pass", 1}, {"unexpected", 1}, {"unpinned", 0}, {"flaky", 0}, {"seed_dependent", 2}}));
  EXPECT_EQ(tw::count_failures(seeds_matrix()), 3);
  EXPECT_EQ(tw::count_failures(sample_matrix()), 2);
  json odd = {{"cells", {cell("a", "b", "cpu", "healthy", "healthy")}}};
  odd["cells"][0]["verdict"] = "no-such-verdict";
  EXPECT_EQ(tw::count_failures(odd), 1);  // what is not known to pass does not pass
}

TEST(Seeds, ConsoleShowsCountsStacksAndTheSeedDependentTotal) {
  const std::string out = tw::render_console(seeds_matrix(), /*color=*/false);
  EXPECT_NE(out.find("  resnet [residual+batchnorm+he_init] healthy@40 (3/3 seeds)        pass"), std::string::npos)
      << out;
  EXPECT_NE(out.find("diverged 2/3, stalled 1/3     seed-dependent"), std::string::npos) << out;
  EXPECT_NE(out.find("stalled loss 2.5 (3/3 seeds)  unexpected (expected diverged)"), std::string::npos) << out;
  EXPECT_NE(out.find("4 cells: 1 as expected, 1 unexpected, 0 unpinned, 2 seed-dependent"), std::string::npos) << out;
}

TEST(Seeds, MarkdownShowsCountsAndNamesTheStacks) {
  const std::string md = tw::render_markdown(seeds_matrix());
  const auto cpu = markdown_table(md, "cpu");
  ASSERT_EQ(cpu.size(), 4u) << md;
  EXPECT_EQ(cpu[2],
            (std::vector<std::string>{"`deep` (fault_of_deep)", "**diverged 2/3, stalled 1/3** ✗ seed-dependent",
                                      "`resnet` @40 3/3", "—", "—"}));
  EXPECT_EQ(cpu[3],
            (std::vector<std::string>{"`lr_one` (fault_of_lr_one)", "**stalled loss 2.5 3/3** ✗ expected diverged", "—",
                                      "—", "**`clip` (stalled 2/3, healthy 1/3)** ✗ seed-dependent"}));
  EXPECT_NE(md.find("Stacks: `resnet` = residual + batchnorm + he_init."), std::string::npos) << md;
  EXPECT_NE(md.find("4 cells: 1 as expected, 1 unexpected, 0 unpinned, 2 seed-dependent."), std::string::npos) << md;
}

TEST(Seeds, JunitFailsSeedDependentCellsAndListsEachSeed) {
  const std::string xml = tw::render_junit(seeds_matrix());
  EXPECT_EQ(xml_problem(xml), "") << xml;
  EXPECT_NE(xml.find("<testsuites name=\"trainwreck\" tests=\"4\" failures=\"3\""), std::string::npos) << xml;
  EXPECT_EQ(count(xml, "<failure "), 3u);
  EXPECT_NE(xml.find("<testcase classname=\"deep\" name=\"resnet [residual+batchnorm+he_init] [cpu]\""),
            std::string::npos)
      << xml;
  EXPECT_NE(xml.find("<failure type=\"seed-dependent\" message=\"diverged 2/3, stalled 1/3 (expected diverged); "
                     "seeds: 100 diverged, 101 diverged, 102 stalled\">"),
            std::string::npos)
      << xml;
}

TEST(Seeds, CsvHasTheStackAndTheSeedCounts) {
  const auto rows = parse_csv(tw::render_csv(seeds_matrix()));
  ASSERT_EQ(rows.size(), 5u);
  EXPECT_EQ(rows[0][17], "stack");
  EXPECT_EQ(rows[0][18], "seeds");
  EXPECT_EQ(rows[1][3], "resnet");
  EXPECT_EQ(rows[1][17], "residual+batchnorm+he_init");
  EXPECT_EQ(rows[1][18], "3/3 seeds");
  EXPECT_EQ(rows[2][17], "");
  EXPECT_EQ(rows[2][18], "diverged 2/3, stalled 1/3");
  EXPECT_EQ(rows[2][7], "seed-dependent");
}

TEST(Console, ListsEveryCellAndTheTotals) {
  const std::string out = tw::render_console(sample_matrix(), /*color=*/false);
  EXPECT_EQ(out.find("\033["), std::string::npos);
  EXPECT_NE(out.find("lr_one [cpu]  fault: fault_of_lr_one"), std::string::npos) << out;
  EXPECT_NE(out.find("unexpected (expected healthy)"), std::string::npos) << out;
  EXPECT_NE(out.find("6 cells: 3 as expected, 2 unexpected, 1 unpinned"), std::string::npos) << out;
  EXPECT_NE(tw::render_console(sample_matrix(), /*color=*/true).find("\033[31m"), std::string::npos);
}

}  // namespace

// ---- the layout for people: article rows, figures, evidence pages -------------------------------

namespace {

json layout_matrix() {
  json m = seeds_matrix();
  m["cells"][0]["series"] = {{"step", {1, 2, 3}}, {"loss", {1.0, 0.1, 0.01}}};
  m["cells"][0]["seed_series"] = {{{"step", {1, 2, 3}}, {"loss", {1.0, 0.2, 0.02}}},
                                  {{"step", {1, 2, 3}}, {"loss", {1.0, 0.3, 0.03}}}};
  m["cells"][1]["series"] = {{"step", {1, 2, 3}}, {"loss", {1.0, 1e6, "nan"}}};
  m["cells"][1]["evidence"]["symptom_step"] = 3;
  m["cells"][1]["evidence"]["target_loss"] = 0.1;
  json guard =
      cell("deep", "guard", "cpu", "detected", "detected", {{"detected_step", 2}, {"detection_latency_steps", 0}});
  guard["series"] = {{"step", {1, 2}}, {"loss", {1.0, 1e6}}};
  m["cells"].push_back(guard);
  m["scenarios"] = {{"deep",
                     {{"article_row", "model too complex"},
                      {"description", "A thousand sigmoid layers."},
                      {"fault_summary", "vanishing gradients"}}},
                    {"lr_one", {{"article_row", "hyper-parameters"}}}};
  return m;
}

}  // namespace

TEST(Layout, ArticleRowsInTheArticlesOrderTheBareFaultFirst) {
  const json m = layout_matrix();
  const auto rows = tw::article_rows(m, "cpu");
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].name, "model too complex");
  EXPECT_EQ(rows[1].name, "hyper-parameters");
  ASSERT_EQ(rows[0].scenarios.size(), 1u);
  const tw::ScenarioBlock& deep = rows[0].scenarios[0];
  EXPECT_EQ(deep.description, "A thousand sigmoid layers.");
  EXPECT_EQ(deep.fault_summary, "vanishing gradients");
  EXPECT_EQ(deep.cells, (std::vector<std::size_t>{1, 0, 4}));  // none first, then plan order
  const tw::Matrix records(m);
  EXPECT_EQ(tw::remedy_role(records.cells()[1]), tw::RemedyRole::kFault);
  EXPECT_EQ(tw::remedy_role(records.cells()[0]), tw::RemedyRole::kHealed);
  EXPECT_EQ(tw::remedy_role(records.cells()[4]), tw::RemedyRole::kCaught);
  EXPECT_EQ(tw::remedy_role(records.cells()[3]), tw::RemedyRole::kNotEnough);  // seeds that disagree heal nothing
  EXPECT_STREQ(tw::to_string(tw::RemedyRole::kNotEnough), "not enough");
  EXPECT_EQ(tw::outcome_short(m["cells"][0]), "healthy@40 3/3");
  EXPECT_EQ(tw::outcome_short(m["cells"][3]), "stalled 2/3, healthy 1/3");
  EXPECT_TRUE(tw::article_rows(m, "cuda").empty());
  EXPECT_EQ(tw::heading_anchor("lr_too_high (cpu)"), "lr_too_high-cpu");
}

TEST(Layout, ACatalogListingFillsWhatTheMatrixLacksAndKeepsWhatItHas) {
  json m = layout_matrix();
  const json listing = {{"faults",
                         {{{"name", "fault_of_lr_one"}, {"summary", "LR 1.0"}, {"article_row", "data"}},
                          {{"name", "fault_of_deep"}, {"summary", "other"}, {"article_row", "code"}}}},
                        {"scenarios", {{{"name", "lr_one"}, {"description", "LR one."}}}}};
  tw::fill_scenario_info(m, listing);
  EXPECT_EQ(tw::scenario_info(m, "lr_one")["article_row"], "hyper-parameters");  // the matrix's own
  EXPECT_EQ(tw::scenario_info(m, "lr_one")["fault_summary"], "LR 1.0");
  EXPECT_EQ(tw::scenario_info(m, "lr_one")["description"], "LR one.");
  EXPECT_EQ(tw::scenario_info(m, "deep")["article_row"], "model too complex");
  EXPECT_EQ(tw::scenario_info(m, "nowhere"), json::object());
}

TEST(Figure, EveryRemedyOverlaidOnALogAxisWithMarksAndALegend) {
  const json m = layout_matrix();
  const std::string svg = tw::svg_scenario_figure(m, {1, 0, 4}, "deep on cpu: every remedy");
  EXPECT_EQ(svg.rfind("<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"figure\"", 0), 0u);
  EXPECT_EQ(count(svg, "<g class=\"legend-entry\">"), 3u);
  EXPECT_NE(svg.find(">none <tspan fill=\"#59636e\">diverged 2/3, stalled 1/3</tspan>"), std::string::npos) << svg;
  EXPECT_NE(svg.find(">resnet <tspan fill=\"#59636e\">healthy@40 3/3</tspan>"), std::string::npos) << svg;
  EXPECT_NE(svg.find("log scale; first seed thick, the other 2 thin"), std::string::npos);
  // Curves: resnet's three seeds, the bare fault's and the guard's first seed.
  const std::string curves =
      svg.substr(svg.find("<g class=\"curves\">"), svg.find("<g class=\"marks\">") - svg.find("<g class=\"curves\">"));
  EXPECT_EQ(count(curves, "<path "), 5u) << curves;
  EXPECT_EQ(count(curves, "stroke-opacity=\"0.55\""), 2u);
  // Decades from 0.01 to 1e6, the symptom, the guard and the NaN marked; the target line.
  EXPECT_NE(svg.find(">0.01</text>"), std::string::npos);
  EXPECT_NE(svg.find(">1e6</text>"), std::string::npos);
  EXPECT_NE(svg.find("none: symptom at step 3"), std::string::npos);
  EXPECT_NE(svg.find("guard: guard fired at step 2"), std::string::npos);
  EXPECT_NE(svg.find("none: loss nan at step 3"), std::string::npos);
  EXPECT_NE(svg.find("target 0.1 (eval loss)"), std::string::npos);
  // Nothing to draw: said so, with the legend still there.
  const std::string empty = tw::svg_scenario_figure(sample_matrix(), {5}, "t");
  EXPECT_NE(empty.find("no remedy reported a finite loss"), std::string::npos);
  EXPECT_NE(empty.find(", no loss curve"), std::string::npos);
  EXPECT_EQ(tw::figure_file_name("a/b c", "cpu"), "a_b_c-cpu.svg");
}

TEST(Figure, ALossAtOrBelowZeroIsMarkedAtTheBottomEdgeNotDropped) {
  json cells = json::array();
  cells.push_back(
      cell("z", "none", "cpu", "healthy", "healthy", {}, {{"step", {1, 2, 3, 4}}, {"loss", {1.0, 0.5, 0.0, -0.1}}}));
  cells.push_back(cell("z", "zero", "cpu", "healthy", "healthy", {}, {{"step", {1, 2}}, {"loss", {0.0, -1.0}}}));
  cells.push_back(cell("z", "nolosses", "cpu", "error", "error"));
  cells.push_back(cell("z", "nan", "cpu", "diverged", "diverged", {}, {{"step", {1}}, {"loss", {"nan"}}}));
  const json m = {{"cells", cells}};
  const std::string svg = tw::svg_scenario_figure(m, {0, 1, 2, 3}, "z on cpu");
  EXPECT_EQ(xml_problem(svg), "") << svg;
  // The first loss <= 0 of each first-seed curve, at the bottom edge, said in its title.
  EXPECT_EQ(count(svg, "<path class=\"below-axis\""), 2u) << svg;
  EXPECT_NE(svg.find("none: loss 0 at step 3 (not on a log axis)"), std::string::npos) << svg;
  EXPECT_NE(svg.find("zero: loss 0 at step 1 (not on a log axis)"), std::string::npos) << svg;
  // The legend says what each remedy lacks, and what the mark is.
  EXPECT_NE(svg.find(">zero <tspan fill=\"#59636e\">healthy, no positive loss</tspan>"), std::string::npos) << svg;
  EXPECT_NE(svg.find(">nolosses <tspan fill=\"#59636e\">error, no loss curve</tspan>"), std::string::npos) << svg;
  EXPECT_NE(svg.find(">nan <tspan fill=\"#59636e\">diverged, no finite loss</tspan>"), std::string::npos) << svg;
  EXPECT_NE(svg.find("loss &#8804; 0 (below the log axis)"), std::string::npos) << svg;
  // Only losses <= 0: nothing on the axis, said so (not "no finite loss").
  const std::string zero = tw::svg_scenario_figure(m, {1}, "zero");
  EXPECT_NE(zero.find("no remedy reported a positive loss"), std::string::npos) << zero;
  EXPECT_EQ(zero.find("no remedy reported a finite loss"), std::string::npos) << zero;
  EXPECT_EQ(count(zero, "<path class=\"below-axis\""), 1u);
  // No loss <= 0: no such mark and no key row for it.
  const std::string plain = tw::svg_scenario_figure(m, {3}, "nan");
  EXPECT_NE(plain.find("no remedy reported a finite loss"), std::string::npos) << plain;
  EXPECT_EQ(plain.find("below the log axis"), std::string::npos) << plain;
}

TEST(Figure, AStandaloneSvgIsWellFormedXmlWhateverTheNames) {
  std::string accents;
  for (int i = 0; i < 30; ++i) accents += "\xC3\xA9";  // 30 x "é": cut after 23 characters, not 23 bytes
  json cells = json::array();
  cells.push_back(
      cell("donn\xC3\xA9"
           "es",
           "none", "cpu", "diverged", "diverged", {{"symptom_step", 2}}, {{"step", {1, 2}}, {"loss", {1.0, 2.0}}}));
  cells.push_back(
      cell("donn\xC3\xA9"
           "es",
           accents, "cpu", "healthy", "healthy", {}, {{"step", {1, 2}}, {"loss", {1.0, 0.5}}}));
  cells.push_back(
      cell("donn\xC3\xA9"
           "es",
           "bell\x07tab\tnul" + std::string(1, '\0') + "bad\xFF", "cpu", "error", "error"));
  cells[2]["outcome"] = "error\x01\xE2\x82";  // a control character and a cut sequence in data
  const std::string svg = tw::svg_scenario_figure(json{{"cells", cells}}, {0, 1, 2},
                                                  "donn\xC3\xA9"
                                                  "es\x1B[31m on cpu");
  EXPECT_EQ(tw::valid_utf8(svg), svg) << "invalid UTF-8";
  for (const char c : svg) EXPECT_FALSE(tw::xml_forbidden_control(static_cast<unsigned char>(c))) << int(c);
  EXPECT_EQ(xml_problem(svg), "") << svg;
  // The long name keeps 23 whole characters and an ellipsis.
  std::string kept;
  for (int i = 0; i < 23; ++i) kept += "\xC3\xA9";
  EXPECT_NE(svg.find(">" + kept + "\xE2\x80\xA6 <tspan"), std::string::npos) << svg;
  EXPECT_EQ(tw::utf8_shorten(accents, 24), kept + "\xE2\x80\xA6");
  EXPECT_EQ(tw::utf8_length(accents), 30u);
  // The parser of record, when this machine has it.
  if (std::system("command -v xmllint >/dev/null 2>&1") == 0) {
    tw_test::TempDir tmp;
    const std::string file = tmp.write("figure.svg", svg);
    EXPECT_EQ(tw_test::exit_code(std::system(("xmllint --noout '" + file + "'").c_str())), 0) << svg;
  }
}

TEST(Evidence, APagePerArticleRowWithItsFiguresAndShortLines) {
  const auto files = tw::render_evidence_pages(layout_matrix());
  std::vector<std::string> names;
  for (const auto& [name, content] : files) names.push_back(name);
  EXPECT_EQ(names, (std::vector<std::string>{"figures/deep-cpu.svg", "figures/lr_one-cpu.svg", "hyper-parameters.md",
                                             "index.md", "model-too-complex.md"}));
  const std::string& page = files.at("model-too-complex.md");
  EXPECT_EQ(page.rfind("# model too complex\n", 0), 0u) << page;
  EXPECT_NE(page.find("## deep (cpu)\n\nFault `fault_of_deep`: vanishing gradients.\n\nA thousand sigmoid layers.\n"),
            std::string::npos)
      << page;
  EXPECT_NE(page.find("](figures/deep-cpu.svg)"), std::string::npos);
  EXPECT_NE(page.find("| `none` | fault | first seed diverged@3 | diverged 2/3, stalled 1/3 | ✗ seed-dependent |"),
            std::string::npos)
      << page;
  EXPECT_NE(page.find("| `resnet` | healed | healthy@40 | 3/3 | pass |"), std::string::npos) << page;
  EXPECT_NE(page.find("Stacks: `resnet` = residual + batchnorm + he_init."), std::string::npos) << page;
  const std::string& index = files.at("index.md");
  EXPECT_LT(index.find("[model too complex](model-too-complex.md)"),
            index.find("[hyper-parameters](hyper-parameters.md)"));
  EXPECT_NE(index.find("[`deep`](model-too-complex.md#deep-cpu)"), std::string::npos) << index;
  for (const auto& [name, content] : files)
    if (name.size() > 3 && name.compare(name.size() - 3, 3, ".md") == 0)
      for (const auto& line : lines(content)) EXPECT_LE(line.size(), 120u) << name << ": " << line;
}

TEST(RunFooter, WhereTheResultsAreThenEachFailedCell) {
  const std::string out = tw::render_run_footer(seeds_matrix(), "results/latest", /*color=*/false);
  EXPECT_EQ(out,
            "\nresults: results/latest/matrix.md, results/latest/report.html (figures in results/latest/figures/)\n"
            "seed-dependent  deep/none/cpu: diverged 2/3, stalled 1/3\n"
            "unexpected  lr_one/none/cpu: stalled loss 2.5 (3/3 seeds), expected diverged\n"
            "seed-dependent  lr_one/clip/cpu: stalled 2/3, healthy 1/3\n");
}

// ---- the matrix, read once ------------------------------------------------------------------------

namespace {

// Each record points at its own cell of the matrix it belongs to, in order.
void expect_records_point_into(const tw::Matrix& m) {
  const json& cells = m.raw()["cells"];
  ASSERT_EQ(m.cells().size(), cells.size());
  for (std::size_t i = 0; i < cells.size(); ++i) EXPECT_EQ(m.cells()[i].cell, &cells[i]) << i;
}

}  // namespace

TEST(LoadMatrix, OnceGivesTheRecordsTheReportersBuiltPerCell) {
  tw_test::TempDir dir;
  json raw = sample_matrix();
  raw["cells"][0].erase("verdict");
  raw["cells"][1].erase("expected");
  raw["cells"][2].erase("evidence");
  dir.write("matrix.json", raw.dump());
  const tw::Matrix m = tw::load_matrix(dir.path());
  const tw::Matrix from_file = tw::load_matrix(dir / "matrix.json");
  EXPECT_EQ(m.raw(), from_file.raw());
  expect_records_point_into(m);
  // What every reporter read of a cell before, with matrix_cell over the loaded value.
  for (std::size_t i = 0; i < m.cells().size(); ++i) {
    const tw::MatrixCell& r = m.cells()[i];
    const tw::MatrixCell per_call = tw::matrix_cell(m.raw()["cells"][i]);
    EXPECT_EQ(r.id, per_call.id);
    EXPECT_EQ(r.scenario, per_call.scenario);
    EXPECT_EQ(r.fault, per_call.fault);
    EXPECT_EQ(r.mitigation, per_call.mitigation);
    EXPECT_EQ(r.device, per_call.device);
    EXPECT_EQ(r.outcome_name, per_call.outcome_name);
    EXPECT_EQ(r.outcome, per_call.outcome);
    EXPECT_EQ(r.verdict_name, per_call.verdict_name);
    EXPECT_EQ(r.verdict, per_call.verdict);
    EXPECT_EQ(r.evidence(), per_call.evidence());
    EXPECT_EQ(r.expected(), per_call.expected());
  }
  // The members the renderers rely on are there.
  EXPECT_EQ(m.raw()["cells"][0]["verdict"], "unpinned");
  EXPECT_TRUE(m.cells()[0].is(tw::Verdict::kUnpinned));
  EXPECT_TRUE(m.raw()["cells"][1]["expected"].is_null());
  EXPECT_EQ(m.raw()["cells"][2]["evidence"], json::object());
  EXPECT_EQ(m.devices(), (std::vector<std::string>{"cpu", "cuda"}));
  EXPECT_EQ(m.context()["host"]["cpu"], "Test CPU");
  EXPECT_EQ(tw::count_failures(m), 2);
  // The reporters render the loaded matrix as they render its value.
  EXPECT_EQ(tw::render_markdown(m), tw::render_markdown(m.raw()));
  EXPECT_EQ(tw::render_csv(m), tw::render_csv(m.raw()));
}

TEST(LoadMatrix, CopiesMovesAndAddedScenarioInfoKeepTheRecordsOnTheirOwnCells) {
  tw::Matrix m(sample_matrix());
  expect_records_point_into(m);
  tw::Matrix copy = m;
  expect_records_point_into(copy);
  EXPECT_NE(copy.cells()[0].cell, m.cells()[0].cell);
  const tw::Matrix moved = std::move(copy);
  expect_records_point_into(moved);
  tw::Matrix assigned;
  EXPECT_FALSE(assigned.present());
  EXPECT_TRUE(assigned.cells().empty());
  EXPECT_EQ(assigned.context(), json::object());
  assigned = m;
  expect_records_point_into(assigned);
  m.add_scenario_info({{"faults", {{{"name", "fault_of_lr_one"}, {"article_row", "data"}}}}});
  expect_records_point_into(m);
  EXPECT_EQ(tw::scenario_info(m.raw(), "lr_one")["fault"], "fault_of_lr_one");
}

TEST(LoadMatrix, AMissingOrForeignFileIsBadInputNamingIt) {
  tw_test::TempDir dir;
  EXPECT_THROW(tw::load_matrix(dir / "nowhere"), tw::InputError);
  EXPECT_THROW(tw::load_matrix(dir.path()), tw::InputError);  // no matrix.json in it
  EXPECT_THROW(tw::load_matrix(dir.write("m.json", "{\"cells\": {}}")), tw::InputError);
  EXPECT_THROW(tw::load_matrix(dir.write("n.json", "{\"cells\": [{\"id\": \"x\"}]}")), tw::InputError);
}
