#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <string>

#include "harness/chart.h"
#include "harness/diff.h"
#include "harness/html_report.h"
#include "test_support.h"

#ifndef HARNESS_HOST
#error "HARNESS_HOST must name the trainwreck_harness_host executable"
#endif

namespace {
namespace fs = std::filesystem;
using nlohmann::json;
using tw_test::count;
using tw_test::slurp;
constexpr auto shell = [](const std::string& cmd) { return tw_test::exit_code(std::system(cmd.c_str())); };
using tw_test::cell;

json sample_matrix() {
  const json diverging = {{"step", {1, 2, 3, 4}},
                          {"loss", {1.0, 30.0, "nan", "nan"}},
                          {"grad_first", {0.5, 0.0, nullptr, nullptr}},
                          {"grad_last", {1.0, 9.0, "inf", "inf"}},
                          {"mem", {1048576, 2097152, 3145728, 4194304}}};
  const json converging = {{"step", {1, 10, 20, 30}}, {"loss", {10.0, 1.0, 0.1, 0.01}}};
  json cells = json::array();
  cells.push_back(cell("lr_one", "none", "cpu", "diverged", "diverged", {{"symptom_step", 3}}, diverging));
  cells.push_back(cell("lr_one", "clip", "cpu", "healthy", "healthy", {{"reached_step", 30}}, converging));
  cells.push_back(cell("deep", "none", "cpu", "stalled", nullptr, {{"final_loss", 0.69}}));
  cells.push_back(cell("lr_one", "none", "cuda", "crash", "diverged", {{"signal", "SIGSEGV"}}));
  return {{"context",
           {{"host", {{"cpu", "Test CPU"}, {"compiler", "g++ 13"}}},
            {"probe", {{"libtorch", "2.11.0"}, {"gpu_name", "NVIDIA H100"}}},
            {"started_at", "2026-01-01T00:00:00Z"}}},
          {"cells", cells}};
}

TEST(Html, OverviewPerDeviceByArticleRowAndAPanelPerCell) {
  json m = sample_matrix();
  m["scenarios"] = {{"lr_one",
                     {{"article_row", "hyper-parameters"},
                      {"description", "SGD at LR 1.0 & a <tanh> net."},
                      {"fault_summary", "SGD at learning rate 1.0"}}},
                    {"deep", {{"article_row", "model too complex"}}}};
  const std::string html = tw::render_html(m);
  EXPECT_EQ(html.rfind("<!DOCTYPE html>", 0), 0u);
  EXPECT_EQ(count(html, "<table class=\"overview\""), 2u);
  EXPECT_NE(html.find("<h2>cpu (Test CPU)</h2>"), std::string::npos);
  EXPECT_NE(html.find("<h2>cuda (NVIDIA H100)</h2>"), std::string::npos);
  EXPECT_NE(html.find("<th>none (the fault)</th><th>healed</th><th>caught</th><th>not enough</th>"), std::string::npos);
  // The article's order: "model too complex" comes before "hyper-parameters".
  const std::size_t deep_row = html.find(">model too complex</th>"), lr_row = html.find(">hyper-parameters</th>");
  ASSERT_NE(deep_row, std::string::npos);
  ASSERT_NE(lr_row, std::string::npos);
  EXPECT_LT(deep_row, lr_row);
  // Every cell a chip in the overview, and a panel in its scenario's block.
  EXPECT_EQ(count(html, "<a class=\"chip "), 4u);
  EXPECT_EQ(count(html, "<details class=\"cellpanel"), 4u);
  EXPECT_EQ(count(html, "<details class=\"scenario"), 3u);  // lr_one and deep on cpu, lr_one on cuda
  for (int i = 0; i < 4; ++i) {
    EXPECT_NE(html.find("href=\"#c" + std::to_string(i) + "\""), std::string::npos) << i;
    EXPECT_NE(html.find("id=\"c" + std::to_string(i) + "\""), std::string::npos) << i;
  }
  EXPECT_NE(html.find("<a class=\"chip o-diverged v-pass\""), std::string::npos);
  EXPECT_NE(html.find("<a class=\"chip o-crash v-unexpected\""), std::string::npos);
  EXPECT_NE(html.find("&#10007; expected diverged"), std::string::npos);
  EXPECT_NE(html.find("<a class=\"chip o-stalled v-unpinned\""), std::string::npos);
  // The healed remedy in its column, with its key number.
  EXPECT_NE(html.find("\">clip <small>@30</small></a>"), std::string::npos) << html;
  // The scenario block: description (escaped), the figure with a legend entry per remedy.
  EXPECT_NE(html.find("<p class=\"desc\">SGD at LR 1.0 &amp; a &lt;tanh&gt; net.</p>"), std::string::npos);
  EXPECT_NE(html.find("id=\"s-lr_one-cpu\""), std::string::npos);
  EXPECT_NE(html.find("<a href=\"#s-lr_one-cpu\">lr_one</a>"), std::string::npos);
  const std::size_t block = html.find("id=\"s-lr_one-cpu\"");
  const std::string lr_block = html.substr(block, html.find("</details>\n", html.find("id=\"c1\"")) - block);
  EXPECT_EQ(count(lr_block, "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"figure\""), 1u);
  EXPECT_EQ(count(lr_block, "<g class=\"legend-entry\">"), 2u);
  EXPECT_NE(lr_block.find("fault fault_of_lr_one: SGD at learning rate 1.0"), std::string::npos);
  // The diverging cell: loss, gradient (first and last layer) and memory charts.
  const std::string first_panel = html.substr(html.find("id=\"c0\""), html.find("id=\"c1\"") - html.find("id=\"c0\""));
  EXPECT_EQ(count(first_panel, "<svg "), 3u);
  EXPECT_NE(first_panel.find(">first layer</text>"), std::string::npos);
  EXPECT_NE(first_panel.find(">last layer</text>"), std::string::npos);
  EXPECT_NE(first_panel.find("MiB"), std::string::npos);
  EXPECT_NE(first_panel.find("nan at step 3"), std::string::npos);  // non-finite values are marked
  EXPECT_NE(first_panel.find("symptom at step 3"), std::string::npos);
  // No curves recorded: said so, not an empty chart.
  EXPECT_NE(html.find("No per-step curves"), std::string::npos);
  EXPECT_NE(html.find("<section id=\"context\">"), std::string::npos);
  EXPECT_NE(html.find("<td>2.11.0</td>"), std::string::npos);
  EXPECT_EQ(html.find("id=\"diff\""), std::string::npos);
}

TEST(Html, AMatrixWithoutScenarioInfoKeepsOneGroup) {
  const std::string html = tw::render_html(sample_matrix());
  EXPECT_NE(html.find(">other scenarios</th>"), std::string::npos);
  EXPECT_EQ(html.find("<p class=\"desc\">"), std::string::npos);
  EXPECT_EQ(count(html, "<a class=\"chip "), 4u);
}

TEST(Html, SelfContained) {
  const std::string html = tw::render_html(sample_matrix());
  // The only URL is the SVG namespace name, which is never fetched.
  const std::regex url("(https?:)?//[a-zA-Z0-9.-]+\\.[a-z]{2,}");
  std::string rest = html;
  for (std::smatch m; std::regex_search(rest, m, url); rest = m.suffix())
    EXPECT_EQ(m.str(), "http://www.w3.org") << m.str();
  for (const char* external : {" src=", "<link", "@import", "url(", "@font-face"})
    EXPECT_EQ(html.find(external), std::string::npos) << external;
}

TEST(Html, EscapesEverythingThatComesFromData) {
  const std::string evil = "<script>alert(1)</script>\"'&</details><img src=x onerror=alert(2)>";
  json m = {{"context", {{"host", {{"cpu", evil}}}, {"note", evil}}},
            {"cells",
             {cell("s", "none", "cpu", "error", "healthy", {{"message", evil}}),
              cell("t", "m", evil, evil, evil, {{evil, evil}})}}};
  m["cells"][0]["log_tail"] = evil;
  m["cells"][0]["scenario"] = evil;
  m["cells"][0]["mitigation"] = evil;
  m["cells"][0]["id"] = evil;
  const json d = tw::diff_matrices(m, m, {});
  const std::string html = tw::render_html(m, d);
  EXPECT_EQ(html.find("<script>alert"), std::string::npos);
  EXPECT_EQ(html.find("<img"), std::string::npos);
  EXPECT_EQ(html.find("\"'&"), std::string::npos) << "a quote left raw ends an attribute";
  EXPECT_NE(html.find("&lt;script&gt;alert(1)&lt;/script&gt;&quot;&#39;&amp;&lt;/details&gt;"), std::string::npos);
  EXPECT_EQ(count(html, "<details "), count(html, "</details>"));
  EXPECT_EQ(count(html, "<script>"), 2u);  // the error hook and the page's own script, nothing else
  // An unknown outcome word never becomes a class name.
  EXPECT_EQ(html.find("o-<"), std::string::npos);
  EXPECT_EQ(tw::html_escape("a<b>&\"c'"), "a&lt;b&gt;&amp;&quot;c&#39;");
}

TEST(Html, DiffViewMarksChangedCells) {
  const json now = sample_matrix();
  json before = now;
  before["context"]["probe"]["libtorch"] = "2.10.0";
  before["cells"][1]["outcome"] = "diverged";
  before["cells"][1]["evidence"] = {{"symptom_step", 2}};
  tw::DiffOptions o;
  o.a_name = "results/h100-2.10";
  const json d = tw::diff_matrices(before, now, o);
  const std::string html = tw::render_html(now, d);
  EXPECT_NE(html.find("<section id=\"diff\">"), std::string::npos);
  EXPECT_NE(html.find("results/h100-2.10"), std::string::npos);
  EXPECT_NE(html.find("<th>LibTorch</th><td>2.10.0</td><td>2.11.0</td>"), std::string::npos) << html;
  EXPECT_NE(html.find("&#916; was diverged@2"), std::string::npos);
  EXPECT_NE(html.find("<tr class=\"outcome-changed\"><td>lr_one/clip/cpu</td>"), std::string::npos);
}

TEST(Html, AScenarioBlockIsFramedByTheVerdictItsCellsHad) {
  json m = sample_matrix();
  m["cells"][0]["verdict"] = "seed-dependent";  // lr_one on cpu: seeds disagree, nothing unexpected
  m["cells"][2]["verdict"] = "flaky";           // deep on cpu: repeats disagree
  const std::string html = tw::render_html(m);
  // A scenario block's opening tag and summary line.
  auto block = [&](const std::string& id) {
    const std::size_t at = html.find("id=\"" + id + "\"");
    if (at == std::string::npos) return std::string();
    const std::size_t open = html.rfind("<details", at);
    return html.substr(open, html.find("</summary>", at) - open);
  };
  const std::string lr = block("s-lr_one-cpu"), deep = block("s-deep-cpu"), cuda = block("s-lr_one-cuda");
  ASSERT_FALSE(lr.empty() || deep.empty() || cuda.empty()) << html;
  // The orange frame the page's legend promises, and the verdict's own word.
  EXPECT_EQ(lr.rfind("<details class=\"scenario v-seed-dependent\"", 0), 0u) << lr;
  EXPECT_NE(lr.find("&#10007; seed-dependent</span>"), std::string::npos) << lr;
  EXPECT_EQ(lr.find("unexpected"), std::string::npos) << lr;
  EXPECT_EQ(deep.rfind("<details class=\"scenario v-flaky\"", 0), 0u) << deep;
  EXPECT_NE(deep.find("&#10007; flaky</span>"), std::string::npos) << deep;
  EXPECT_EQ(deep.find("unexpected"), std::string::npos) << deep;
  // The crash on cuda was pinned "diverged": red, unexpected.
  EXPECT_EQ(cuda.rfind("<details class=\"scenario v-unexpected\"", 0), 0u) << cuda;
  EXPECT_NE(cuda.find("&#10007; unexpected</span>"), std::string::npos) << cuda;
  // Several kinds in one block: the worst frames it, every kind is named.
  m["cells"][1]["verdict"] = "unexpected";
  const std::string both = tw::render_html(m);
  const std::size_t p = both.find("id=\"s-lr_one-cpu\"");
  const std::string summary =
      both.substr(both.rfind("<details", p), both.find("</summary>", p) - both.rfind("<details", p));
  EXPECT_EQ(summary.rfind("<details class=\"scenario v-unexpected\"", 0), 0u) << summary;
  EXPECT_NE(
      summary.find("&#10007; unexpected</span><span class=\"mark v-seed-dependent\">&#10007; seed-dependent</span>"),
      std::string::npos)
      << summary;
}

TEST(Html, DiffViewWarnsOfAnotherHostAndCountsEveryTier) {
  json before = sample_matrix(), now = sample_matrix();
  before["context"]["host"]["cpu"] = "Other CPU";
  before["context"]["host"]["cpu_flags"] = {"avx2", "amx_tile"};
  now["context"]["host"]["cpu_flags"] = {"avx2"};
  tw::DiffOptions o;
  o.a_name = "results/old";
  const json d = tw::diff_matrices(before, now, o);
  ASSERT_TRUE(d["host_changed"]["changed"].get<bool>());
  const std::string html = tw::render_html(now, d);
  const std::size_t section = html.find("<section id=\"diff\">");
  ASSERT_NE(section, std::string::npos);
  const std::string view = html.substr(section, html.find("</section>", section) - section);
  EXPECT_NE(view.find("WARNING: different host: results/old and B did not run on the same machine."), std::string::npos)
      << view;
  EXPECT_NE(view.find("<li>CPU: Other CPU -&gt; Test CPU</li>"), std::string::npos) << view;
  EXPECT_NE(view.find("<li>CPU flags: without amx_tile (B lacks them)</li>"), std::string::npos) << view;
  EXPECT_LT(view.find("WARNING"), view.find("outcome(s) changed"));
  // The tier counts, as the text and Markdown diffs have them.
  for (const char* tier :
       {"<th>outcomes</th>", "<th>loss curves</th>", "<th>steps</th>", "<th>speed</th>", "<th>memory</th>"})
    EXPECT_NE(view.find(tier), std::string::npos) << tier << "\n" << view;
  EXPECT_NE(view.find("2 identical, 0 within tolerance"), std::string::npos) << view;
  // The same host: no warning.
  const std::string calm = tw::render_html(now, tw::diff_matrices(now, now, o));
  EXPECT_EQ(calm.find("WARNING"), std::string::npos);
}

TEST(Html, StacksAndSeedsAreShownInTheMatrixAndTheOpenedCell) {
  json m = sample_matrix();
  json& resnet = m["cells"][1];
  resnet["mitigation"] = "resnet";
  resnet["mitigation_name"] = "residual+batchnorm";
  resnet["stack"] = {"residual", "batchnorm"};
  resnet["seeds"] = {{"values", {7, 8, 9}},
                     {"outcomes", {"healthy", "healthy", "healthy"}},
                     {"counts", {{"healthy", 3}}},
                     {"evidence", {{{"reached_step", 30}}, {{"reached_step", 31}}, {{"reached_step", 29}}}}};
  json& none = m["cells"][0];
  none["verdict"] = "seed-dependent";
  none["seeds"] = {
      {"values", {7, 8, 9}},
      {"outcomes", {"diverged", "stalled", "diverged"}},
      {"counts", {{"diverged", 2}, {"stalled", 1}}},
      {"evidence", {{{"symptom_step", 3}}, {{"final_loss", 2.5}, {"message", "<b>"}}, {{"symptom_step", 4}}}}};
  const std::string html = tw::render_html(m);
  // The overview: the label with its key number and seed count, the stack in the chip's title.
  EXPECT_NE(html.find("title=\"lr_one/clip/cpu: healthy@30 (3/3 seeds) (pass); resnet [residual+batchnorm]\">"
                      "resnet <small>@30 3/3</small></a>"),
            std::string::npos)
      << html;
  EXPECT_NE(html.find("<a class=\"chip o-diverged v-seed-dependent\""), std::string::npos);
  EXPECT_NE(html.find(">diverged 2/3, stalled 1/3 <b class=\"mark\">&#10007; seed-dependent</b></a>"),
            std::string::npos);
  // The scenario's line per remedy: the stack in full, each seed's key number.
  EXPECT_NE(html.find("<a href=\"#c1\">resnet [residual+batchnorm]</a></td><td>healed</td>"), std::string::npos);
  EXPECT_NE(html.find("<td>3/3: @30, @31, @29</td>"), std::string::npos) << html;
  EXPECT_NE(html.find("<td>diverged@3, stalled 2.5, diverged@4</td>"), std::string::npos) << html;
  EXPECT_NE(html.find("<span><b>1</b> seed-dependent</span>"), std::string::npos);
  const std::string first_panel = html.substr(html.find("id=\"c0\""), html.find("id=\"c1\"") - html.find("id=\"c0\""));
  EXPECT_NE(first_panel.find("<h3>Seeds: diverged 2/3, stalled 1/3</h3>"), std::string::npos) << first_panel;
  EXPECT_NE(first_panel.find("<tr><th>seed</th><th>outcome</th><th>symptom_step</th><th>final_loss</th>"
                             "<th>message</th></tr>"),
            std::string::npos)
      << first_panel;
  EXPECT_NE(first_panel.find("<tr><td>8</td><td><span class=\"badge o-stalled\">stalled</span></td><td></td>"
                             "<td>2.5</td><td>&lt;b&gt;</td></tr>"),
            std::string::npos)
      << first_panel;
  const std::string second_panel = html.substr(html.find("id=\"c1\""), html.find("id=\"c2\"") - html.find("id=\"c1\""));
  EXPECT_NE(second_panel.find("<th>stack</th><td>residual + batchnorm (applied in this order)</td>"), std::string::npos)
      << second_panel;
}

TEST(SvgChart, LogScaleForCurvesOverDecadesAndGapsAtNonFiniteValues) {
  const std::string decades = tw::svg_line_chart("loss", json{1, 2, 3}, {{"loss", json{100.0, 1.0, 0.01}}}, {});
  EXPECT_NE(decades.find("loss (log scale)"), std::string::npos);
  const std::string linear = tw::svg_line_chart("loss", json{1, 2, 3}, {{"loss", json{3.0, 2.0, 1.0}}}, {});
  EXPECT_EQ(linear.find("log scale"), std::string::npos);
  // Zero gradients (a vanished gradient) cannot go on a log axis.
  const std::string zeros = tw::svg_line_chart("g", json{1, 2, 3}, {{"g", json{0.0, 0.0, 1000.0}}}, {});
  EXPECT_EQ(zeros.find("log scale"), std::string::npos);
  // NaN in the middle: two pieces of line, and the NaN marked.
  const std::string gap =
      tw::svg_line_chart("loss", json{1, 2, 3, 4, 5}, {{"loss", json{1.0, 2.0, "nan", 2.0, 1.0}}}, {{3, "symptom"}});
  const auto d = gap.substr(gap.find(" d=\""), gap.find("\"", gap.find(" d=\"") + 4) - gap.find(" d=\""));
  EXPECT_EQ(count(d, "M"), 2u) << d;
  EXPECT_EQ(count(d, "L"), 2u) << d;
  EXPECT_NE(gap.find("nan at step 3"), std::string::npos);
  EXPECT_NE(gap.find("stroke-dasharray"), std::string::npos);
  const std::string nothing = tw::svg_line_chart("loss", json{1}, {{"loss", json{"nan"}}}, {});
  EXPECT_NE(nothing.find("no finite value"), std::string::npos);
  EXPECT_EQ(nothing.find("<path"), std::string::npos);
}

// ---- in a real browser -------------------------------------------------------------------------

std::string find_chromium() {
  if (const char* env = getenv("CHROMIUM"); env && *env) return env;
  for (const char* name : {"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"}) {
    const char* path = getenv("PATH");
    std::istringstream dirs(path ? path : "");
    for (std::string dir; std::getline(dirs, dir, ':');) {
      const std::string candidate = dir + "/" + name;
      if (access(candidate.c_str(), X_OK) == 0) return candidate;
    }
  }
  return "";
}

// The value of attribute `name` on the <html> element of a dumped DOM ("" when absent).
std::string root_attribute(const std::string& dom, const std::string& name) {
  const std::size_t open = dom.find("<html");
  if (open == std::string::npos) return "";
  const std::string tag = dom.substr(open, dom.find('>', open) - open);
  const std::size_t at = tag.find(" " + name + "=\"");
  if (at == std::string::npos) return "";
  const std::size_t from = at + name.size() + 3;
  return tag.substr(from, tag.find('"', from) - from);
}

// Renders report.html of a self-test run in headless Chromium: the page's script must have run
// without an error, the overview must be in the DOM, a scenario opened by its link must show its
// figure with a curve and a legend, and the page must fit 1400 pixels. The screenshots are kept
// when TRAINWRECK_SCREENSHOT_DIR names a directory, to be looked at.
TEST(HtmlBrowser, SelftestReportRendersInHeadlessChromium) {
  const std::string chromium = find_chromium();
  if (chromium.empty()) GTEST_SKIP() << "no chromium binary found (apt-get install chromium, or set CHROMIUM)";
  const tw_test::TempDir tmp;
  const std::string& dir = tmp.path();
  const tw_test::ShellResult run = tw_test::run_host("selftest --quiet --jobs 2 --out '" + dir +
                                                     "/run' --filter 'selftest_ok/*' --filter 'selftest_diverge/*'"
                                                     " --filter 'selftest_leak/*' --filter 'selftest_segfault/*' "
                                                     "--filter 'selftest_exception/*' --filter 'selftest_oom/*'");
  ASSERT_EQ(run.code, 0) << run.err;
  const std::string page = dir + "/run/report.html";
  ASSERT_TRUE(fs::exists(page));
  // Its own profile directory, so that parallel runs and a user's browser do not interfere.
  const std::string browser = "timeout 90 '" + chromium +
                              "' --headless --no-sandbox --disable-gpu --no-first-run "
                              "--user-data-dir='" +
                              dir + "/profile' --window-size=1400,1000 ";
  auto dump = [&](const std::string& url, const std::string& out) {
    EXPECT_EQ(shell(browser + "--dump-dom '" + url + "' >'" + out + "' 2>'" + dir + "/err'"), 0) << slurp(dir + "/err");
    return slurp(out);
  };
  const std::string dom = dump("file://" + page, dir + "/dom.html");
  EXPECT_EQ(root_attribute(dom, "data-report-ready"), "6") << dom.substr(0, 600);  // six chips wired
  EXPECT_EQ(root_attribute(dom, "data-script-error"), "");
  EXPECT_NE(dom.find("<table class=\"overview\" data-device=\"cpu\">"), std::string::npos);
  EXPECT_NE(dom.find("<button id=\"toggle-all\" type=\"button\">"), std::string::npos);  // unhidden by the script
  EXPECT_EQ(count(dom, "<svg "), count(slurp(page), "<svg "));
  EXPECT_EQ(count(dom, "class=\"figure\""), 6u);              // a figure per scenario
  EXPECT_EQ(root_attribute(dom, "data-figures-drawn"), "0");  // every scenario closed: nothing laid out
  const std::string width = root_attribute(dom, "data-page-width");
  ASSERT_FALSE(width.empty());
  EXPECT_LE(std::stoi(width), 1400) << "the overview scrolls sideways at 1400 px";

  // A scenario's link opens it: its figure is drawn, with a curve and its legend.
  const std::string opened = dump("file://" + page + "#s-selftest_leak-cpu", dir + "/opened.html");
  EXPECT_EQ(root_attribute(opened, "data-script-error"), "");
  EXPECT_NE(opened.find("<details class=\"scenario\" id=\"s-selftest_leak-cpu\" open=\"\">"), std::string::npos);
  EXPECT_EQ(root_attribute(opened, "data-figures-drawn"), "1");
  EXPECT_EQ(root_attribute(opened, "data-legend-entries-drawn"), "1");

  // The opened scenario in a window as tall as the page: headless Chromium paints nothing in a
  // screenshot of a page its script scrolled.
  const std::string tall = "timeout 90 '" + chromium +
                           "' --headless --no-sandbox --disable-gpu --no-first-run "
                           "--user-data-dir='" +
                           dir + "/profile' --window-size=1400,6000 ";
  for (const auto& [name, command] :
       {std::pair<std::string, std::string>{"report.png", browser + "'file://" + page + "'"},
        {"report-opened.png", tall + "'file://" + page + "#s-selftest_leak-cpu'"}}) {
    const std::string png = dir + "/" + name;
    ASSERT_EQ(shell(command.substr(0, command.find("'file://")) + "--screenshot='" + png + "' " +
                    command.substr(command.find("'file://")) + " >/dev/null 2>'" + dir + "/err'"),
              0)
        << slurp(dir + "/err");
    const std::string image = slurp(png);
    ASSERT_GT(image.size(), 10000u);
    EXPECT_EQ(image.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8));
    if (const char* keep = getenv("TRAINWRECK_SCREENSHOT_DIR"); keep && fs::is_directory(keep))
      fs::copy_file(png, std::string(keep) + "/" + name, fs::copy_options::overwrite_existing);
  }
}

