#include "harness/diff.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <sstream>
#include <vector>

#include "harness/report.h"

namespace tw {
using nlohmann::json;

namespace {

// The environment facts an upgrade is about, in the order they are shown; other context keys
// follow in alphabetical order under their dotted path.
const std::vector<std::pair<std::string, std::string>>& known_context_keys() {
  static const std::vector<std::pair<std::string, std::string>> keys = {
      {"probe.libtorch", "LibTorch"},
      {"probe.cuda_runtime", "CUDA runtime"},
      {"probe.cuda_driver_api", "CUDA driver API"},
      {"probe.nvidia_driver", "NVIDIA driver"},
      {"probe.nccl", "NCCL"},
      {"probe.cudnn", "cuDNN"},
      {"probe.gpu_name", "GPU"},
      {"probe.cuda_device_count", "GPU count"},
      {"probe.gpu_memory_mb", "GPU memory (MiB)"},
      {"probe.gpu_compute_capability", "compute capability"},
      {"host.compiler", "compiler"},
      {"host.cpu", "CPU"},
      {"host.cpu_cores", "CPU cores"},
      {"host.memory_mb", "host memory (MiB)"},
      {"host.os", "OS"},
      {"host.arch", "architecture"},
      {"host.trainwreck", "trainwreck version"},
      {"host.git_revision", "trainwreck revision"},
      {"seed", "seed"},
      {"seeds", "seeds"},
      {"devices", "devices"},
  };
  return keys;
}

// Bookkeeping of one run, different by nature between any two runs.
bool ignored_context_key(const std::string& key) {
  return key == "started_at" || key == "finished_at" || key == "merged_from" || key == "shard" ||
         key == "baseline" || key.rfind("capabilities.", 0) == 0;
}

void flatten(const json& v, const std::string& prefix, std::map<std::string, json>& out) {
  if (v.is_object()) {  // an empty object has no leaf to show
    for (const auto& [k, item] : v.items()) flatten(item, prefix.empty() ? k : prefix + "." + k, out);
  } else if (!prefix.empty()) {
    out[prefix] = v;
  }
}

std::string show(const json& v) {
  if (v.is_null()) return "(none)";
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number_float()) {
    std::ostringstream os;
    os.precision(6);
    os << v.get<double>();
    return os.str();
  }
  return v.dump(-1, ' ', false, json::error_handler_t::replace);
}

double number(const json& v, bool& ok) {
  ok = v.is_number();
  return ok ? v.get<double>() : 0;
}

const json& field(const json& obj, const char* key) {
  static const json null;
  if (!obj.is_object()) return null;
  auto it = obj.find(key);
  return it == obj.end() ? null : *it;
}

const json& cells_of(const json& matrix) {
  static const json empty = json::array();
  auto it = matrix.find("cells");
  return it == matrix.end() || !it->is_array() ? empty : *it;
}

std::string percent_change(const json& a, const json& b) {
  bool oa = false, ob = false;
  const double x = number(a, oa), y = number(b, ob);
  if (!oa || !ob || x == 0) return "";
  std::ostringstream os;
  os.precision(3);
  const double pct = (y - x) / std::fabs(x) * 100;
  os << (pct >= 0 ? "+" : "") << pct << "%";
  return os.str();
}

}  // namespace

bool within_tolerance(const json& a, const json& b, double relative) {
  bool oa = false, ob = false;
  const double x = number(a, oa), y = number(b, ob);
  if (!oa || !ob) return a == b;  // "nan", "inf", missing: only the same word is no change
  if (x == y) return true;
  return std::fabs(x - y) <= relative * std::max(std::fabs(x), std::fabs(y));
}

