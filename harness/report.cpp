#include "harness/report.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <sstream>
#include <vector>

#include "harness/errors.h"
#include "harness/outcome.h"
#include "harness/store.h"

namespace tw {
using nlohmann::json;

namespace {

std::string fmt(double v, int precision = 3) {
  std::ostringstream os;
  os.precision(precision);
  os << v;
  return os.str();
}

std::string mib(double bytes) { return fmt(bytes / (1024.0 * 1024.0), 3) + "MiB"; }

std::string xml_escape(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      default:
        // XML 1.0 forbids most control characters even when escaped.
        if (c < 0x20 && c != '\n' && c != '\t' && c != '\r') out += "?";
        else out += static_cast<char>(c);
    }
  }
  return out;
}

// Cell output is raw bytes; XML must be well-formed UTF-8. Invalid sequences become '?'.
std::string valid_utf8(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    std::size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
    bool ok = len > 0 && i + len <= s.size();
    for (std::size_t k = 1; ok && k < len; ++k) ok = (static_cast<unsigned char>(s[i + k]) & 0xC0) == 0x80;
    if (ok && len > 1) {
      // Overlong forms, surrogates and code points past U+10FFFF are not UTF-8 either.
      unsigned cp = c & (0x7F >> len);
      for (std::size_t k = 1; k < len; ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
      const unsigned min[] = {0, 0, 0x80, 0x800, 0x10000};
      ok = cp >= min[len] && cp <= 0x10FFFF && !(cp >= 0xD800 && cp <= 0xDFFF) && cp != 0xFFFE && cp != 0xFFFF;
    }
    if (ok) {
      out.append(s, i, len);
      i += len;
    } else {
      out += '?';
      ++i;
    }
  }
  return out;
}

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
  if (v.is_number_float()) return fmt(v.get<double>(), 4);
  return v.dump();
}

// A reference into the matrix (json::value() would return a copy).
const json& cells_of(const json& matrix) {
  static const json empty = json::array();
  auto it = matrix.find("cells");
  return it == matrix.end() || !it->is_array() ? empty : *it;
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
  for (char c : s) {
    if (c == '|') out += "\\|";
    else if (c == '\n') out += ' ';
    else out += c;
  }
  return out;
}