// The committed CPU reference (27 scenarios, 114 cells, 3 seeds), re-rendered: the overview of
// the largest matrix fits 1400 pixels, and an opened scenario draws a curve per remedy's seeds.
TEST(HtmlBrowser, ReferenceReportFitsTheWindowAndDrawsItsFigures) {
  const std::string chromium = find_chromium();
  if (chromium.empty()) GTEST_SKIP() << "no chromium binary found (apt-get install chromium, or set CHROMIUM)";
  const std::string reference = std::string(TRAINWRECK_SOURCE_DIR) + "/results/reference/cpu";
  if (!fs::exists(reference + "/matrix.json")) GTEST_SKIP() << "no committed reference in " << reference;
  const tw_test::TempDir tmp;
  const std::string& dir = tmp.path();
  const std::string catalog =
      fs::exists(reference + "/catalog.json") ? " --catalog '" + reference + "/catalog.json'" : "";
  const tw_test::ShellResult r =
      tw_test::run_host("report '" + reference + "' --format html --out '" + dir + "/report.html'" + catalog);
  ASSERT_EQ(r.code, 0) << r.err;
  const std::string browser = "timeout 90 '" + chromium +
                              "' --headless --no-sandbox --disable-gpu --no-first-run "
                              "--user-data-dir='" +
                              dir + "/profile' --window-size=1400,1000 ";
  const std::string url = "file://" + dir + "/report.html#s-lr_too_high-cpu";
  ASSERT_EQ(shell(browser + "--dump-dom '" + url + "' >'" + dir + "/dom.html' 2>'" + dir + "/err'"), 0)
      << slurp(dir + "/err");
  const std::string dom = slurp(dir + "/dom.html");
  EXPECT_EQ(root_attribute(dom, "data-script-error"), "");
  const std::string width = root_attribute(dom, "data-page-width");
  ASSERT_FALSE(width.empty());
  EXPECT_LE(std::stoi(width), 1400) << "the overview scrolls sideways at 1400 px";
  EXPECT_EQ(root_attribute(dom, "data-figures-drawn"), "1");
  EXPECT_GE(std::stoi("0" + root_attribute(dom, "data-legend-entries-drawn")), 5);
}

}  // namespace
