// The diff as Markdown (`diff --format md`, diff.md of a run with --baseline): what the text says, in tables.
#include <sstream>

#include "harness/diff/render_common.h"
#include "harness/json_util.h"
#include "harness/report.h"

namespace tw {
using nlohmann::json;
using namespace diff_detail;

std::string render_diff_markdown(const json& d) {
  std::ostringstream os;
  os << "## Diff: " << md_escape(d.value("a", "A")) << " → " << md_escape(d.value("b", "B")) << "\n\n";
  if (member(member(d, "host_changed"), "changed") == true) {
    os << "> **" << md_escape(host_warning_heading(d)) << "**\n>\n";
    for (const auto& line : host_lines(d)) os << "> - " << md_escape(line) << "\n";
    os << "\n";
  }
  if (const std::string n = noise_host_note(d); !n.empty()) os << "> **" << md_escape(n) << "**\n\n";
  if (const std::string u = unknown_host_note(d); !u.empty()) os << md_escape(u) << "\n\n";
  os << summary_line(d) << "\n\n";
  if (d.contains("per_cell")) {
    os << "| tier | summary |\n|---|---|\n";
    for (const auto& [label, text] : tier_lines(d))
      os << "| " << md_escape(label) << " | " << md_escape(text) << " |\n";
    os << "\n";
  }
  os << "### Context\n\n";
  if (d["context"].empty()) {
    os << "No difference.\n\n";
  } else {
    os << "| | " << md_escape(d.value("a", "A")) << " | " << md_escape(d.value("b", "B")) << " |\n|---|---|---|\n";
    for (const auto& c : d["context"])
      os << "| " << md_escape(c.value("label", "")) << " | " << md_escape(show_value(c["a"])) << " | "
         << md_escape(show_value(c["b"])) << " |\n";
    os << "\n";
  }
  os << "### Changed cells\n\n";
  if (d["cells"].empty()) {
    os << "No outcome or key evidence changed.\n\n";
  } else {
    os << "| cell | " << md_escape(d.value("a", "A")) << " | " << md_escape(d.value("b", "B")) << " | changes |\n"
       << "|---|---|---|---|\n";
    for (const auto& c : d["cells"]) {
      std::string changes;
      for (const auto& ch : c["changes"])
        if (ch.value("field", "") != "outcome") changes += (changes.empty() ? "" : "; ") + describe_change(ch);
      const bool outcome = c.value("outcome_changed", false);
      os << "| " << md_escape(c.value("id", "")) << " | " << md_escape(c.value("a_summary", "")) << " | "
         << (outcome ? "**" : "") << md_escape(c.value("b_summary", "")) << (outcome ? "** ✗" : "") << " | "
         << md_escape(changes) << " |\n";
    }
    os << "\n";
  }
  if (d.contains("per_cell")) {
    const auto curves = curve_rows(d);
    if (!curves.empty()) {
      os << "### Loss curves not bit-identical\n\n| cell | seed | curves |\n|---|---|---|\n";
      for (const auto& [id, seed, text] : curves)
        os << "| " << md_escape(id) << " | " << md_escape(seed) << " | " << md_escape(text) << " |\n";
      os << "\n";
    }
    const auto speed = speed_rows(d);
    if (!speed.empty()) {
      os << "### Speed beyond the band\n\n| cell | median step time |\n|---|---|\n";
      for (const auto& [id, verdict, text] : speed) os << "| " << md_escape(id) << " | " << md_escape(text) << " |\n";
      os << "\n";
    }
  }
  for (const auto& [key, side] : {std::pair<const char*, const char*>{"only_a", "a"}, {"only_b", "b"}}) {
    if (d[key].empty()) continue;
    os << "### Only in " << md_escape(d.value(side, side)) << "\n\n";
    for (const auto& id : d[key]) os << "- " << md_escape(id.get<std::string>()) << "\n";
    os << "\n";
  }
  return os.str();
}

}  // namespace tw
