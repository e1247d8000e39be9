// The diff as text for a terminal: the host warning first, the tier summary, the context, the
// changed cells, the loss curves and the speed beyond the band, in color when asked.
#include <algorithm>
#include <sstream>

#include "harness/diff/render_common.h"
#include "harness/json_util.h"

namespace tw {
using nlohmann::json;
using namespace diff_detail;

std::string render_diff_text(const json& d, bool color) {
  const char* red = color ? "\033[31m" : "";
  const char* yellow = color ? "\033[33m" : "";
  const char* bold = color ? "\033[1m" : "";
  const char* reset = color ? "\033[0m" : "";
  std::ostringstream os;
  if (member(member(d, "host_changed"), "changed") == true) {
    os << red << bold << host_warning_heading(d) << reset << "\n";
    for (const auto& line : host_lines(d)) os << red << "  " << line << reset << "\n";
    os << "\n";
  }
  if (const std::string n = noise_host_note(d); !n.empty()) os << red << bold << n << reset << "\n\n";
  os << bold << "Diff " << d.value("a", "A") << " -> " << d.value("b", "B") << reset << "\n";
  if (const std::string u = unknown_host_note(d); !u.empty()) os << yellow << u << reset << "\n";
  if (d.contains("per_cell")) {
    os << "\nSummary (" << d["summary"]["compared"] << " cells compared):\n";
    for (const auto& [label, text] : tier_lines(d)) {
      std::string l = label;
      l.resize(std::max<std::size_t>(l.size(), 14), ' ');
      os << "  " << l << text << "\n";
    }
  }
  os << "\nContext:";
  if (d["context"].empty()) os << " the same\n";
  else os << "\n";
  for (const auto& c : d["context"]) {
    std::string label = c.value("label", "");
    label.resize(std::max<std::size_t>(label.size() + 1, 22), ' ');  // a long label still ends in a space
    os << "  " << label << show_value(c["a"]) << " -> " << show_value(c["b"]) << "\n";
  }
  os << "\nChanged cells:";
  if (d["cells"].empty()) os << " none\n";
  else os << "\n";
  for (const auto& c : d["cells"]) {
    const bool outcome = c.value("outcome_changed", false);
    os << "  " << (outcome ? red : yellow) << c.value("id", "") << reset << ": ";
    if (outcome) os << "outcome " << c.value("a_summary", "") << " -> " << c.value("b_summary", "");
    bool first = !outcome;
    for (const auto& ch : c["changes"]) {
      if (ch.value("field", "") == "outcome") continue;
      os << (first ? "" : "; ") << describe_change(ch);
      first = false;
    }
    os << "\n";
  }
  if (d.contains("per_cell")) {
    const auto curves = curve_rows(d);
    if (!curves.empty()) {
      os << "\nLoss curves not bit-identical:\n";
      for (const auto& [id, seed, text] : curves)
        os << "  " << id << (seed.empty() ? "" : " (" + seed + ")") << ": " << text << "\n";
    }
    const auto speed = speed_rows(d);
    if (!speed.empty()) {
      os << "\nSpeed beyond the band:\n";
      for (const auto& [id, verdict, text] : speed)
        os << "  " << (verdict == SpeedVerdict::kSlower ? yellow : "") << id << reset << ": " << text << "\n";
    }
  }
  for (const auto& [key, side] : {std::pair<const char*, const char*>{"only_a", "a"}, {"only_b", "b"}}) {
    if (d[key].empty()) continue;
    os << "\nOnly in " << d.value(side, side) << ":\n";
    for (const auto& id : d[key]) os << "  " << id.get<std::string>() << "\n";
  }
  os << "\n" << (outcomes_changed(d) ? red : "") << summary_line(d) << reset << "\n";
  return os.str();
}

}  // namespace tw
