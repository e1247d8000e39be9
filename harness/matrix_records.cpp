#include "harness/matrix_records.h"

#include "harness/json_util.h"

namespace tw {
using nlohmann::json;

const json& MatrixCell::evidence() const {
  static const json empty = json::object();
  const json& ev = member(*cell, "evidence");
  return ev.is_object() ? ev : empty;
}

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

std::vector<MatrixCell> matrix_cells(const json& matrix) {
  std::vector<MatrixCell> out;
  for (const auto& c : cells_of(matrix)) out.push_back(matrix_cell(c));
  return out;
}

}  // namespace tw
