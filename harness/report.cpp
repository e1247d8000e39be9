// What every report says of a cell (its outcome with the key number, its seeds, its remedy's
// role), the counts of verdicts, and the layout for people: article rows, one block per scenario.
#include "harness/report.h"

#include <algorithm>
#include <map>
#include <vector>

#include "harness/catalog.h"
#include "harness/json_util.h"
#include "harness/matrix_records.h"
#include "harness/outcome.h"
#include "harness/report_detail.h"
#include "harness/scenario.h"

namespace tw {
using nlohmann::json;

namespace report_detail {

std::string text(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_null()) return "";
  if (v.is_number_float()) return format_number(v.get<double>(), 4);
  return v.dump();
}

std::string stack_of(const json& cell) {
  std::string names;
  if (cell.contains("stack") && cell["stack"].is_array())
    for (const auto& m : cell["stack"]) {
      if (!names.empty()) names += '+';
      names += text(m);
    }
  return names;
}

}  // namespace report_detail

using report_detail::text;

namespace {

std::string mib(double bytes) { return in_mib(bytes, 3) + "MiB"; }

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
  const char* step = outcome_step_key(o);
  if (step) {
    std::string s = outcome;
    if (ev.contains(step)) s += "@" + text(ev[step]);
    if (o == Outcome::kDetected && ev.contains("detection_latency_steps"))
      s += " (+" + text(ev["detection_latency_steps"]) + ")";
    return s;
  }
  if (const char* loss = outcome_loss_key(o, ev))
    return outcome + (std::string(loss) == "final_eval_loss" ? " eval " : " loss ") + text(ev[loss]);
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

namespace report_detail {

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

}  // namespace report_detail

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
    const char* step = outcome_step_key(outcome);
    const char* loss = outcome_loss_key(outcome, ev);
    if (step && ev.contains(step)) key = "@" + text(ev[step]);
    else if (loss) key = text(ev[loss]);
    else key = o;
    if (key != o) numbers = true;
    if (seeds_disagree(cell) && key.rfind(o, 0) != 0) key = o + (key[0] == '@' ? "" : " ") + key;
    out += (out.empty() ? "" : ", ") + key;
  }
  // Outcome words alone say no more than the seed count does.
  return numbers ? out : "";
}

}  // namespace tw
