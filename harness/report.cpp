#include "harness/report.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <map>
#include <sstream>
#include <vector>

#include "harness/catalog.h"
#include "harness/figures.h"
#include "harness/json_util.h"
#include "harness/matrix_records.h"
#include "harness/outcome.h"
#include "harness/scenario.h"
#include "harness/text_util.h"

namespace tw {
using nlohmann::json;

namespace {

std::string mib(double bytes) { return in_mib(bytes, 3) + "MiB"; }

// JUnit readers (Surefire's schema, GitLab, the GitHub reporters) take plain decimals only.
std::string junit_time(double seconds) {
  if (!(seconds > 0) || !std::isfinite(seconds)) return "0.000";
  std::ostringstream os;
  os.setf(std::ios::fixed);
  os.precision(3);
  os << seconds;
  return os.str();
}

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\r\n") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

std::string text(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_null()) return "";
  if (v.is_number_float()) return format_number(v.get<double>(), 4);
  return v.dump();
}

// A number as it is, to the last digit that tells it apart (the shortest text that reads back
// as the same double); anything else as text().
std::string exact(const json& v) {
  if (!v.is_number_float()) return text(v);
  const double d = v.get<double>();
  char buf[64];
  const auto r = std::to_chars(buf, buf + sizeof buf, d);
  return r.ec == std::errc() ? std::string(buf, r.ptr) : text(v);
}

}  // namespace

std::string md_escape(const std::string& s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (c == '|') out += "\\|";
    else if (c == '\r' && i + 1 < s.size() && s[i + 1] == '\n') continue;  // CR LF: one line break, one space
    else if (c == '\n' || c == '\r') out += ' ';
    else out += c;
  }
  return out;
}

std::string cell_summary(const json& cell) {
  const std::string outcome = cell.value("outcome", "?");
  const std::optional<Outcome> o = parse_outcome(outcome);
  const json& ev = evidence_of(cell);
  if (o == Outcome::kDiverged && ev.contains("symptom_step")) return outcome + "@" + text(ev["symptom_step"]);
  if (o == Outcome::kDetected) {
    std::string s = outcome;
    if (ev.contains("detected_step")) s += "@" + text(ev["detected_step"]);
    if (ev.contains("detection_latency_steps")) s += " (+" + text(ev["detection_latency_steps"]) + ")";
    return s;
  }
  if (o == Outcome::kHealthy && ev.contains("reached_step")) return outcome + "@" + text(ev["reached_step"]);
  if ((o == Outcome::kStalled || o == Outcome::kSlow) && ev.contains("final_eval_loss"))
    return outcome + " eval " + text(ev["final_eval_loss"]);
  if (o == Outcome::kStalled && ev.contains("final_loss")) return outcome + " loss " + text(ev["final_loss"]);
  if (o == Outcome::kLeak && ev.contains("mem_growth_bytes_per_step"))
    return outcome + " +" + mib(ev["mem_growth_bytes_per_step"].get<double>()) + "/step";
  if (o == Outcome::kOom && ev.contains("peak_mem_bytes"))
    return outcome + " @" + mib(ev["peak_mem_bytes"].get<double>());
  if (o == Outcome::kCrash && ev.contains("signal")) return outcome + " " + text(ev["signal"]);
  if (o == Outcome::kHang && ev.contains("watchdog")) return outcome + " (" + text(ev["watchdog"]) + ")";
  return outcome;
}

bool seeds_disagree(const json& cell) {
  auto it = cell.find("seeds");
  return it != cell.end() && it->is_object() && it->value("counts", json::object()).size() > 1;
}