json load_matrix(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const std::string file = fs::is_directory(path, ec) ? path + "/matrix.json" : path;
  if (!fs::exists(file, ec))
    throw InputError(file, "", fs::exists(path, ec) ? "no matrix.json here (an unfinished or failed run?)"
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
  const json& ev = evidence_of(cell);
  if (outcome == "diverged" && ev.contains("symptom_step")) return outcome + "@" + text(ev["symptom_step"]);
  if (outcome == "detected") {
    std::string s = outcome;
    if (ev.contains("detected_step")) s += "@" + text(ev["detected_step"]);
    if (ev.contains("detection_latency_steps")) s += " (+" + text(ev["detection_latency_steps"]) + ")";
    return s;
  }
  if (outcome == "healthy" && ev.contains("reached_step")) return outcome + "@" + text(ev["reached_step"]);
  if (outcome == "stalled" && ev.contains("final_loss")) return outcome + " loss " + text(ev["final_loss"]);
  if (outcome == "leak" && ev.contains("mem_growth_bytes_per_step"))
    return outcome + " +" + mib(ev["mem_growth_bytes_per_step"].get<double>()) + "/step";
  if (outcome == "oom" && ev.contains("peak_mem_bytes")) return outcome + " @" + mib(ev["peak_mem_bytes"].get<double>());
  if (outcome == "crash" && ev.contains("signal")) return outcome + " " + text(ev["signal"]);
  if (outcome == "hang" && ev.contains("watchdog")) return outcome + " (" + text(ev["watchdog"]) + ")";
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
  std::stable_sort(counts.begin(), counts.end(),
                   [](const auto& a, const auto& b) { return a.second > b.second; });
  const std::string n = std::to_string(outcomes.size());
  if (counts.size() == 1) return n + "/" + n + " seeds";
  std::string out;
  for (const auto& [name, k] : counts)
    out += (out.empty() ? "" : ", ") + name + " " + std::to_string(k) + "/" + n;
  return out;
}

std::string cell_display(const json& cell) {
  const std::string seeds = seeds_text(cell);
  if (seeds.empty()) return cell_summary(cell);
  return seeds_disagree(cell) ? seeds : cell_summary(cell) + " (" + seeds + ")";
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
  json s = {{"total", 0},    {"pass", 0},  {"unexpected", 0},
            {"unpinned", 0}, {"flaky", 0}, {"seed_dependent", 0}};
  for (const auto& c : cells_of(matrix)) {
    s["total"] = s["total"].get<int>() + 1;
    const auto v = parse_verdict(c.value("verdict", "unpinned"));
    if (!v) continue;
    // JSON keys are identifiers: "seed-dependent" is counted as "seed_dependent".
    const std::string key = *v == Verdict::kSeedDependent ? "seed_dependent" : to_string(*v);
    s[key] = s[key].get<int>() + 1;
  }
  return s;
}

int count_failures(const json& matrix) {
  int n = 0;
  for (const auto& c : cells_of(matrix))
    n += is_failure(parse_verdict(c.value("verdict", "unpinned")).value_or(Verdict::kUnexpected)) ? 1 : 0;
  return n;
}

namespace {

// ", 2 flaky, 1 seed-dependent": the failure kinds beyond "unexpected", only when there are any.
std::string other_failures(const json& s) {
  std::string out;
  if (s.value("flaky", 0) > 0) out += ", " + std::to_string(s.value("flaky", 0)) + " flaky";
  if (s.value("seed_dependent", 0) > 0)
    out += ", " + std::to_string(s.value("seed_dependent", 0)) + " seed-dependent";
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
    const std::string verdict = c.value("verdict", "unpinned");
    const char* col = verdict == "pass" ? green : verdict == "unpinned" ? yellow : red;
    std::string summary = cell_display(c);
    std::string mitigation = mitigation_display(c);
    // Columns, with at least one space after a long stack name or seed count.
    mitigation.resize(std::max<std::size_t>(mitigation.size() + 1, 26), ' ');
    summary.resize(std::max<std::size_t>(summary.size() + 1, 30), ' ');
    os << "  " << mitigation << summary << col << verdict << reset;
    if (verdict == "unexpected") os << " (expected " << text(c.value("expected", json())) << ")";
    os << "\n";
  }
  const json s = summarize_verdicts(matrix);
  os << "\n" << s["total"] << " cells: " << s["pass"] << " as expected, " << s["unexpected"] << " unexpected, "
     << s["unpinned"] << " unpinned" << other_failures(s) << "\n";
  return os.str();
}

std::string render_markdown(const json& matrix) {
  std::ostringstream os;
  const json ctx = matrix.value("context", json::object());
  for (const auto& device : devices_of(matrix)) {
    std::vector<std::string> columns;
    std::vector<std::string> rows;
    std::map<std::pair<std::string, std::string>, const json*> at;
    std::map<std::string, std::string> fault_of;
    for (const auto& c : cells_of(matrix)) {
      if (c.value("device", "") != device) continue;
      // A column per label and stack: one label may name different stacks in two scenarios.
      const std::string row = c.value("scenario", ""), col = mitigation_display(c);
      if (std::find(rows.begin(), rows.end(), row) == rows.end()) rows.push_back(row);
      if (std::find(columns.begin(), columns.end(), col) == columns.end()) columns.push_back(col);
      at[{row, col}] = &c;
      fault_of[row] = c.value("fault", "");
    }
    os << "### " << device;
    if (device == "cuda" && ctx.contains("probe") && ctx["probe"].contains("gpu_name"))
      os << " (" << text(ctx["probe"]["gpu_name"]) << ")";
    else if (device == "cpu" && ctx.contains("host"))
      os << " (" << text(ctx["host"].value("cpu", json(""))) << ")";
    os << "\n\n| scenario |";
    for (const auto& col : columns) os << " " << md_escape(col) << " |";
    os << "\n|---|";
    for (std::size_t i = 0; i < columns.size(); ++i) os << "---|";
    os << "\n";
    for (const auto& row : rows) {
      os << "| " << md_escape(row) << " |";
      for (const auto& col : columns) {
        auto it = at.find({row, col});
        if (it == at.end()) {
          os << " · |";
          continue;
        }
        const json& c = *it->second;
        const std::string verdict = c.value("verdict", "unpinned");
        std::string cell = md_escape(cell_display(c));
        if (verdict == "unexpected") cell = "**" + cell + "** ✗ (expected " + text(c.value("expected", json())) + ")";
        else if (verdict == "unpinned") cell += " (unpinned)";
        else if (verdict == "flaky") cell += " (flaky)";
        else if (verdict == "seed-dependent") cell = "**" + cell + "** ✗ (seed-dependent)";
        os << " " << cell << " |";
      }
      os << "\n";
    }
    os << "\n";
  }
  const json s = summarize_verdicts(matrix);
  os << s["total"] << " cells: " << s["pass"] << " as expected, " << s["unexpected"] << " unexpected, "
     << s["unpinned"] << " unpinned" << other_failures(s) << ".\n\n"
     << "Legend: `healthy@k` reached the loss target at step k; `diverged@k` non-finite loss, or a loss 100x "
        "the first (blow-up), at step k; `stalled` trained to the end without reaching the target; "
        "`detected@k (+n)` a guard stopped the run at step k, n steps after the symptom; `oom` out of memory; "
        "`leak +X/step` steady memory growth; `hang` killed by the watchdog; `crash SIG` killed by a signal; "
        "`error` an exception or exit without a result; `unsupported` the machine lacks a requirement. ✗ marks "
        "an outcome that differs from the pinned expectation, or seeds that disagree (`diverged 2/3, stalled "
        "1/3`); `(3/3 seeds)` every seed had that outcome; `label [a+b]` a stack of remedies applied together.\n";
  if (ctx.contains("host") || ctx.contains("probe")) {
    os << "\nContext: ";
    const json probe = ctx.value("probe", json::object());
    if (probe.contains("libtorch")) os << "LibTorch " << text(probe["libtorch"]) << "; ";
    if (probe.contains("cuda_runtime")) os << "CUDA " << text(probe["cuda_runtime"]) << "; ";
    if (probe.contains("gpu_name")) os << text(probe["gpu_name"]) << "; ";
    if (ctx.contains("host")) os << text(ctx["host"].value("cpu", json(""))) << "; ";
    if (ctx.contains("host")) os << "trainwreck " << text(ctx["host"].value("git_revision", json("")));
    os << "\n";
  }
  return os.str();
}

std::string render_junit(const json& matrix) {
  std::ostringstream os;
  const json s = summarize_verdicts(matrix);
  std::map<std::string, std::vector<const json*>> suites;
  std::vector<std::string> order;
  double total_time = 0;
  for (const auto& c : cells_of(matrix)) {
    const std::string name = c.value("scenario", "");
    if (!suites.count(name)) order.push_back(name);
    suites[name].push_back(&c);
    total_time += evidence_of(c).value("wall_seconds", 0.0);
  }
  const json ctx = matrix.value("context", json::object());
  const std::string timestamp = ctx.contains("started_at") ? text(ctx["started_at"]) : "";
  // The root carries no "skipped": Surefire's schema, which Jenkins validates against, has none there.
  os << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  os << "<testsuites name=\"trainwreck\" tests=\"" << s["total"] << "\" failures=\""
     << count_failures(matrix) << "\" errors=\"0\" time=\"" << junit_time(total_time)
     << "\">\n";
  for (const auto& name : order) {
    const auto& cells = suites[name];
    int failures = 0, skipped = 0;
    double time = 0;
    for (const json* c : cells) {
      const std::string v = c->value("verdict", "");
      failures += is_failure(parse_verdict(v).value_or(Verdict::kUnexpected)) ? 1 : 0;
      skipped += v == "unpinned" ? 1 : 0;
      time += evidence_of(*c).value("wall_seconds", 0.0);
    }
    os << "  <testsuite name=\"" << xml_escape(name) << "\" tests=\"" << cells.size() << "\" failures=\"" << failures
       << "\" errors=\"0\" skipped=\"" << skipped << "\" time=\"" << junit_time(time) << "\"";
    if (!timestamp.empty()) os << " timestamp=\"" << xml_escape(timestamp) << "\"";
    os << ">\n";
    for (const json* c : cells) {
      const std::string v = c->value("verdict", "");
      const json& ev = evidence_of(*c);
      os << "    <testcase classname=\"" << xml_escape(name) << "\" name=\""
         << xml_escape(mitigation_display(*c) + " [" + c->value("device", "") + "]") << "\" time=\""
         << junit_time(ev.value("wall_seconds", 0.0)) << "\">\n";
      const std::string seeds = per_seed_outcomes(*c);
      std::string detail = "outcome " + c->value("outcome", "") + ", expected " +
                           text(c->value("expected", json())) +
                           "\nevidence: " + ev.dump(-1, ' ', false, json::error_handler_t::replace);
      if (!seeds.empty()) detail += "\nseeds: " + seeds;
      if (is_failure(parse_verdict(v).value_or(Verdict::kUnexpected))) {
        std::string message = cell_display(*c) + " (expected " + text(c->value("expected", json())) + ")";
        if (!seeds.empty()) message += "; seeds: " + seeds;
        os << "      <failure type=\"" << xml_escape(v) << "\" message=\"" << xml_escape(valid_utf8(message))
           << "\">" << xml_escape(valid_utf8(detail)) << "</failure>\n";
      } else if (v == "unpinned") {
        os << "      <skipped message=\"" << xml_escape("no expectation pinned; observed " + cell_display(*c))
           << "\"/>\n";
      }
      std::string out = detail;
      const std::string tail = c->value("log_tail", "");
      if (!tail.empty()) out += "\n--- last output of the cell ---\n" + tail;
      os << "      <system-out>" << xml_escape(valid_utf8(out)) << "</system-out>\n";
      os << "    </testcase>\n";
    }
    os << "  </testsuite>\n";
  }
  os << "</testsuites>\n";
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

std::string render_csv(const json& matrix) {
  std::ostringstream os;
  os << "scenario,fault,mitigation,device,outcome,expected,verdict,summary,symptom_step,detected_step,"
        "final_loss,peak_mem_bytes,wall_seconds,stack,seeds\n";
  for (const auto& c : cells_of(matrix)) {
    const json& ev = evidence_of(c);
    auto field = [&](const char* k) { return ev.contains(k) ? csv_field(text(ev[k])) : std::string(); };
    os << csv_field(c.value("scenario", "")) << "," << csv_field(c.value("fault", "")) << ","
       << csv_field(c.value("mitigation", "")) << "," << csv_field(c.value("device", "")) << ","
       << csv_field(c.value("outcome", "")) << "," << csv_field(text(c.value("expected", json()))) << ","
       << csv_field(c.value("verdict", "")) << "," << csv_field(cell_summary(c)) << "," << field("symptom_step")
       << "," << field("detected_step") << "," << field("final_loss") << "," << field("peak_mem_bytes") << ","
       << field("wall_seconds") << "," << csv_field(stack_of(c)) << "," << csv_field(seeds_text(c)) << "\n";
  }
  return os.str();
}

}  // namespace tw
