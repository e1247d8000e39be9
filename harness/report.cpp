#include "harness/report.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <filesystem>
#include <map>
#include <set>
#include <sstream>
#include <vector>

#include "harness/catalog.h"
#include "harness/errors.h"
#include "harness/figures.h"
#include "harness/json_util.h"
#include "harness/matrix_records.h"
#include "harness/outcome.h"
#include "harness/scenario.h"
#include "harness/store.h"
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

const json& evidence_of(const json& cell) {
  static const json empty = json::object();
  auto it = cell.find("evidence");
  return it == cell.end() ? empty : *it;
}

std::vector<std::string> devices_of(const json& matrix) {
  std::vector<std::string> out;
  for (const auto& c : cells_of(matrix)) {
    const std::string d = c.value("device", "");
    if (std::find(out.begin(), out.end(), d) == out.end()) out.push_back(d);
  }
  return out;
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

json load_matrix(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const std::string file = fs::is_directory(path, ec) ? path + "/matrix.json" : path;
  if (!fs::exists(file, ec))
    throw InputError(file, "",
                     fs::exists(path, ec) ? "no matrix.json here (an unfinished or failed run?)"
                                          : "no such results directory or matrix file");
  std::string content;
  try {
    content = read_file(file);
  } catch (const ResultsError& e) {
    throw InputError(file, "", e.what());
  }
  json m = json::parse(content, nullptr, false);
  if (m.is_discarded() || !m.is_object() || !m.contains("cells") || !m["cells"].is_array())
    throw InputError(file, "", "not a trainwreck matrix (expected a JSON object with a \"cells\" array)");
  for (auto& c : m["cells"]) {
    if (!c.is_object() || !c.contains("id") || !c["id"].is_string() || !c.contains("outcome"))
      throw InputError(file, "cells", "every cell needs an \"id\" and an \"outcome\"");
    // The renderers may then rely on these members being there.
    if (!c.contains("expected")) c["expected"] = nullptr;
    if (!c.contains("verdict")) c["verdict"] = "unpinned";
    if (!c.contains("evidence") || !c["evidence"].is_object()) c["evidence"] = json::object();
  }
  return m;
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

json summarize_verdicts(const json& matrix) {
  json s = {{"total", 0}, {"pass", 0}, {"unexpected", 0}, {"unpinned", 0}, {"flaky", 0}, {"seed_dependent", 0}};
  for (const MatrixCell& c : matrix_cells(matrix)) {
    s["total"] = s["total"].get<int>() + 1;
    const std::optional<Verdict> v = c.verdict;
    if (!v) continue;
    // JSON keys are identifiers: "seed-dependent" is counted as "seed_dependent".
    const std::string key = *v == Verdict::kSeedDependent ? "seed_dependent" : to_string(*v);
    s[key] = s[key].get<int>() + 1;
  }
  return s;
}

int count_failures(const json& matrix) {
  int n = 0;
  for (const MatrixCell& c : matrix_cells(matrix)) n += c.failure() ? 1 : 0;
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

std::string render_console(const json& matrix, bool color) {
  std::ostringstream os;
  const char* red = color ? "\033[31m" : "";
  const char* green = color ? "\033[32m" : "";
  const char* yellow = color ? "\033[33m" : "";
  const char* reset = color ? "\033[0m" : "";
  std::string scenario, device;
  for (const auto& c : cells_of(matrix)) {
    if (c.value("scenario", "") != scenario || c.value("device", "") != device) {
      scenario = c.value("scenario", "");
      device = c.value("device", "");
      os << "\n" << scenario << " [" << device << "]  fault: " << c.value("fault", "") << "\n";
    }
    const MatrixCell cell = matrix_cell(c);
    const std::string& verdict = cell.verdict_name;
    const char* col = cell.is(Verdict::kPass) ? green : cell.is(Verdict::kUnpinned) ? yellow : red;
    std::string summary = cell_display(c);
    std::string mitigation = mitigation_display(c);
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

// The source article's rows, in its order.
const std::vector<std::string>& article_order() {
  static const std::vector<std::string> order = {
      "data", "model too complex", "hyper-parameters", "hardware", "code", "framework / environment", "FAQ", "control"};
  return order;
}

// The outcome without its word, where the column already says it: "@40", "@15 (+0)".
std::string key_number(const json& cell) {
  const std::string outcome = cell.value("outcome", "?");
  const std::string summary = cell_summary(cell);
  if (summary.rfind(outcome + "@", 0) == 0) return summary.substr(outcome.size());
  return summary;
}

std::string seed_count(const json& cell) {
  const std::string seeds = seeds_text(cell);
  if (seeds.empty() || seeds_disagree(cell)) return seeds;
  return seeds.substr(0, seeds.find(' '));  // "3/3 seeds" -> "3/3"
}

// A remedy as one entry of the overview's column: "lower_lr @40 3/3", "adam (stalled 3/3)".
// Not escaped: the caller escapes the whole entry once.
std::string overview_entry(const json& cell, bool markdown) {
  const std::string role = remedy_role(cell);
  const std::string label = markdown ? "`" + cell.value("mitigation", "") + "`" : cell.value("mitigation", "");
  std::string what;
  if (role == "fault") {
    what = outcome_short(cell);
  } else if ((role == "healed" || role == "caught") && !seeds_disagree(cell)) {
    const std::string key = key_number(cell), n = seed_count(cell);
    what = label + (key == cell.value("outcome", "") ? "" : " " + key) + (n.empty() ? "" : " " + n);
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

std::string md_entry(const json& cell) {
  const MatrixCell c = matrix_cell(cell);
  std::string e = md_escape(overview_entry(cell, true));
  if (c.verdict && is_failure(*c.verdict)) e = "**" + e + "**";
  return e + md_escape(verdict_note_md(c));
}

// Stacks named in a set of cells: "`resnet` = residual + batchnorm + he_init", once each.
std::string stacks_line(const json& cells, const std::vector<std::size_t>& which) {
  std::vector<std::string> seen;
  std::string out;
  for (const std::size_t i : which) {
    const json& c = cells[i];
    const std::string stack = stack_of(c);
    if (stack.find('+') == std::string::npos) continue;
    const std::string entry = "`" + md_escape(c.value("mitigation", "")) + "` = " + stack;
    if (std::find(seen.begin(), seen.end(), entry) != seen.end()) continue;
    seen.push_back(entry);
    std::string members = stack;
    std::size_t at = 0;
    while ((at = members.find('+', at)) != std::string::npos) {
      members.replace(at, 1, " + ");
      at += 3;
    }
    out += (out.empty() ? "" : "; ") + ("`" + md_escape(c.value("mitigation", "")) + "` = " + md_escape(members));
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
    "Legend: `healthy@k` held the loss target from step k; `diverged@k` a non-finite loss, or a loss 100x the\n"
    "first (blow-up), at step k; `stalled` trained to the end without reaching the target; `detected@k (+n)` a\n"
    "guard stopped the run at step k, n steps after the symptom; `oom` out of memory; `leak +X/step` steady\n"
    "memory growth; `hang` killed by the watchdog; `crash SIG` killed by a signal; `error` an exception or an\n"
    "exit without a result; `unsupported` the machine lacks a requirement. `3/3` every seed had that outcome;\n"
    "`diverged 2/3, stalled 1/3` seeds that disagree. ✗ marks an outcome that differs from the pinned\n"
    "expectation, or seeds or repeats that disagree. The key step is the first seed's.\n";

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

void fill_scenario_info(json& matrix, const json& listing) {
  if (!matrix.contains("scenarios") || !matrix["scenarios"].is_object()) matrix["scenarios"] = json::object();
  json& info = matrix["scenarios"];
  std::map<std::string, const json*> faults, scenarios;
  const json fault_list = listing.value("faults", json::array()),
             scenario_list = listing.value("scenarios", json::array());
  for (const auto& f : fault_list)
    if (f.is_object() && f.contains("name") && f["name"].is_string()) faults[f["name"].get<std::string>()] = &f;
  for (const auto& s : scenario_list)
    if (s.is_object() && s.contains("name") && s["name"].is_string()) scenarios[s["name"].get<std::string>()] = &s;
  for (const auto& c : cells_of(matrix)) {
    const std::string name = c.value("scenario", "");
    json& j = info[name];
    if (!j.is_object()) j = json::object();
    const std::string fault = c.value("fault", "");
    if (!j.contains("fault")) j["fault"] = fault;
    if (auto s = scenarios.find(name); s != scenarios.end() && !j.contains("description") &&
                                       s->second->contains("description") && (*s->second)["description"].is_string())
      j["description"] = (*s->second)["description"];
    if (auto f = faults.find(fault); f != faults.end()) {
      for (const char* k : {"article_row", "summary"}) {
        const std::string key = std::string(k) == "summary" ? "fault_summary" : k;
        if (!j.contains(key) && f->second->contains(k) && (*f->second)[k].is_string()) j[key] = (*f->second)[k];
      }
    }
  }
}

const json& scenario_info(const json& matrix, const std::string& scenario) {
  static const json empty = json::object();
  auto it = matrix.find("scenarios");
  if (it == matrix.end() || !it->is_object()) return empty;
  auto s = it->find(scenario);
  return s == it->end() || !s->is_object() ? empty : *s;
}

std::vector<std::string> matrix_devices(const json& matrix) { return devices_of(matrix); }

std::string article_row_title(const std::string& name) { return name.empty() ? "other scenarios" : name; }

std::vector<ArticleRow> article_rows(const json& matrix, const std::string& device) {
  const json& cells = cells_of(matrix);
  std::vector<ArticleRow> rows;
  std::map<std::string, std::size_t> row_at;
  std::map<std::string, std::pair<std::size_t, std::size_t>> block_at;  // scenario -> (row, block)
  for (std::size_t i = 0; i < cells.size(); ++i) {
    const json& c = cells[i];
    if (c.value("device", "") != device) continue;
    const std::string scenario = c.value("scenario", "");
    auto b = block_at.find(scenario);
    if (b == block_at.end()) {
      const json& info = scenario_info(matrix, scenario);
      const std::string row = info.value("article_row", "");
      if (!row_at.count(row)) {
        row_at[row] = rows.size();
        rows.push_back({row, {}});
      }
      ScenarioBlock block;
      block.scenario = scenario;
      block.device = device;
      block.fault = c.value("fault", info.value("fault", ""));
      block.fault_summary = info.value("fault_summary", "");
      block.description = info.value("description", "");
      rows[row_at[row]].scenarios.push_back(block);
      b = block_at.emplace(scenario, std::make_pair(row_at[row], rows[row_at[row]].scenarios.size() - 1)).first;
    }
    auto& list = rows[b->second.first].scenarios[b->second.second].cells;
    // The bare fault first: every remedy is read against it.
    if (c.value("mitigation", "") == "none") list.insert(list.begin(), i);
    else list.push_back(i);
  }
  const auto& order = article_order();
  auto rank = [&](const std::string& name) {
    auto it = std::find(order.begin(), order.end(), name);
    if (it != order.end()) return static_cast<std::size_t>(it - order.begin());
    return name.empty() ? order.size() + 1 : order.size();
  };
  std::stable_sort(rows.begin(), rows.end(),
                   [&](const ArticleRow& a, const ArticleRow& b) { return rank(a.name) < rank(b.name); });
  return rows;
}

std::string remedy_role(const json& cell) {
  if (cell.value("mitigation", "") == "none") return "fault";
  if (seeds_disagree(cell)) return "not enough";
  const std::optional<Outcome> outcome = outcome_of(member(cell, "outcome"));
  if (outcome == Outcome::kHealthy) return "healed";
  if (outcome == Outcome::kDetected) return "caught";
  return "not enough";
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

std::string render_markdown(const json& matrix) {
  std::ostringstream os;
  const json ctx = matrix.value("context", json::object());
  const json& cells = cells_of(matrix);
  for (const auto& device : devices_of(matrix)) {
    os << "### " << md_escape(device_title(device, ctx)) << "\n";
    for (const auto& row : article_rows(matrix, device)) {
      os << "\n#### " << md_escape(article_row_title(row.name)) << "\n\n"
         << "| scenario | none | healed | caught | not enough |\n|---|---|---|---|---|\n";
      std::vector<std::size_t> all;
      for (const auto& block : row.scenarios) {
        std::map<std::string, std::string> column;
        for (const std::size_t i : block.cells) {
          const json& c = cells[i];
          std::string& col = column[remedy_role(c)];
          col += (col.empty() ? "" : ", ") + md_entry(c);
          all.push_back(i);
        }
        auto get = [&](const char* role) { return column.count(role) ? column[role] : std::string("—"); };
        os << "| `" << md_escape(block.scenario) << "`";
        if (block.fault != block.scenario) os << " (" << md_escape(block.fault) << ")";
        os << " | " << get("fault") << " | " << get("healed") << " | " << get("caught") << " | " << get("not enough")
           << " |\n";
      }
      const std::string stacks = stacks_line(cells, all);
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

std::map<std::string, std::string> render_figures(const json& matrix) {
  std::map<std::string, std::string> out;
  for (const auto& device : devices_of(matrix))
    for (const auto& row : article_rows(matrix, device))
      for (const auto& b : row.scenarios)
        out["figures/" + figure_file_name(b.scenario, b.device)] =
            svg_scenario_figure(matrix, b.cells, figure_title(b));
  return out;
}

namespace {

// Rows across devices, in the article's order, each with its scenarios on every device.
std::vector<std::pair<std::string, std::vector<ScenarioBlock>>> rows_across_devices(const json& matrix) {
  std::vector<std::string> order;
  std::map<std::string, std::vector<ScenarioBlock>> by_row;
  for (const auto& device : devices_of(matrix))
    for (const auto& row : article_rows(matrix, device)) {
      if (!by_row.count(row.name)) order.push_back(row.name);
      auto& list = by_row[row.name];
      list.insert(list.end(), row.scenarios.begin(), row.scenarios.end());
    }
  const auto& article = article_order();
  std::stable_sort(order.begin(), order.end(), [&](const std::string& a, const std::string& b) {
    auto rank = [&](const std::string& n) {
      auto it = std::find(article.begin(), article.end(), n);
      return it != article.end() ? static_cast<std::size_t>(it - article.begin())
             : n.empty()         ? article.size() + 1
                                 : article.size();
    };
    return rank(a) < rank(b);
  });
  std::vector<std::pair<std::string, std::vector<ScenarioBlock>>> rows;
  for (const auto& name : order) rows.emplace_back(name, by_row[name]);
  return rows;
}

// A scenario's section of its row's page: the fault, the figure, a line per remedy.
void evidence_block(std::ostream& page, const json& cells, const ScenarioBlock& b) {
  page << "\n## " << md_escape(block_heading(b)) << "\n\n";
  std::string what = "Fault `" + b.fault + "`";
  if (!b.fault_summary.empty()) what += ": " + b.fault_summary;
  page << wrap(what + ".", 100) << "\n";
  if (!b.description.empty()) page << "\n" << wrap(b.description, 100) << "\n";
  page << "\n![Training loss per step of every remedy, " << md_escape(block_heading(b)) << "](figures/"
       << figure_file_name(b.scenario, b.device) << ")\n\n"
       << "| remedy | reads | outcome | seeds | verdict |\n|---|---|---|---|---|\n";
  for (const std::size_t i : b.cells) {
    const json& c = cells[i];
    const MatrixCell cell = matrix_cell(c);
    std::string verdict = cell.verdict_name;
    if (cell.is(Verdict::kUnexpected)) verdict = "✗ unexpected (expected " + text(cell.expected()) + ")";
    else if (cell.is(Verdict::kSeedDependent) || cell.is(Verdict::kFlaky)) verdict = "✗ " + verdict;
    std::string seeds = seed_count(c);
    const std::string keys = per_seed_keys(c);
    if (!keys.empty()) seeds += (seeds.empty() ? "" : ": ") + keys;
    page << "| `" << md_escape(c.value("mitigation", "")) << "` | " << remedy_role(c) << " | "
         << md_escape(seeds_disagree(c) ? "first seed " + cell_summary(c) : cell_summary(c)) << " | "
         << md_escape(seeds.empty() ? "1 seed" : seeds) << " | " << md_escape(verdict) << " |\n";
  }
  const std::string stacks = stacks_line(cells, b.cells);
  if (!stacks.empty()) page << "\n" << wrap(stacks, 100) << "\n";
}

}  // namespace

std::map<std::string, std::string> render_evidence_pages(const json& matrix) {
  std::map<std::string, std::string> out = render_figures(matrix);
  const json ctx = matrix.value("context", json::object());
  const json& cells = cells_of(matrix);
  const std::string context = context_line(ctx);
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
      evidence_block(page, cells, b);
    }
    index << "| [" << md_escape(article_row_title(row)) << "](" << file << ") | " << names << " |\n";
    out[file] = page.str();
  }
  index << "\n" << kMarkdownLegend;
  out["index.md"] = index.str();
  return out;
}

std::string render_run_footer(const json& matrix, const std::string& dir, bool color) {
  std::ostringstream os;
  const char* red = color ? "\033[31m" : "";
  const char* reset = color ? "\033[0m" : "";
  const std::string at = dir.empty() || dir.back() == '/' ? dir : dir + "/";
  os << "\nresults: " << at << "matrix.md, " << at << "report.html (figures in " << at << "figures/)\n";
  for (const MatrixCell& c : matrix_cells(matrix)) {
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
}  // namespace

std::string render_junit(const json& matrix) {
  std::ostringstream os;
  const json s = summarize_verdicts(matrix);
  std::map<std::string, std::vector<MatrixCell>> suites;
  std::vector<std::string> order;
  double total_time = 0;
  for (MatrixCell& c : matrix_cells(matrix)) {
    if (!suites.count(c.scenario)) order.push_back(c.scenario);
    total_time += c.evidence().value("wall_seconds", 0.0);
    suites[c.scenario].push_back(std::move(c));
  }
  const json ctx = matrix.value("context", json::object());
  const std::string timestamp = ctx.contains("started_at") ? text(ctx["started_at"]) : "";
  // The root carries no "skipped": Surefire's schema, which Jenkins validates against, has none there.
  os << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  os << "<testsuites name=\"trainwreck\" tests=\"" << s["total"] << "\" failures=\"" << count_failures(matrix)
     << "\" errors=\"0\" time=\"" << junit_time(total_time) << "\">\n";
  for (const auto& name : order) {
    const auto& cells = suites[name];
    int failures = 0, skipped = 0;
    double time = 0;
    for (const MatrixCell& c : cells) {
      failures += c.failure() ? 1 : 0;
      // A cell the machine could not run (it lacks a GPU, a second GPU, ...): JUnit's "skipped".
      skipped += !c.failure() && c.not_run() ? 1 : 0;
      time += c.evidence().value("wall_seconds", 0.0);
    }
    os << "  <testsuite name=\"" << xml_escape(name) << "\" tests=\"" << cells.size() << "\" failures=\"" << failures
       << "\" errors=\"0\" skipped=\"" << skipped << "\" time=\"" << junit_time(time) << "\"";
    if (!timestamp.empty()) os << " timestamp=\"" << xml_escape(timestamp) << "\"";
    os << ">\n";
    // A cell that ran without a pinned expectation passes (it is not a failure, and it ran), and
    // says so twice: a suite property per such cell, and the first line of its system-out.
    std::string properties;
    for (const MatrixCell& c : cells)
      if (c.is(Verdict::kUnpinned) && !c.not_run())
        properties +=
            "      <property name=\"unpinned\" value=\"" +
            xml_escape(valid_utf8(mitigation_display(*c.cell) + " [" + c.device + "]: " + cell_display(*c.cell))) +
            "\"/>\n";
    if (!properties.empty()) os << "    <properties>\n" << properties << "    </properties>\n";
    for (const MatrixCell& c : cells) {
      const json& ev = c.evidence();
      const json& cell = *c.cell;
      os << "    <testcase classname=\"" << xml_escape(name) << "\" name=\""
         << xml_escape(mitigation_display(cell) + " [" + c.device + "]") << "\" time=\""
         << junit_time(ev.value("wall_seconds", 0.0)) << "\">\n";
      const std::string seeds = per_seed_outcomes(cell);
      std::string detail = "outcome " + c.outcome_name + ", expected " + text(c.expected()) +
                           "\nevidence: " + ev.dump(-1, ' ', false, json::error_handler_t::replace);
      if (!seeds.empty()) detail += "\nseeds: " + seeds;
      if (c.failure()) {
        std::string message = cell_display(cell) + " (expected " + text(c.expected()) + ")";
        if (!seeds.empty()) message += "; seeds: " + seeds;
        os << "      <failure type=\"" << xml_escape(c.verdict_name) << "\" message=\""
           << xml_escape(valid_utf8(message)) << "\">" << xml_escape(valid_utf8(detail)) << "</failure>\n";
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
    os << "  </testsuite>\n";
  }
  os << "</testsuites>\n";
  return os.str();
}

std::string render_csv(const json& matrix) {
  std::ostringstream os;
  os << "id,scenario,fault,mitigation,device,outcome,expected,verdict,summary,symptom_step,detected_step,"
        "reached_step,final_loss,final_eval_loss,peak_mem_bytes,mem_growth_bytes_per_step,wall_seconds,stack,seeds,"
        "article_row,train_seconds,step_seconds_median,peak_alloc_bytes,peak_reserved_bytes,mem_growth_bytes\n";
  for (const auto& c : cells_of(matrix)) {
    const json& ev = evidence_of(c);
    // Numbers exactly as the matrix holds them: a spreadsheet or a script gets no rounded value.
    auto field = [&](const char* k) { return ev.contains(k) ? csv_field(exact(ev[k])) : std::string(); };
    os << csv_field(c.value("id", "")) << "," << csv_field(c.value("scenario", "")) << ","
       << csv_field(c.value("fault", "")) << "," << csv_field(c.value("mitigation", "")) << ","
       << csv_field(c.value("device", "")) << "," << csv_field(c.value("outcome", "")) << ","
       << csv_field(text(c.value("expected", json()))) << "," << csv_field(c.value("verdict", "")) << ","
       << csv_field(cell_summary(c)) << "," << field("symptom_step") << "," << field("detected_step") << ","
       << field("reached_step") << "," << field("final_loss") << "," << field("final_eval_loss") << ","
       << field("peak_mem_bytes") << "," << field("mem_growth_bytes_per_step") << "," << field("wall_seconds") << ","
       << csv_field(stack_of(c)) << "," << csv_field(seeds_text(c)) << ","
       << csv_field(scenario_info(matrix, c.value("scenario", "")).value("article_row", ""));
    // Added later, at the end so that the earlier columns keep their places.
    for (const char* k :
         {"train_seconds", "step_seconds_median", "peak_alloc_bytes", "peak_reserved_bytes", "mem_growth_bytes"})
      os << "," << field(k);
    os << "\n";
  }
  return os.str();
}

}  // namespace tw
