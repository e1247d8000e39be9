// Helpers shared by the report tests: sample matrices (plain, and with seeds and stacks), the lines
// of a text, a checker for the XML the renderer emits, and a CSV reader.
#pragma once

#include <cctype>
#include <cstddef>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "test_support.h"

namespace tw_test::report_util {
using nlohmann::json;

// Two scenarios x three mitigations on cpu (one cell missing), one scenario on cuda.
inline json sample_matrix() {
  json cells = json::array();
  cells.push_back(cell("lr_one", "none", "cpu", "diverged", "diverged", {{"symptom_step", 3}, {"wall_seconds", 1.5}}));
  cells.push_back(cell("lr_one", "clip", "cpu", "healthy", "healthy", {{"reached_step", 40}, {"wall_seconds", 2.0}}));
  cells.push_back(cell("lr_one", "lower_lr", "cpu", "diverged", "healthy", {{"symptom_step", 9}}));
  cells.push_back(cell("deep_sigmoid", "none", "cpu", "stalled", "stalled", {{"final_loss", 0.69}}));
  cells.push_back(cell("deep_sigmoid", "clip", "cpu", "stalled", nullptr, {{"final_loss", 0.7}}));
  cells.push_back(cell("lr_one", "none", "cuda", "crash", "diverged", {{"signal", "SIGSEGV"}}));
  return {{"context", {{"host", {{"cpu", "Test CPU"}, {"git_revision", "abc123"}}}}}, {"cells", cells}};
}

inline std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

// Enough of XML 1.0 for what the renderer emits: balanced elements, quoted attributes,
// known entities and decimal character references only, no raw '<' or '&', no forbidden control characters.
inline std::string xml_problem(const std::string& xml) {
  auto entity_at = [&](std::size_t k) {
    for (const char* ent : {"&amp;", "&lt;", "&gt;", "&quot;", "&apos;"})
      if (xml.compare(k, std::string(ent).size(), ent) == 0) return true;
    // A decimal character reference (the figures' "&#215;").
    std::size_t d = k + 2;
    while (d < xml.size() && std::isdigit(static_cast<unsigned char>(xml[d]))) ++d;
    return xml.compare(k, 2, "&#") == 0 && d > k + 2 && d < xml.size() && xml[d] == ';';
  };
  auto forbidden = [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u < 0x20 && c != '\n' && c != '\t' && c != '\r';
  };
  std::vector<std::string> open;
  std::size_t i = 0;
  if (xml.compare(0, 5, "<?xml") == 0) i = xml.find("?>") + 2;
  while (i < xml.size()) {
    if (forbidden(xml[i])) return "control character in text";
    if (xml[i] == '&' && !entity_at(i)) return "bare '&' in text";
    if (xml[i] != '<') {
      ++i;
      continue;
    }
    // A tag: quoted attribute values may hold '>' but not '<'.
    std::size_t k = i + 1;
    char quote = 0;
    for (; k < xml.size(); ++k) {
      const char c = xml[k];
      if (forbidden(c)) return "control character in a tag";
      if (quote) {
        if (c == quote) quote = 0;
        else if (c == '<') return "raw '<' in an attribute";
        else if (c == '&' && !entity_at(k)) return "bare '&' in an attribute";
      } else if (c == '"' || c == '\'') {
        quote = c;
      } else if (c == '<') {
        return "raw '<' in text";
      } else if (c == '>') {
        break;
      }
    }
    if (k >= xml.size()) return "unterminated tag";
    const std::string tag = xml.substr(i + 1, k - i - 1);
    if (tag.empty()) return "empty tag";
    const bool closing = tag[0] == '/';
    const std::size_t from = closing ? 1 : 0;
    const std::string name = tag.substr(from, tag.find_first_of(" /", from) - from);
    if (closing) {
      if (open.empty() || open.back() != name) return "mismatched </" + name + ">";
      open.pop_back();
    } else if (tag.back() != '/') {
      open.push_back(name);
    }
    i = k + 1;
  }
  return open.empty() ? "" : "unclosed <" + open.back() + ">";
}

// RFC 4180 reader: quoted fields may hold commas, quotes ("") and line breaks.
inline std::vector<std::vector<std::string>> parse_csv(const std::string& text) {
  std::vector<std::vector<std::string>> rows(1);
  std::string field;
  bool quoted = false, was_quoted = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (quoted) {
      if (c == '"' && i + 1 < text.size() && text[i + 1] == '"') {
        field += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        field += c;
      }
    } else if (c == '"' && field.empty() && !was_quoted) {
      quoted = was_quoted = true;
    } else if (c == ',') {
      rows.back().push_back(field);
      field.clear();
      was_quoted = false;
    } else if (c == '\n' || c == '\r') {
      // An unquoted CR or LF ends the record, as it does for spreadsheet and csv readers.
      if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ++i;
      rows.back().push_back(field);
      field.clear();
      was_quoted = false;
      rows.emplace_back();
    } else {
      field += c;
    }
  }
  if (rows.back().empty() && field.empty()) rows.pop_back();
  else rows.back().push_back(field);
  return rows;
}

inline json with_seeds(json c, const std::vector<std::string>& outcomes, const std::string& verdict) {
  json values = json::array(), evidence = json::array(), counts = json::object();
  for (std::size_t i = 0; i < outcomes.size(); ++i) {
    values.push_back(100 + i);
    evidence.push_back({{"steps", 10 + i}});
    counts[outcomes[i]] = counts.value(outcomes[i], 0) + 1;
  }
  c["seeds"] = {{"values", values}, {"outcomes", outcomes}, {"counts", counts}, {"evidence", evidence}};
  c["verdict"] = verdict;
  return c;
}

// A stacked remedy whose three seeds agree, a cell whose seeds disagree, one pinned cell whose
// seeds agree on another outcome, and a plain cell.
inline json seeds_matrix() {
  json resnet = cell("deep", "resnet", "cpu", "healthy", "healthy", {{"reached_step", 40}});
  resnet["stack"] = {"residual", "batchnorm", "he_init"};
  resnet["mitigation_name"] = "residual+batchnorm+he_init";
  json cells = json::array();
  cells.push_back(with_seeds(resnet, {"healthy", "healthy", "healthy"}, "pass"));
  cells.push_back(with_seeds(cell("deep", "none", "cpu", "diverged", "diverged", {{"symptom_step", 16}}),
                             {"diverged", "diverged", "stalled"}, "seed-dependent"));
  cells.push_back(with_seeds(cell("lr_one", "none", "cpu", "stalled", "diverged", {{"final_loss", 2.5}}),
                             {"stalled", "stalled", "stalled"}, "unexpected"));
  cells.push_back(with_seeds(cell("lr_one", "clip", "cpu", "stalled", nullptr, {{"final_loss", 2.5}}),
                             {"stalled", "healthy", "stalled"}, "seed-dependent"));
  return {{"cells", cells}};
}

}  // namespace tw_test::report_util
