#pragma once
// Internal to harness/diff/: the pieces the text and the Markdown rendering of a diff share (the
// public ones, for other views of the diff, are in diff.h).
#include <array>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "harness/diff/diff.h"

namespace tw::diff_detail {

// A value as text, a list of words (CPU flags) as the words: "avx avx2 fma".
std::string show_value(const nlohmann::json& v);
// A recorded fraction as a percentage ("12.5%"); anything else as it is.
std::string fraction_text(const nlohmann::json& v);
// The closing line: cells compared, outcomes changed, evidence changed, cells on one side only.
std::string summary_line(const nlohmann::json& d);

// Cell-seeds whose curves are comparable and not identical: {id, seed label, words}.
std::vector<std::array<std::string, 3>> curve_rows(const nlohmann::json& d);

// A cell whose speed is beyond the band: its id, slower or faster, the words.
struct SpeedRow {
  std::string id;
  SpeedVerdict verdict;
  std::string text;
};
std::vector<SpeedRow> speed_rows(const nlohmann::json& d);

}  // namespace tw::diff_detail
