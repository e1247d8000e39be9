// The layout for people: article rows in the article's order, loss figures, evidence pages, and the
// footer that says where the results are.
#include <gtest/gtest.h>

#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "harness/figures.h"
#include "harness/report.h"
#include "harness/text_util.h"
#include "report_test_util.h"
#include "test_support.h"

namespace {
using nlohmann::json;
using tw_test::cell;
using tw_test::count;
using namespace tw_test::report_util;

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
