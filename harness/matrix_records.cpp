#include "harness/matrix_records.h"

#include <algorithm>
#include <filesystem>
#include <map>

#include "harness/errors.h"
#include "harness/json_util.h"
#include "harness/store.h"

namespace tw {
using nlohmann::json;

const json& evidence_of(const json& cell) {
  static const json empty = json::object();
  const json& ev = member(cell, "evidence");
  return ev.is_object() ? ev : empty;
}

const json& MatrixCell::evidence() const { return evidence_of(*cell); }

const json& MatrixCell::expected() const { return member(*cell, "expected"); }

std::optional<Outcome> outcome_of(const json& word) {
  return word.is_string() ? parse_outcome(word.get_ref<const std::string&>()) : std::nullopt;
}

MatrixCell matrix_cell(const json& cell) {
  MatrixCell c;
  c.cell = &cell;
  c.id = cell.value("id", "");
  c.scenario = cell.value("scenario", "");
  c.fault = cell.value("fault", "");
  c.mitigation = cell.value("mitigation", "");
  c.device = cell.value("device", "");
  c.outcome_name = cell.value("outcome", "");
  c.outcome = parse_outcome(c.outcome_name);
  c.verdict_name = cell.value("verdict", "unpinned");
  c.verdict = parse_verdict(c.verdict_name);
  return c;
}

Matrix::Matrix(json raw) : raw_(std::move(raw)) {
  for (const auto& c : cells_of(raw_)) cells_.push_back(matrix_cell(c));
}

Matrix& Matrix::operator=(Matrix other) noexcept {
  raw_.swap(other.raw_);
  cells_.swap(other.cells_);
  return *this;
}

const json& Matrix::context() const {
  static const json empty = json::object();
  const json& ctx = member(raw_, "context");
  return ctx.is_object() ? ctx : empty;
}

std::vector<std::string> Matrix::devices() const {
  std::vector<std::string> out;
  for (const MatrixCell& c : cells_)
    if (std::find(out.begin(), out.end(), c.device) == out.end()) out.push_back(c.device);
  return out;
}

// Only the "scenarios" member changes: the cells stay where they are, and the records with them.
void Matrix::add_scenario_info(const json& listing) { fill_scenario_info(raw_, listing); }

Matrix load_matrix(const std::string& path) {
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
  return Matrix(std::move(m));
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

const char* outcome_step_key(std::optional<Outcome> outcome) {
  if (outcome == Outcome::kDiverged) return "symptom_step";
  if (outcome == Outcome::kDetected) return "detected_step";
  if (outcome == Outcome::kHealthy) return "reached_step";
  return nullptr;
}

const char* outcome_loss_key(std::optional<Outcome> outcome, const nlohmann::json& ev) {
  if ((outcome == Outcome::kStalled || outcome == Outcome::kSlow) && ev.contains("final_eval_loss"))
    return "final_eval_loss";
  if (outcome == Outcome::kStalled && ev.contains("final_loss")) return "final_loss";
  return nullptr;
}

}  // namespace tw