std::string seeds_text(const json& cell) {
  auto it = cell.find("seeds");
  if (it == cell.end() || !it->is_object()) return "";
  const json outcomes = it->value("outcomes", json::array());
  if (!outcomes.is_array() || outcomes.size() < 2) return "";
  // Outcomes by count, most frequent first; ties in the order the seeds ran.
  std::vector<std::pair<std::string, int>> counts;
  for (const auto& o : outcomes) {
    const std::string name = o.is_string() ? o.get<std::string>() : "?";
    auto at = std::find_if(counts.begin(), counts.end(), [&](const auto& p) { return p.first == name; });
    if (at == counts.end()) counts.push_back({name, 1});
    else ++at->second;
  }
  std::stable_sort(counts.begin(), counts.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
  const std::string n = std::to_string(outcomes.size());
  if (counts.size() == 1) return n + "/" + n + " seeds";
  std::string out;
  for (const auto& [name, k] : counts) out += (out.empty() ? "" : ", ") + name + " " + std::to_string(k) + "/" + n;
  return out;
}

std::string seed_count(const json& cell) {
  const std::string seeds = seeds_text(cell);
  if (seeds.empty() || seeds_disagree(cell)) return seeds;
  return seeds.substr(0, seeds.find(' '));  // "3/3 seeds" -> "3/3"
}

std::string cell_display(const json& cell) {
  const std::string seeds = seeds_text(cell);
  if (seeds.empty()) return cell_summary(cell);
  return seeds_disagree(cell) ? seeds : cell_summary(cell) + " (" + seeds + ")";
}

std::string device_title(const std::string& device, const json& ctx) {
  const json* name = nullptr;
  if (device == "cuda") name = &member(member(ctx, "probe"), "gpu_name");
  else if (device == "cpu") name = &member(member(ctx, "host"), "cpu");
  return name && name->is_string() ? device + " (" + name->get<std::string>() + ")" : device;
}

std::string mitigation_display(const json& cell) {
  std::string label = cell.value("mitigation", "");
  auto it = cell.find("stack");
  if (it == cell.end() || !it->is_array() || it->empty()) return label;
  std::string names;
  for (const auto& m : *it) {
    if (!names.empty()) names += '+';
    names += m.is_string() ? m.get<std::string>() : std::string("?");
  }
  return label + " [" + names + "]";
}

json summarize_verdicts(const Matrix& matrix) {
  json s = {{"total", 0}, {"pass", 0}, {"unexpected", 0}, {"unpinned", 0}, {"flaky", 0}, {"seed_dependent", 0}};
  for (const MatrixCell& c : matrix.cells()) {
    s["total"] = s["total"].get<int>() + 1;
    const std::optional<Verdict> v = c.verdict;
    if (!v) continue;
    // JSON keys are identifiers: "seed-dependent" is counted as "seed_dependent".
    const std::string key = *v == Verdict::kSeedDependent ? "seed_dependent" : to_string(*v);
    s[key] = s[key].get<int>() + 1;
  }
  return s;
}

int count_failures(const Matrix& matrix) {
  int n = 0;
  for (const MatrixCell& c : matrix.cells()) n += c.failure() ? 1 : 0;
  return n;
}

namespace {

// ", 2 flaky, 1 seed-dependent": the failure kinds beyond "unexpected", only when there are any.
std::string other_failures(const json& s) {
  std::string out;
  if (s.value("flaky", 0) > 0) out += ", " + std::to_string(s.value("flaky", 0)) + " flaky";
  if (s.value("seed_dependent", 0) > 0) out += ", " + std::to_string(s.value("seed_dependent", 0)) + " seed-dependent";
  return out;
}

// "20240611 diverged, 20240612 stalled": each seed's outcome, for failure messages.
std::string per_seed_outcomes(const json& cell) {
  auto it = cell.find("seeds");
  if (it == cell.end() || !it->is_object()) return "";
  const json values = it->value("values", json::array()), outcomes = it->value("outcomes", json::array());
  std::string out;
  for (std::size_t i = 0; i < values.size() && i < outcomes.size(); ++i)
    out += (out.empty() ? "" : ", ") + text(values[i]) + " " + text(outcomes[i]);
  return out;
}

}  // namespace

std::string render_console(const Matrix& matrix, bool color) {
  std::ostringstream os;
  const char* red = color ? "\033[31m" : "";
  const char* green = color ? "\033[32m" : "";
  const char* yellow = color ? "\033[33m" : "";
  const char* reset = color ? "\033[0m" : "";
  std::string scenario, device;
  for (const MatrixCell& cell : matrix.cells()) {
    if (cell.scenario != scenario || cell.device != device) {
      scenario = cell.scenario;
      device = cell.device;
      os << "\n" << scenario << " [" << device << "]  fault: " << cell.fault << "\n";
    }
    const std::string& verdict = cell.verdict_name;
    const char* col = cell.is(Verdict::kPass) ? green : cell.is(Verdict::kUnpinned) ? yellow : red;
    std::string summary = cell_display(*cell.cell);
    std::string mitigation = mitigation_display(*cell.cell);
    // Columns, with at least one space after a long stack name or seed count.
    mitigation.resize(std::max<std::size_t>(mitigation.size() + 1, 26), ' ');
    summary.resize(std::max<std::size_t>(summary.size() + 1, 30), ' ');
    os << "  " << mitigation << summary << col << verdict << reset;
    if (cell.is(Verdict::kUnexpected)) os << " (expected " << text(cell.expected()) << ")";
    os << "\n";
  }
  const json s = summarize_verdicts(matrix);
  os << "\n"
     << s["total"] << " cells: " << s["pass"] << " as expected, " << s["unexpected"] << " unexpected, " << s["unpinned"]
     << " unpinned" << other_failures(s) << "\n";
  return os.str();
}

namespace {
std::string stack_of(const json& cell) {
  std::string names;
  if (cell.contains("stack") && cell["stack"].is_array())
    for (const auto& m : cell["stack"]) {
      if (!names.empty()) names += '+';
      names += text(m);
    }
  return names;
}
}  // namespace

// ---- the layout for people -----------------------------------------------------------------------

namespace {

// Where an article row sorts: the source article's rows in its order, then rows the article does
// not have, then the unknown row ("").
std::size_t article_rank(const std::string& name) {
  static const std::vector<std::string> order = {
      "data", "model too complex", "hyper-parameters", "hardware", "code", "framework / environment", "FAQ", "control"};
  auto it = std::find(order.begin(), order.end(), name);
  if (it != order.end()) return static_cast<std::size_t>(it - order.begin());
  return name.empty() ? order.size() + 1 : order.size();
}

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

json scenario_info_block(const std::vector<Scenario>& scenarios, const Catalog& catalog) {
  json out = json::object();
  for (const auto& s : scenarios) {
    json j = {{"fault", s.fault}, {"description", s.description}};
    if (const ComponentInfo* f = catalog.fault(s.fault)) {
      j["fault_summary"] = f->summary;
      j["article_row"] = f->article_row;
    }
    out[s.name] = j;
  }
  return out;
}

std::string article_row_title(const std::string& name) { return name.empty() ? "other scenarios" : name; }

std::vector<ArticleRow> article_rows(const Matrix& matrix, const std::string& device) {
  const std::vector<MatrixCell>& cells = matrix.cells();
  std::vector<ArticleRow> rows;
  std::map<std::string, std::size_t> row_at;
  std::map<std::string, std::pair<std::size_t, std::size_t>> block_at;  // scenario -> (row, block)
  for (std::size_t i = 0; i < cells.size(); ++i) {
    const MatrixCell& c = cells[i];
    if (c.device != device) continue;
    const std::string& scenario = c.scenario;
    auto b = block_at.find(scenario);
    if (b == block_at.end()) {
      const json& info = scenario_info(matrix.raw(), scenario);
      const std::string row = info.value("article_row", "");
      if (!row_at.count(row)) {
        row_at[row] = rows.size();
        rows.push_back({row, {}});
      }
      ScenarioBlock block;
      block.scenario = scenario;
      block.device = device;
      block.fault = c.cell->value("fault", info.value("fault", ""));
      block.fault_summary = info.value("fault_summary", "");
      block.description = info.value("description", "");
      rows[row_at[row]].scenarios.push_back(block);
      b = block_at.emplace(scenario, std::make_pair(row_at[row], rows[row_at[row]].scenarios.size() - 1)).first;
    }
    auto& list = rows[b->second.first].scenarios[b->second.second].cells;
    // The bare fault first: every remedy is read against it.
    if (c.mitigation == "none") list.insert(list.begin(), i);
    else list.push_back(i);
  }
  std::stable_sort(rows.begin(), rows.end(), [](const ArticleRow& a, const ArticleRow& b) {
    return article_rank(a.name) < article_rank(b.name);
  });
  return rows;
}

const char* to_string(RemedyRole role) {
  switch (role) {
    case RemedyRole::kFault: return "fault";
    case RemedyRole::kHealed: return "healed";
    case RemedyRole::kCaught: return "caught";
    case RemedyRole::kNotEnough: return "not enough";
  }
  return "not enough";
}

RemedyRole remedy_role(const MatrixCell& cell) {
  if (cell.mitigation == "none") return RemedyRole::kFault;
  if (seeds_disagree(*cell.cell)) return RemedyRole::kNotEnough;
  if (cell.is(Outcome::kHealthy)) return RemedyRole::kHealed;
  if (cell.is(Outcome::kDetected)) return RemedyRole::kCaught;
  return RemedyRole::kNotEnough;
}

std::string outcome_short(const json& cell) {
  if (seeds_disagree(cell)) return seeds_text(cell);
  const std::string n = seed_count(cell);
  return cell_summary(cell) + (n.empty() ? "" : " " + n);
}

std::string per_seed_keys(const json& cell) {
  auto it = cell.find("seeds");
  if (it == cell.end() || !it->is_object()) return "";
  const json outcomes = it->value("outcomes", json::array()), evidence = it->value("evidence", json::array());
  if (!outcomes.is_array() || outcomes.size() < 2) return "";
  std::string out;
  bool numbers = false;
  for (std::size_t i = 0; i < outcomes.size(); ++i) {
    const std::string o = text(outcomes[i]);
    const json ev =
        evidence.is_array() && i < evidence.size() && evidence[i].is_object() ? evidence[i] : json::object();
    std::string key;
    const std::optional<Outcome> outcome = outcome_of(outcomes[i]);
    const char* step = outcome == Outcome::kDiverged   ? "symptom_step"
                       : outcome == Outcome::kDetected ? "detected_step"
                       : outcome == Outcome::kHealthy  ? "reached_step"
                                                       : "";
    if (*step && ev.contains(step)) key = "@" + text(ev[step]);
    else if ((outcome == Outcome::kStalled || outcome == Outcome::kSlow) && ev.contains("final_eval_loss"))
      key = text(ev["final_eval_loss"]);
    else if (outcome == Outcome::kStalled && ev.contains("final_loss")) key = text(ev["final_loss"]);
    else key = o;
    if (key != o) numbers = true;
    if (seeds_disagree(cell) && key.rfind(o, 0) != 0) key = o + (key[0] == '@' ? "" : " ") + key;
    out += (out.empty() ? "" : ", ") + key;
  }
  // Outcome words alone say no more than the seed count does.
  return numbers ? out : "";
}

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
  const json s = summarize_verdicts(matrix);
  os << s["total"] << " cells: " << s["pass"] << " as expected, " << s["unexpected"] << " unexpected, " << s["unpinned"]
     << " unpinned" << other_failures(s) << ".\n\n"
     << kMarkdownLegend;
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

// Rows across devices, in the article's order, each with its scenarios on every device.
std::vector<std::pair<std::string, std::vector<ScenarioBlock>>> rows_across_devices(const Matrix& matrix) {
  std::vector<std::string> order;
  std::map<std::string, std::vector<ScenarioBlock>> by_row;
  for (const auto& device : matrix.devices())
    for (const auto& row : article_rows(matrix, device)) {
      if (!by_row.count(row.name)) order.push_back(row.name);
      auto& list = by_row[row.name];
      list.insert(list.end(), row.scenarios.begin(), row.scenarios.end());
    }
  std::stable_sort(order.begin(), order.end(),
                   [](const std::string& a, const std::string& b) { return article_rank(a) < article_rank(b); });
  std::vector<std::pair<std::string, std::vector<ScenarioBlock>>> rows;
  for (const auto& name : order) rows.emplace_back(name, by_row[name]);
  return rows;
}

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

std::string render_run_footer(const Matrix& matrix, const std::string& dir, bool color) {
  std::ostringstream os;
  const char* red = color ? "\033[31m" : "";
  const char* reset = color ? "\033[0m" : "";
  const std::string at = dir.empty() || dir.back() == '/' ? dir : dir + "/";
  os << "\nresults: " << at << "matrix.md, " << at << "report.html (figures in " << at << "figures/)\n";
  for (const MatrixCell& c : matrix.cells()) {
    if (!c.failure()) continue;
    std::string line = c.id + ": " + cell_display(*c.cell);
    if (c.is(Verdict::kUnexpected)) line += ", expected " + text(c.expected());
    os << red << c.verdict_name << reset << "  " << line << "\n";
  }
  return os.str();
}

namespace {

std::string reason_of(const json& cell) {
  const json& ev = evidence_of(cell);
  return ev.contains("reason") ? " (" + text(ev["reason"]) + ")" : "";
}

// One cell as a JUnit testcase: a failure, a skipped cell (not run), or a pass; its evidence,
// seeds and last output in system-out.
void junit_testcase(std::ostream& os, const std::string& suite, const MatrixCell& c) {
  const json& ev = c.evidence();
  const json& cell = *c.cell;
  os << "    <testcase classname=\"" << xml_escape(suite) << "\" name=\""
     << xml_escape(mitigation_display(cell) + " [" + c.device + "]") << "\" time=\""
     << junit_time(ev.value("wall_seconds", 0.0)) << "\">\n";
  const std::string seeds = per_seed_outcomes(cell);
  std::string detail = "outcome " + c.outcome_name + ", expected " + text(c.expected()) +
                       "\nevidence: " + ev.dump(-1, ' ', false, json::error_handler_t::replace);
  if (!seeds.empty()) detail += "\nseeds: " + seeds;
  if (c.failure()) {
    std::string message = cell_display(cell) + " (expected " + text(c.expected()) + ")";
    if (!seeds.empty()) message += "; seeds: " + seeds;
    os << "      <failure type=\"" << xml_escape(c.verdict_name) << "\" message=\"" << xml_escape(valid_utf8(message))
       << "\">" << xml_escape(valid_utf8(detail)) << "</failure>\n";
  } else if (c.not_run()) {
    os << "      <skipped message=\"" << xml_escape(valid_utf8("not run: " + cell_display(cell) + reason_of(cell)))
       << "\"/>\n";
  }
  std::string out = detail;
  if (c.is(Verdict::kUnpinned) && !c.not_run())
    out = "unpinned: no expectation pinned; observed " + cell_display(cell) + "\n" + out;
  const std::string tail = cell.value("log_tail", "");
  if (!tail.empty()) out += "\n--- last output of the cell ---\n" + tail;
  os << "      <system-out>" << xml_escape(valid_utf8(out)) << "</system-out>\n";
  os << "    </testcase>\n";
}

// One scenario's cells as a JUnit testsuite.
void junit_suite(std::ostream& os, const std::string& name, const std::vector<const MatrixCell*>& cells,
                 const std::string& timestamp) {
  int failures = 0, skipped = 0;
  double time = 0;
  for (const MatrixCell* c : cells) {
    failures += c->failure() ? 1 : 0;
    // A cell the machine could not run (it lacks a GPU, a second GPU, ...): JUnit's "skipped".
    skipped += !c->failure() && c->not_run() ? 1 : 0;
    time += c->evidence().value("wall_seconds", 0.0);
  }
  os << "  <testsuite name=\"" << xml_escape(name) << "\" tests=\"" << cells.size() << "\" failures=\"" << failures
     << "\" errors=\"0\" skipped=\"" << skipped << "\" time=\"" << junit_time(time) << "\"";
  if (!timestamp.empty()) os << " timestamp=\"" << xml_escape(timestamp) << "\"";
  os << ">\n";
  // A cell that ran without a pinned expectation passes (it is not a failure, and it ran), and
  // says so twice: a suite property per such cell, and the first line of its system-out.
  std::string properties;
  for (const MatrixCell* c : cells)
    if (c->is(Verdict::kUnpinned) && !c->not_run())
      properties +=
          "      <property name=\"unpinned\" value=\"" +
          xml_escape(valid_utf8(mitigation_display(*c->cell) + " [" + c->device + "]: " + cell_display(*c->cell))) +
          "\"/>\n";
  if (!properties.empty()) os << "    <properties>\n" << properties << "    </properties>\n";
  for (const MatrixCell* c : cells) junit_testcase(os, name, *c);
  os << "  </testsuite>\n";
}

}  // namespace

std::string render_junit(const Matrix& matrix) {
  std::ostringstream os;
  const json s = summarize_verdicts(matrix);
  std::map<std::string, std::vector<const MatrixCell*>> suites;
  std::vector<std::string> order;
  double total_time = 0;
  for (const MatrixCell& c : matrix.cells()) {
    if (!suites.count(c.scenario)) order.push_back(c.scenario);
    total_time += c.evidence().value("wall_seconds", 0.0);
    suites[c.scenario].push_back(&c);
  }
  const json& ctx = matrix.context();
  const std::string timestamp = ctx.contains("started_at") ? text(ctx["started_at"]) : "";
  // The root carries no "skipped": Surefire's schema, which Jenkins validates against, has none there.
  os << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  os << "<testsuites name=\"trainwreck\" tests=\"" << s["total"] << "\" failures=\"" << count_failures(matrix)
     << "\" errors=\"0\" time=\"" << junit_time(total_time) << "\">\n";
  for (const auto& name : order) junit_suite(os, name, suites[name], timestamp);
  os << "</testsuites>\n";
  return os.str();
}

std::string render_csv(const Matrix& matrix) {
  std::ostringstream os;
  os << "id,scenario,fault,mitigation,device,outcome,expected,verdict,summary,symptom_step,detected_step,"
        "reached_step,final_loss,final_eval_loss,peak_mem_bytes,mem_growth_bytes_per_step,wall_seconds,stack,seeds,"
        "article_row,train_seconds,step_seconds_median,peak_alloc_bytes,peak_reserved_bytes,mem_growth_bytes\n";
  for (const MatrixCell& r : matrix.cells()) {
    const json& c = *r.cell;
    const json& ev = r.evidence();
    // Numbers exactly as the matrix holds them: a spreadsheet or a script gets no rounded value.
    auto field = [&](const char* k) { return ev.contains(k) ? csv_field(exact(ev[k])) : std::string(); };
    os << csv_field(r.id) << "," << csv_field(r.scenario) << "," << csv_field(r.fault) << "," << csv_field(r.mitigation)
       << "," << csv_field(r.device) << "," << csv_field(r.outcome_name) << "," << csv_field(text(r.expected())) << ","
       << csv_field(c.value("verdict", "")) << "," << csv_field(cell_summary(c)) << "," << field("symptom_step") << ","
       << field("detected_step") << "," << field("reached_step") << "," << field("final_loss") << ","
       << field("final_eval_loss") << "," << field("peak_mem_bytes") << "," << field("mem_growth_bytes_per_step") << ","
       << field("wall_seconds") << "," << csv_field(stack_of(c)) << "," << csv_field(seeds_text(c)) << ","
       << csv_field(scenario_info(matrix.raw(), r.scenario).value("article_row", ""));
    // Added later, at the end so that the earlier columns keep their places.
    for (const char* k :
         {"train_seconds", "step_seconds_median", "peak_alloc_bytes", "peak_reserved_bytes", "mem_growth_bytes"})
      os << "," << field(k);
    os << "\n";
  }
  return os.str();
}

std::string render_json(const Matrix& matrix) {
  return matrix.raw().dump(1, ' ', false, json::error_handler_t::replace) + "\n";
}

}  // namespace tw
