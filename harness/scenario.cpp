#include "harness/scenario.h"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "harness/errors.h"
#include "harness/matrix_records.h"
#include "harness/plan.h"
#include "harness/report.h"
#include "harness/scenario_fields.h"
#include "harness/store.h"

namespace tw {
namespace fs = std::filesystem;
using nlohmann::json;

using scenario_detail::check_keys;
using scenario_detail::get_string;
using scenario_detail::member_of;
using scenario_detail::parse_devices;
using scenario_detail::parse_limits;
using scenario_detail::parse_mitigation;
using scenario_detail::resolve_recipe_files;
using scenario_detail::string_list;
using scenario_detail::valid_name;

namespace {

// nlohmann::json keeps the last of two equal keys without a word; a scenario whose "lr" is given
// twice is a mistake to report (which one did the author mean?). The parser's callback sees every
// key in order, so each open object keeps the keys it has seen.
json parse_rejecting_duplicate_keys(const std::string& text, const std::string& where) {
  struct Frame {
    std::string path;  // "" for the document, "recipe", "mitigations[2]", ...
    bool array = false;
    std::size_t next_index = 0;
    std::string key;  // the object's key being read
    std::set<std::string> keys;
  };
  std::vector<Frame> stack;
  auto child_path = [&]() {
    if (stack.empty()) return std::string();
    Frame& f = stack.back();
    if (f.array) return f.path + "[" + std::to_string(f.next_index++) + "]";
    return f.path.empty() ? f.key : f.path + "." + f.key;
  };
  const json::parser_callback_t check = [&](int, json::parse_event_t event, json& parsed) {
    switch (event) {
      case json::parse_event_t::object_start:
      case json::parse_event_t::array_start: {
        Frame f;
        f.path = child_path();
        f.array = event == json::parse_event_t::array_start;
        stack.push_back(std::move(f));
        break;
      }
      case json::parse_event_t::object_end:
      case json::parse_event_t::array_end:
        if (!stack.empty()) stack.pop_back();
        break;
      case json::parse_event_t::key: {
        Frame& f = stack.back();
        f.key = parsed.get<std::string>();
        if (!f.keys.insert(f.key).second)
          throw InputError(where, f.path.empty() ? f.key : f.path + "." + f.key,
                           "is given twice in the same object (JSON keeps only one: remove the other)");
        break;
      }
      case json::parse_event_t::value:
        if (!stack.empty() && stack.back().array) ++stack.back().next_index;
        break;
    }
    return true;
  };
  return json::parse(text, check);
}

// The scenario file's text as a JSON object, its keys each given once.
json read_document(const std::string& text, const std::string& where) {
  if (text.size() > kMaxScenarioBytes)
    throw InputError(where, "",
                     "file is too large (" + std::to_string(text.size()) + " bytes; the limit is " +
                         std::to_string(kMaxScenarioBytes) + ")");
  if (text.find_first_not_of(" \t\r\n") == std::string::npos) throw InputError(where, "", "file is empty");
  json doc;
  try {
    doc = parse_rejecting_duplicate_keys(text, where);
  } catch (const json::exception& e) {  // not only parse_error: 1e400 is out_of_range
    throw InputError(where, "", std::string("not valid JSON: ") + e.what());
  }
  if (!doc.is_object()) throw InputError(where, "", "the top level must be a JSON object");
  return doc;
}

// A top-level key that belongs one level down ("steps" for "recipe.steps") is named with the
// place it belongs, instead of only "unknown field".
void misplaced_keys(const json& doc, const std::string& where, const Catalog& catalog) {
  static const std::set<std::string> top = {"name",   "fault",   "description", "params",     "recipe",
                                            "limits", "devices", "requires",    "mitigations"};
  static const std::set<std::string> limit_keys = {"wall_seconds", "heartbeat_seconds", "memory_mb", "exclusive"};
  const ComponentInfo* fault = nullptr;
  if (const json* f = member_of(doc, "fault"); f && f->is_string()) fault = catalog.fault(f->get<std::string>());
  auto has = [](const std::vector<ParamSpec>& specs, const std::string& key) {
    return std::any_of(specs.begin(), specs.end(), [&](const ParamSpec& p) { return p.name == key; });
  };
  for (const auto& [key, v] : doc.items()) {
    if (top.count(key)) continue;
    std::vector<std::string> places;
    if (fault && has(fault->params, key)) places.push_back("params." + key + " (a parameter of the fault)");
    if (has(catalog.recipe, key)) places.push_back("recipe." + key + " (the training recipe)");
    if (limit_keys.count(key)) places.push_back("limits." + key);
    if (places.empty()) continue;
    std::string list;
    for (const auto& p : places) list += (list.empty() ? "" : " or ") + p;
    throw InputError(where, key, "unknown top-level field: did you mean " + list + "?");
  }
}

}  // namespace

json Limits::to_json() const {
  json j = {{"wall_seconds", wall_seconds}, {"heartbeat_seconds", heartbeat_seconds}, {"memory_mb", memory_mb}};
  if (exclusive) j["exclusive"] = true;
  return j;
}

std::vector<StackMember> MitigationEntry::members() const {
  if (!stack.empty() || name == "none") return stack;
  return {StackMember{name, params}};
}

std::string stack_name(const std::vector<StackMember>& stack) {
  std::string out;
  for (const auto& m : stack) out += (out.empty() ? "" : "+") + m.name;
  return out;
}

json Scenario::to_json() const {
  json mits = json::array();
  for (const auto& m : mitigations) {
    json expect = json::object();
    for (const auto& [device, outcome] : m.expect) expect[device] = to_string(outcome);
    json e;
    if (m.is_stack()) {
      json apply = json::array();
      for (const auto& member : m.stack)
        apply.push_back(member.params.empty() ? json(member.name)
                                              : json{{"name", member.name}, {"params", member.params}});
      e = {{"apply", apply}, {"label", m.label}, {"expect", expect}};
    } else {
      e = {{"name", m.name}, {"params", m.params}, {"expect", expect}};
      if (m.label != m.name) e["label"] = m.label;
    }
    mits.push_back(e);
  }
  json j = {{"name", name},       {"fault", fault},     {"description", description},
            {"params", params},   {"recipe", recipe},   {"limits", limits.to_json()},
            {"devices", devices}, {"mitigations", mits}};
  if (!requirements.empty()) j["requires"] = requirements;
  return j;
}

int required_gpus(const std::string& r, const std::string& where, const std::string& field) {
  if (r == "cuda" || r == "nccl") return 1;
  if (r == "gloo" || r == "gpu_per_rank") return 0;  // gpu_per_rank: CUDA cells only, checked in the plan
  const std::string prefix = "gpus>=";
  if (r.rfind(prefix, 0) == 0) {
    const std::string n = r.substr(prefix.size());
    if (!n.empty() && n.size() <= 3 &&
        std::all_of(n.begin(), n.end(), [](unsigned char c) { return std::isdigit(c) != 0; })) {
      const int count = std::stoi(n);
      if (count >= 1) return count;
    }
  }
  throw InputError(where, field,
                   "unknown requirement '" + r + "' (known: cuda, nccl, gloo, gpu_per_rank, gpus>=N with N >= 1)");
}

Scenario parse_scenario(const std::string& text, const std::string& where, const Catalog& catalog) {
  const json doc = read_document(text, where);
  misplaced_keys(doc, where, catalog);
  check_keys(doc, {"name", "fault", "description", "params", "recipe", "limits", "devices", "requires", "mitigations"},
             where, "");

  Scenario s;
  s.file = where;
  s.name = get_string(doc, "name", where, "name", true);
  if (!valid_name(s.name)) throw InputError(where, "name", "must be 1-64 characters of a-z, 0-9, '_' or '-'");
  s.fault = get_string(doc, "fault", where, "fault", true);
  const ComponentInfo* fault = catalog.fault(s.fault);
  if (!fault) throw InputError(where, "fault", "unknown fault '" + s.fault + "' (see 'trainwreck list')");
  s.description = get_string(doc, "description", where, "description", false);
  if (const json* p = member_of(doc, "params")) {
    s.params = *p;
  }
  // A fault's parameters are checked together even when the scenario gives none.
  validate_component_params(s.params, *fault, where, "params");
  if (const json* r = member_of(doc, "recipe")) {
    validate_params(*r, catalog.recipe, where, "recipe");
    s.recipe = *r;
    resolve_recipe_files(s.recipe, catalog, where);
  }
  if (const json* l = member_of(doc, "limits")) s.limits = parse_limits(*l, where);

  if (const json* d = member_of(doc, "devices")) s.devices = parse_devices(*d, where);

  const bool runs_on_cuda = std::find(s.devices.begin(), s.devices.end(), "cuda") != s.devices.end();
  for (const auto& r : fault->requirements)
    if (required_gpus(r, where, "fault") > 0 && !runs_on_cuda)
      throw InputError(where, "devices",
                       "fault '" + s.fault + "' requires '" + r + "' but the scenario runs only on cpu");
  if (const json* r = member_of(doc, "requires")) {
    s.requirements = string_list(*r, where, "requires");
    for (std::size_t i = 0; i < s.requirements.size(); ++i) {
      const std::string field = "requires[" + std::to_string(i) + "]";
      const int gpus = required_gpus(s.requirements[i], where, field);
      if (gpus > 0 && std::find(s.devices.begin(), s.devices.end(), "cuda") == s.devices.end())
        throw InputError(where, field, "contradicts 'devices' (requires a GPU but the scenario runs only on cpu)");
    }
  }

  const json* mits = member_of(doc, "mitigations");
  if (!mits) throw InputError(where, "mitigations", "is required");
  if (!mits->is_array() || mits->empty()) throw InputError(where, "mitigations", "must be a non-empty array");
  std::set<std::string> labels;
  for (std::size_t i = 0; i < mits->size(); ++i) {
    const std::string prefix = "mitigations[" + std::to_string(i) + "]";
    MitigationEntry e = parse_mitigation((*mits)[i], where, prefix, catalog);
    if (!labels.insert(e.label).second)
      throw InputError(where, prefix + ".label",
                       "duplicate cell '" + e.label + "' in this scenario (give one of them a distinct 'label')");
    s.mitigations.push_back(std::move(e));
  }
  return s;
}

Scenario load_scenario(const std::string& path, const Catalog& catalog) {
  std::error_code ec;
  if (!fs::exists(path, ec)) throw InputError(path, "", "no such file");
  if (fs::is_directory(path, ec)) throw InputError(path, "", "is a directory, not a scenario file");
  // Regular files only, read with a bound: a FIFO or /dev/zero would hang or exhaust memory.
  return parse_scenario(read_input_file(path, kMaxScenarioBytes), path, catalog);
}

std::vector<Scenario> load_scenarios(const std::vector<std::string>& paths, const Catalog& catalog) {
  std::vector<std::string> files;
  for (const auto& p : paths) {
    std::error_code ec;
    if (fs::is_directory(p, ec)) {
      std::vector<std::string> found;
      for (const auto& entry : fs::directory_iterator(p, ec))
        if (entry.is_regular_file() && entry.path().extension() == ".json") found.push_back(entry.path().string());
      if (ec) throw InputError(p, "", "cannot list directory: " + ec.message());
      if (found.empty()) throw InputError(p, "", "holds no scenario files (*.json) (--scenarios)");
      std::sort(found.begin(), found.end());
      files.insert(files.end(), found.begin(), found.end());
    } else {
      files.push_back(p);
    }
  }
  std::vector<Scenario> out;
  std::map<std::string, std::string> seen;
  for (const auto& f : files) {
    Scenario s = load_scenario(f, catalog);
    auto [it, inserted] = seen.emplace(s.name, f);
    if (!inserted) throw InputError(f, "name", "duplicate scenario name '" + s.name + "' (also in " + it->second + ")");
    out.push_back(std::move(s));
  }
  return out;
}

int pin_expectations(nlohmann::ordered_json& doc, const std::string& scenario, const Matrix& matrix, std::ostream& log,
                     std::vector<std::string>& skipped, const std::vector<std::string>& filters) {
  int changed = 0;
  if (!doc.contains("mitigations") || !doc["mitigations"].is_array()) return 0;
  for (const MatrixCell& r : matrix.cells()) {
    if (r.scenario != scenario || r.not_run()) continue;
    if (!filter_match(filters, r.id)) continue;
    // Seeds that disagree have no outcome to pin: that is the finding, not an expectation.
    if (seeds_disagree(*r.cell)) {
      skipped.push_back(r.id);
      continue;
    }
    for (auto& m : doc["mitigations"]) {
      if (!m.is_object()) continue;
      // Entries are matched by their cell label, in either form ("name" or "apply" + "label").
      const std::string label = m.value("label", m.value("name", ""));
      if (label != r.mitigation) continue;
      const std::string& device = r.device;
      const std::string& outcome = r.outcome_name;
      if (!m.contains("expect")) m["expect"] = nlohmann::ordered_json::object();
      if (m["expect"].value(device, "") != outcome) {
        log << scenario << "/" << label << "/" << device << ": " << m["expect"].value(device, "(unpinned)") << " -> "
            << outcome << "\n";
        m["expect"][device] = outcome;
        ++changed;
      }
    }
  }
  return changed;
}

}  // namespace tw