json diff_matrices(const json& a, const json& b, const DiffOptions& options) {
  json d = {{"a", options.a_name},
            {"b", options.b_name},
            {"tolerances", {{"loss", options.loss_tolerance}, {"memory", options.memory_tolerance}}},
            {"context", json::array()},
            {"cells", json::array()},
            {"only_a", json::array()},
            {"only_b", json::array()}};

  std::map<std::string, json> ca, cb;
  flatten(field(a, "context"), "", ca);
  flatten(field(b, "context"), "", cb);
  std::set<std::string> keys;
  for (const auto& [k, v] : ca) keys.insert(k);
  for (const auto& [k, v] : cb) keys.insert(k);
  auto add_context = [&](const std::string& key, const std::string& label) {
    const json va = ca.count(key) ? ca[key] : json(nullptr);
    const json vb = cb.count(key) ? cb[key] : json(nullptr);
    if (va != vb) d["context"].push_back({{"key", key}, {"label", label}, {"a", va}, {"b", vb}});
    keys.erase(key);
  };
  for (const auto& [key, label] : known_context_keys()) add_context(key, label);
  for (const auto& key : std::vector<std::string>(keys.begin(), keys.end()))
    if (!ignored_context_key(key)) add_context(key, key);

  std::map<std::string, const json*> by_id_b;
  for (const auto& c : cells_of(b)) by_id_b[c.value("id", "")] = &c;
  std::set<std::string> seen_a;
  int compared = 0, outcome_changed = 0, evidence_changed = 0;
  for (const auto& ca_cell : cells_of(a)) {
    const std::string id = ca_cell.value("id", "");
    seen_a.insert(id);
    auto it = by_id_b.find(id);
    if (it == by_id_b.end()) {
      d["only_a"].push_back(id);
      continue;
    }
    ++compared;
    const json& cb_cell = *it->second;
    const json& ea = field(ca_cell, "evidence");
    const json& eb = field(cb_cell, "evidence");
    json changes = json::array();
    bool outcome_differs = ca_cell.value("outcome", "") != cb_cell.value("outcome", "");
    if (outcome_differs) changes.push_back({{"field", "outcome"}, {"a", field(ca_cell, "outcome")}, {"b", field(cb_cell, "outcome")}});
    // Runs with the same seeds are compared seed by seed: a change on any seed is a change of
    // the cell's outcome. (With different seeds the context says so; only main records compare.)
    const json& sa = field(ca_cell, "seeds");
    const json& sb = field(cb_cell, "seeds");
    json changed_seeds = json::array();
    if (sa.is_object() && sb.is_object() && field(sa, "values") == field(sb, "values") &&
        field(sa, "outcomes").is_array() && field(sa, "outcomes").size() == field(sb, "outcomes").size()) {
      const json& oa = sa["outcomes"];
      const json& ob = sb["outcomes"];
      for (std::size_t i = 0; i < oa.size(); ++i)
        if (oa[i] != ob[i] && i < field(sa, "values").size()) changed_seeds.push_back(sa["values"][i]);
      if (!changed_seeds.empty()) {
        std::string which;
        for (const auto& v : changed_seeds) which += (which.empty() ? "" : ", ") + show(v);
        changes.push_back(
            {{"field", "seed_outcomes"}, {"a", oa}, {"b", ob}, {"note", "changed on seed(s) " + which}});
        outcome_differs = true;
      }
    }
    // The step where a symptom showed or a guard fired is the evidence documentation quotes.
    for (const char* key : {"symptom_step", "detected_step"})
      if (field(ea, key) != field(eb, key)) changes.push_back({{"field", key}, {"a", field(ea, key)}, {"b", field(eb, key)}});
    if (!within_tolerance(field(ea, "final_loss"), field(eb, "final_loss"), options.loss_tolerance)) {
      json ch = {{"field", "final_loss"}, {"a", field(ea, "final_loss")}, {"b", field(eb, "final_loss")}};
      const std::string pct = percent_change(ch["a"], ch["b"]);
      if (!pct.empty()) ch["note"] = pct;
      changes.push_back(ch);
    }
    if (!within_tolerance(field(ea, "peak_mem_bytes"), field(eb, "peak_mem_bytes"), options.memory_tolerance)) {
      json ch = {{"field", "peak_mem_bytes"}, {"a", field(ea, "peak_mem_bytes")}, {"b", field(eb, "peak_mem_bytes")}};
      const std::string pct = percent_change(ch["a"], ch["b"]);
      if (!pct.empty()) ch["note"] = pct;
      changes.push_back(ch);
    }
    if (field(ca_cell, "expected") != field(cb_cell, "expected"))
      changes.push_back({{"field", "expected"}, {"a", field(ca_cell, "expected")}, {"b", field(cb_cell, "expected")}});
    if (changes.empty()) continue;
    if (outcome_differs) ++outcome_changed;
    else ++evidence_changed;
    json entry = {{"id", id},
                  {"scenario", cb_cell.value("scenario", "")},
                  {"mitigation", cb_cell.value("mitigation", "")},
                  {"device", cb_cell.value("device", "")},
                  {"outcome_changed", outcome_differs},
                  {"a_outcome", field(ca_cell, "outcome")},
                  {"b_outcome", field(cb_cell, "outcome")},
                  {"a_summary", cell_display(ca_cell)},
                  {"b_summary", cell_display(cb_cell)},
                  {"changes", changes}};
    if (!changed_seeds.empty()) entry["changed_seeds"] = changed_seeds;
    d["cells"].push_back(entry);
  }
  for (const auto& c : cells_of(b))
    if (!seen_a.count(c.value("id", ""))) d["only_b"].push_back(c.value("id", ""));
  d["summary"] = {{"compared", compared},
                  {"outcome_changed", outcome_changed},
                  {"evidence_changed", evidence_changed},
                  {"only_a", d["only_a"].size()},
                  {"only_b", d["only_b"].size()},
                  {"context_changed", d["context"].size()}};
  return d;
}

