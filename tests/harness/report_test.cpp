// The reports of a run: the key number of each cell, verdict counts, the Markdown tables, the console
// listing, seeds and stacks in every format, and the matrix read once for all of them.
#include "harness/report.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "harness/errors.h"
#include "report_test_util.h"
#include "test_support.h"

namespace {
using nlohmann::json;
using tw_test::cell;
using tw_test::count;
using namespace tw_test::report_util;

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
  EXPECT_EQ(tw::count_verdicts(sample_matrix()).text(), "6 cells: 3 as expected, 2 unexpected, 1 unpinned");
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

// ---- stacks and seeds -----------------------------------------------------------------------

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
  EXPECT_EQ(tw::count_verdicts(seeds_matrix()).text(),
            "4 cells: 1 as expected, 1 unexpected, 0 unpinned, 2 seed-dependent");
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
