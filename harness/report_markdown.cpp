// Markdown: the matrix as tables by article row (matrix.md, report --format md), and the
// evidence pages with their figures (report --format md --out DIR).
#include <algorithm>
#include <cctype>
#include <map>
#include <sstream>
#include <vector>

#include "harness/figures.h"
#include "harness/matrix_records.h"
#include "harness/outcome.h"
#include "harness/report.h"
#include "harness/report_detail.h"

namespace tw {
using nlohmann::json;
using report_detail::rows_across_devices;
using report_detail::stack_of;
using report_detail::text;

namespace {

// The outcome without its word, where the column already says it: "@40", "@15 (+0)".
std::string key_number(const json& cell) {
  const std::string outcome = cell.value("outcome", "?");
  const std::string summary = cell_summary(cell);
  if (summary.rfind(outcome + "@", 0) == 0) return summary.substr(outcome.size());
  return summary;
}

// A remedy as one entry of the overview's column: "lower_lr @40 3/3", "adam (stalled 3/3)".
// Not escaped: the caller escapes the whole entry once.
std::string overview_entry(const MatrixCell& c, bool markdown) {
  const json& cell = *c.cell;
  const RemedyRole role = remedy_role(c);
  const std::string label = markdown ? "`" + c.mitigation + "`" : c.mitigation;
  std::string what;
  if (role == RemedyRole::kFault) {
    what = outcome_short(cell);
  } else if ((role == RemedyRole::kHealed || role == RemedyRole::kCaught) && !seeds_disagree(cell)) {
    const std::string key = key_number(cell), n = seed_count(cell);
    what = label + (key == c.outcome_name ? "" : " " + key) + (n.empty() ? "" : " " + n);
  } else {
    what = label + " (" + outcome_short(cell) + ")";
  }
  return what;
}

std::string verdict_note_md(const MatrixCell& c) {
  if (!c.verdict) return "";
  switch (*c.verdict) {
    case Verdict::kUnexpected: return " ✗ expected " + text(c.expected());
    case Verdict::kSeedDependent:
    case Verdict::kFlaky: return std::string(" ✗ ") + to_string(*c.verdict);
    case Verdict::kUnpinned: return " (unpinned)";
    case Verdict::kPass: return "";
  }
  return "";
}

std::string md_entry(const MatrixCell& c) {
  std::string e = md_escape(overview_entry(c, true));
  if (c.verdict && is_failure(*c.verdict)) e = "**" + e + "**";
  return e + md_escape(verdict_note_md(c));
}

// Stacks named in a set of cells: "`resnet` = residual + batchnorm + he_init", once each.
std::string stacks_line(const Matrix& matrix, const std::vector<std::size_t>& which) {
  std::vector<std::string> seen;
  std::string out;
  for (const std::size_t i : which) {
    const MatrixCell& c = matrix.cells()[i];
    const std::string stack = stack_of(*c.cell);
    if (stack.find('+') == std::string::npos) continue;
    const std::string entry = "`" + md_escape(c.mitigation) + "` = " + stack;
    if (std::find(seen.begin(), seen.end(), entry) != seen.end()) continue;
    seen.push_back(entry);
    std::string members = stack;
    std::size_t at = 0;
    while ((at = members.find('+', at)) != std::string::npos) {
      members.replace(at, 1, " + ");
      at += 3;
    }
    out += (out.empty() ? "" : "; ") + ("`" + md_escape(c.mitigation) + "` = " + md_escape(members));
  }
  return out.empty() ? "" : "Stacks: " + out + ".";
}

// Text folded into lines of at most `width` characters (words longer than that stay whole).
std::string wrap(const std::string& text_in, std::size_t width) {
  std::istringstream words(text_in);
  std::string out, line;
  for (std::string w; words >> w;) {
    if (!line.empty() && line.size() + 1 + w.size() > width) {
      out += line + "\n";
      line.clear();
    }
    line += (line.empty() ? "" : " ") + w;
  }
  return out + line;
}

std::string context_line(const json& ctx) {
  std::string out;
  const json probe = ctx.value("probe", json::object()), host = ctx.value("host", json::object());
  auto add = [&](const std::string& s) { out += (out.empty() ? "" : "; ") + s; };
  if (probe.contains("libtorch")) add("LibTorch " + text(probe["libtorch"]));
  if (probe.contains("cuda_runtime")) add("CUDA " + text(probe["cuda_runtime"]));
  if (probe.contains("gpu_name")) add(text(probe["gpu_name"]));
  if (host.contains("cpu")) add(text(host["cpu"]));
  if (host.contains("compiler")) add(text(host["compiler"]));
  if (host.contains("git_revision")) add("trainwreck " + text(host["git_revision"]));
  if (ctx.contains("seeds") && ctx["seeds"].is_array() && ctx["seeds"].size() > 1)
    add(std::to_string(ctx["seeds"].size()) + " seeds (" + text(ctx["seeds"].front()) + " to " +
        text(ctx["seeds"].back()) + ")");
  else if (ctx.contains("seed")) add("seed " + text(ctx["seed"]));
  if (ctx.contains("finished_at")) add("finished " + text(ctx["finished_at"]));
  return out;
}

const char* kMarkdownLegend =
    "Legend: `healthy@k` the median evaluation of the run's last quarter at or under the loss target, k the\n"
    "step from which it stayed there; `diverged@k` a non-finite loss, or a loss 10x the first (blow-up), at\n"
    "step k; `slow eval X` not at the target at the end, the eval loss still falling by a fifth or more per\n"
    "half horizon; `stalled eval X` not at the target and not falling that way; `detected@k (+n)` a guard\n"
    "stopped the run at step k, n steps after the symptom; `oom` out of memory; `leak +X/step` steady memory\n"
    "growth that would exhaust the budget within a million steps; `hang` killed by the watchdog; `crash SIG`\n"
    "killed by a signal; `error` an exception or an exit without a result; `unsupported` the machine lacks a\n"
    "requirement. `3/3` every seed had that outcome; `diverged 2/3, stalled 1/3` seeds that disagree. ✗ marks\n"
    "an outcome that differs from the pinned expectation, or seeds or repeats that disagree. The key step is\n"
    "the first seed's.\n";

}  // namespace

std::string heading_anchor(const std::string& heading) {
  std::string out;
  for (const unsigned char c : heading) {
    if (std::isalnum(c) || c == '_' || c == '-') out += static_cast<char>(std::tolower(c));
    else if (c == ' ') out += '-';
  }
  return out;
}

std::string render_markdown(const Matrix& matrix) {
  std::ostringstream os;
  const json& ctx = matrix.context();
  for (const auto& device : matrix.devices()) {
    os << "### " << md_escape(device_title(device, ctx)) << "\n";
    for (const auto& row : article_rows(matrix, device)) {
      os << "\n#### " << md_escape(article_row_title(row.name)) << "\n\n"
         << "| scenario | none | healed | caught | not enough |\n|---|---|---|---|---|\n";
      std::vector<std::size_t> all;
      for (const auto& block : row.scenarios) {
        std::map<RemedyRole, std::string> column;
        for (const std::size_t i : block.cells) {
          const MatrixCell& c = matrix.cells()[i];
          std::string& col = column[remedy_role(c)];
          col += (col.empty() ? "" : ", ") + md_entry(c);
          all.push_back(i);
        }
        os << "| `" << md_escape(block.scenario) << "`";
        if (block.fault != block.scenario) os << " (" << md_escape(block.fault) << ")";
        for (const RemedyRole role :
             {RemedyRole::kFault, RemedyRole::kHealed, RemedyRole::kCaught, RemedyRole::kNotEnough})
          os << " | " << (column.count(role) ? column[role] : std::string("—"));
        os << " |\n";
      }
      const std::string stacks = stacks_line(matrix, all);
      if (!stacks.empty()) os << "\n" << wrap(stacks, 110) << "\n";
    }
    os << "\n";
  }
  os << count_verdicts(matrix).text() << ".\n\n" << kMarkdownLegend;
  const std::string context = context_line(ctx);
  if (!context.empty()) os << "\n" << wrap("Context: " + context, 110) << "\n";
  return os.str();
}

namespace {

std::string row_file(const std::string& row) {
  std::string slug;
  for (const unsigned char c : article_row_title(row)) {
    if (std::isalnum(c)) slug += static_cast<char>(std::tolower(c));
    else if (!slug.empty() && slug.back() != '-') slug += '-';
  }
  while (!slug.empty() && slug.back() == '-') slug.pop_back();
  return (slug.empty() ? "other" : slug) + ".md";
}

std::string block_heading(const ScenarioBlock& b) { return b.scenario + " (" + b.device + ")"; }

std::string figure_title(const ScenarioBlock& b) { return b.scenario + " on " + b.device + ": every remedy"; }

}  // namespace

std::map<std::string, std::string> render_figures(const Matrix& matrix) {
  std::map<std::string, std::string> out;
  for (const auto& device : matrix.devices())
    for (const auto& row : article_rows(matrix, device))
      for (const auto& b : row.scenarios)
        out["figures/" + figure_file_name(b.scenario, b.device)] =
            svg_scenario_figure(matrix, b.cells, figure_title(b));
  return out;
}

namespace {

// A scenario's section of its row's page: the fault, the figure, a line per remedy.
void evidence_block(std::ostream& page, const Matrix& matrix, const ScenarioBlock& b) {
  page << "\n## " << md_escape(block_heading(b)) << "\n\n";
  std::string what = "Fault `" + b.fault + "`";
  if (!b.fault_summary.empty()) what += ": " + b.fault_summary;
  page << wrap(what + ".", 100) << "\n";
  if (!b.description.empty()) page << "\n" << wrap(b.description, 100) << "\n";
  page << "\n![Training loss per step of every remedy, " << md_escape(block_heading(b)) << "](figures/"
       << figure_file_name(b.scenario, b.device) << ")\n\n"
       << "| remedy | reads | outcome | seeds | verdict |\n|---|---|---|---|---|\n";
  for (const std::size_t i : b.cells) {
    const MatrixCell& cell = matrix.cells()[i];
    const json& c = *cell.cell;
    std::string verdict = cell.verdict_name;
    if (cell.is(Verdict::kUnexpected)) verdict = "✗ unexpected (expected " + text(cell.expected()) + ")";
    else if (cell.is(Verdict::kSeedDependent) || cell.is(Verdict::kFlaky)) verdict = "✗ " + verdict;
    std::string seeds = seed_count(c);
    const std::string keys = per_seed_keys(c);
    if (!keys.empty()) seeds += (seeds.empty() ? "" : ": ") + keys;
    page << "| `" << md_escape(cell.mitigation) << "` | " << to_string(remedy_role(cell)) << " | "
         << md_escape(seeds_disagree(c) ? "first seed " + cell_summary(c) : cell_summary(c)) << " | "
         << md_escape(seeds.empty() ? "1 seed" : seeds) << " | " << md_escape(verdict) << " |\n";
  }
  const std::string stacks = stacks_line(matrix, b.cells);
  if (!stacks.empty()) page << "\n" << wrap(stacks, 100) << "\n";
}

}  // namespace

std::map<std::string, std::string> render_evidence_pages(const Matrix& matrix) {
  std::map<std::string, std::string> out = render_figures(matrix);
  const std::string context = context_line(matrix.context());
  std::ostringstream index;
  index << "# Evidence by row of the article\n\n"
        << wrap(
               "What each failure does and what each remedy changes, one page per row of the article, as the "
               "run recorded it: every remedy of a scenario is a cell run in its own process, and its outcome "
               "is what the harness classified. Generated by `trainwreck report RUN --format md --out DIR` "
               "from the run's matrix.json.",
               100)
        << "\n\n";
  if (!context.empty()) index << wrap("Run: " + context + ".", 100) << "\n\n";
  index << "| article row | scenarios |\n|---|---|\n";
  for (const auto& [row, blocks] : rows_across_devices(matrix)) {
    const std::string file = row_file(row);
    std::ostringstream page;
    page << "# " << md_escape(article_row_title(row)) << "\n\n";
    if (!context.empty()) page << wrap("Run: " + context + ".", 100) << "\n\n";
    page << wrap(
                "Each scenario: what the fault is, its loss next to every remedy's (figure), and a line per "
                "remedy: how it reads against the fault (healed: healthy; caught: a guard stopped the run "
                "with a diagnosis; not enough: neither), its outcome with the key number, and each seed's "
                "key number.",
                100)
         << "\n";
    std::string names;
    for (const auto& b : blocks) {
      names += (names.empty() ? "" : ", ") +
               ("[`" + md_escape(b.scenario) + "`](" + file + "#" + heading_anchor(block_heading(b)) + ")");
      evidence_block(page, matrix, b);
    }
    index << "| [" << md_escape(article_row_title(row)) << "](" << file << ") | " << names << " |\n";
    out[file] = page.str();
  }
  index << "\n" << kMarkdownLegend;
  out["index.md"] = index.str();
  return out;
}
}  // namespace tw