bool outcomes_changed(const json& diff) {
  return diff.contains("summary") && diff["summary"].value("outcome_changed", 0) > 0;
}

std::string describe_change(const json& ch) {
  const std::string f = ch.value("field", "");
  std::string s = f + " " + show(ch["a"]) + " -> " + show(ch["b"]);
  if (f == "peak_mem_bytes") {
    auto mib = [](const json& v) {
      if (!v.is_number()) return show(v);
      std::ostringstream os;
      os.precision(4);
      os << v.get<double>() / (1024.0 * 1024.0) << " MiB";
      return os.str();
    };
    s = "peak memory " + mib(ch["a"]) + " -> " + mib(ch["b"]);
  }
  if (f == "seed_outcomes" && ch["a"].is_array() && ch["b"].is_array()) {
    auto list = [](const json& v) {
      std::string out;
      for (const auto& o : v) out += (out.empty() ? "" : ", ") + show(o);
      return out;
    };
    s = "outcome per seed " + list(ch["a"]) + " -> " + list(ch["b"]);
  }
  if (ch.contains("note")) s += " (" + ch["note"].get<std::string>() + ")";
  return s;
}

namespace {

std::string summary_line(const json& d) {
  const json& s = d["summary"];
  std::ostringstream os;
  os << s["compared"] << " cells compared: " << s["outcome_changed"] << " outcome(s) changed, "
     << s["evidence_changed"] << " with changed evidence only; " << s["only_a"] << " only in "
     << d.value("a", "A") << ", " << s["only_b"] << " only in " << d.value("b", "B") << "; "
     << s["context_changed"] << " context difference(s).";
  return os.str();
}


}  // namespace

std::string render_diff_text(const json& d, bool color) {
  const char* red = color ? "\033[31m" : "";
  const char* yellow = color ? "\033[33m" : "";
  const char* bold = color ? "\033[1m" : "";
  const char* reset = color ? "\033[0m" : "";
  std::ostringstream os;
  os << bold << "Diff " << d.value("a", "A") << " -> " << d.value("b", "B") << reset << "\n";
  os << "\nContext:";
  if (d["context"].empty()) os << " the same\n";
  else os << "\n";
  for (const auto& c : d["context"]) {
    std::string label = c.value("label", "");
    label.resize(std::max<std::size_t>(label.size(), 22), ' ');
    os << "  " << label << show(c["a"]) << " -> " << show(c["b"]) << "\n";
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
  for (const auto& [key, side] : {std::pair<const char*, const char*>{"only_a", "a"}, {"only_b", "b"}}) {
    if (d[key].empty()) continue;
    os << "\nOnly in " << d.value(side, side) << ":\n";
    for (const auto& id : d[key]) os << "  " << id.get<std::string>() << "\n";
  }
  os << "\n" << (outcomes_changed(d) ? red : "") << summary_line(d) << reset << "\n";
  return os.str();
}

std::string render_diff_markdown(const json& d) {
  std::ostringstream os;
  os << "## Diff: " << md_escape(d.value("a", "A")) << " → " << md_escape(d.value("b", "B")) << "\n\n";
  os << summary_line(d) << "\n\n";
  os << "### Context\n\n";
  if (d["context"].empty()) {
    os << "No difference.\n\n";
  } else {
    os << "| | " << md_escape(d.value("a", "A")) << " | " << md_escape(d.value("b", "B")) << " |\n|---|---|---|\n";
    for (const auto& c : d["context"])
      os << "| " << md_escape(c.value("label", "")) << " | " << md_escape(show(c["a"])) << " | " << md_escape(show(c["b"]))
         << " |\n";
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
  for (const auto& [key, side] : {std::pair<const char*, const char*>{"only_a", "a"}, {"only_b", "b"}}) {
    if (d[key].empty()) continue;
    os << "### Only in " << md_escape(d.value(side, side)) << "\n\n";
    for (const auto& id : d[key]) os << "- " << md_escape(id.get<std::string>()) << "\n";
    os << "\n";
  }
  return os.str();
}

}  // namespace tw
