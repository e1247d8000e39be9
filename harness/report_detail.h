#pragma once
// Internal to the report's sources (report.cpp, report_console.cpp, report_markdown.cpp,
// report_export.cpp): the helpers they share beyond report.h.
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "harness/matrix_records.h"
#include "harness/report.h"

namespace tw::report_detail {

// A value as the reports write it: a string as it is, null as "", a float to 4 significant
// digits, anything else as compact JSON.
std::string text(const nlohmann::json& v);

// A stack's members joined with '+' ("residual+batchnorm"); "" for a cell that names none.
std::string stack_of(const nlohmann::json& cell);

// Rows across devices, in the article's order, each with its scenarios on every device.
std::vector<std::pair<std::string, std::vector<ScenarioBlock>>> rows_across_devices(const Matrix& matrix);

}  // namespace tw::report_detail
