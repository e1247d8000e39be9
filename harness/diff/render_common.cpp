// The pieces the text and the Markdown rendering of a diff share, and those other views of it
// (report.html) use: the host warning, the tier summary, a change in words, the rows of loss
// curves and of speed.
#include "harness/diff/render_common.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "harness/diff/common.h"
#include "harness/diff/comparators.h"
#include "harness/json_util.h"

namespace tw {
using nlohmann::json;
using namespace diff_detail;

namespace {

int count_of(const json& d, const char* group, const char* key) {
  const json& g = member(member(d, "summary"), group);
  return g.is_object() ? g.value(key, 0) : 0;
}

// A loss curve that is not bit-identical, in words.
std::string curve_text(const json& s) {
  std::ostringstream os;
  const CurveTier tier = tier_of(s);
  os << s.value("tier", "");
  if (tier == CurveTier::kIdenticalOnSharedSteps) {
    os << " (" << show(s["steps_compared"]) << " steps compared); last step " << show(s["a_last_step"]) << " -> "
       << show(s["b_last_step"]);
    return os.str();
  }
  if (tier == CurveTier::kDrifted && s.contains("first_drift_step")) os << " from step " << show(s["first_drift_step"]);
  os << ", max relative difference " << fraction_text(s["max_rel_diff"]) << " at step " << show(s["max_rel_diff_step"])
     << "; the curves part at step " << show(s["first_differing_step"]);
  if (!s["last_equal_step"].is_null()) os << " (identical through step " << show(s["last_equal_step"]) << ")";
  if (s["a_last_step"] != s["b_last_step"])
    os << "; last step " << show(s["a_last_step"]) << " -> " << show(s["b_last_step"]);
  if (s.value("drifts_in_noise", false)) os << "; drifts in A/A too (noise: A's own curve moves as much)";
  return os.str();
}

std::string speed_text(const json& s) {
  std::ostringstream os;
  os << s.value("verdict", "") << ": " << milliseconds(s["a_step_seconds"].get<double>()) << " -> "
     << milliseconds(s["b_step_seconds"].get<double>()) << " per step (" << signed_percent(s["change"].get<double>())
     << "; band " << percent(s["band"].get<double>());
  if (s.contains("interval") && s["interval"].is_array() && s["interval"].size() == 2)
    os << ", interval " << signed_percent(s["interval"][0].get<double>()) << " to "
       << signed_percent(s["interval"][1].get<double>());
  if (s.contains("noise")) os << ", A/A noise " << percent(s["noise"].get<double>());
  if (s.value("source", "") == "interleaved" && s.contains("samples"))
    os << ", interleaved, " << s["samples"][0].dump() << " rounds";
  os << ")";
  return os.str();
}

}  // namespace

namespace diff_detail {

std::string show_value(const json& v) {
  if (v.is_array() && std::all_of(v.begin(), v.end(), [](const json& x) { return x.is_string(); })) {
    std::string out;
    for (const auto& x : v) {
      if (!out.empty()) out += ' ';
      out += x.get_ref<const std::string&>();
    }
    return out.empty() ? "(none)" : out;
  }
  return show(v);
}

std::string fraction_text(const json& v) { return v.is_number() ? percent(v.get<double>()) : show(v); }

std::string summary_line(const json& d) {
  const json& s = d["summary"];
  std::ostringstream os;
  os << s["compared"] << " cells compared: " << s["outcome_changed"] << " outcome(s) changed, " << s["evidence_changed"]
     << " with changed evidence only; " << s["only_a"] << " only in " << d.value("a", "A") << ", " << s["only_b"]
     << " only in " << d.value("b", "B") << "; " << s["context_changed"] << " context difference(s).";
  return os.str();
}

std::vector<std::array<std::string, 3>> curve_rows(const json& d) {
  std::vector<std::array<std::string, 3>> rows;
  for (const auto& c : d["per_cell"]) {
    const json& seeds = c["numerics"]["seeds"];
    for (const auto& s : seeds) {
      const CurveTier tier = tier_of(s);
      if (tier != CurveTier::kWithinTolerance && tier != CurveTier::kDrifted &&
          tier != CurveTier::kIdenticalOnSharedSteps)
        continue;
      rows.push_back(
          {c.value("id", ""), s["seed"].is_null() ? std::string() : "seed " + show(s["seed"]), curve_text(s)});
    }
  }
  return rows;
}

std::vector<SpeedRow> speed_rows(const json& d) {
  std::vector<SpeedRow> rows;
  for (const auto& c : d["per_cell"]) {
    const SpeedVerdict v = speed_verdict_of(c["speed"]);
    if (v == SpeedVerdict::kSlower || v == SpeedVerdict::kFaster)
      rows.push_back({c.value("id", ""), v, speed_text(c["speed"])});
  }
  return rows;
}

}  // namespace diff_detail

std::string describe_change(const json& ch) {
  const std::string f = ch.value("field", "");
  std::string s = f + " " + show_value(ch["a"]) + " -> " + show_value(ch["b"]);
  auto mib = [](const json& v) { return v.is_number() ? in_mib(v.get<double>(), 4) + " MiB" : show(v); };
  if (f == "peak_mem_bytes") s = "peak memory " + mib(ch["a"]) + " -> " + mib(ch["b"]);
  auto kib = [](const json& v) {
    return v.is_number() ? format_number(v.get<double>() / 1024.0, 4) + " KiB" : show(v);
  };
  for (const auto& m : known_memory_fields())
    if (f == m.key && f != "peak_mem_bytes")
      s = m.label + " " +
          (f == "mem_growth_bytes_per_step" ? kib(ch["a"]) + " -> " + kib(ch["b"])
                                            : mib(ch["a"]) + " -> " + mib(ch["b"]));
  auto list = [](const json& v) {
    std::string out;
    for (const auto& o : v) out += (out.empty() ? "" : ", ") + show(o);
    return out;
  };
  if (f == "seed_outcomes" && ch["a"].is_array() && ch["b"].is_array())
    s = "outcome per seed " + list(ch["a"]) + " -> " + list(ch["b"]);
  if (f == "seed_reached_step" && ch["a"].is_array() && ch["b"].is_array())
    s = "steps to target per seed " + list(ch["a"]) + " -> " + list(ch["b"]);
  if (f == "seed_steps" && ch["a"].is_array() && ch["b"].is_array())
    s = "steps run per seed " + list(ch["a"]) + " -> " + list(ch["b"]);
  if (f == "steps") s = "steps run " + show(ch["a"]) + " -> " + show(ch["b"]);
  if (f == "reached_step") s = "steps to target " + show(ch["a"]) + " -> " + show(ch["b"]);
  if (f == "loss_curve") return "loss curve drifted (" + ch.value("note", "") + ")";
  std::string note = ch.contains("note") && ch["note"].is_string() ? ch["note"].get<std::string>() : "";
  if (ch.contains("band") && ch["band"].is_number())
    note += (note.empty() ? "" : "; ") + std::string("band ") + percent(ch["band"].get<double>());
  if (!note.empty()) s += " (" + note + ")";
  return s;
}

// The host block: one line per differing fact, list values (CPU flags) as what went and came.
std::vector<std::string> host_lines(const json& d) {
  std::vector<std::string> lines;
  const json& h = member(d, "host_changed");
  for (const auto& f : member(h, "fields")) {
    std::string line = f.value("label", "") + ": " + show_value(f["a"]) + " -> " + show_value(f["b"]);
    if (f.contains("added") || f.contains("removed")) {
      line = f.value("label", "") + ":";
      if (!f["removed"].empty())
        line += " without " + show_value(f["removed"]) + " (" + d.value("b", "B") + " lacks them)";
      if (!f["added"].empty())
        line += std::string(f["removed"].empty() ? "" : ";") + " with " + show_value(f["added"]) + " (new in " +
                d.value("b", "B") + ")";
      if (f["removed"].empty() && f["added"].empty()) line += " " + show_value(f["a"]) + " -> " + show_value(f["b"]);
    }
    lines.push_back(line);
  }
  return lines;
}

std::string host_warning_heading(const json& d) {
  return "WARNING: different host: " + d.value("a", "A") + " and " + d.value("b", "B") +
         " did not run on the same machine. Numerics and speed may differ because of the host, not the "
         "software under test; rerun " +
         d.value("a", "A") + " on " + d.value("b", "B") + "'s host to tell the two apart.";
}

std::string unknown_host_note(const json& d) {
  const json& u = member(member(d, "host_changed"), "unknown");
  if (!u.is_array() || u.empty()) return "";
  std::string which;
  for (const auto& f : u) which += (which.empty() ? "" : ", ") + f.value("label", "");
  return "Host facts recorded by one run only (" + which + "): whether the host differs cannot be told from them.";
}

std::string noise_host_note(const json& d) {
  const json& n = member(member(d, "host_changed"), "noise_host_differs");
  if (!n.is_array() || n.empty()) return "";
  std::string which;
  for (const auto& f : n) which += (which.empty() ? "" : ", ") + f.value("label", "");
  return "WARNING: the A/A run " + show(d["noise"]) + " did not run on " + d.value("a", "A") + "'s host (" + which +
         "): its noise band is not " + d.value("a", "A") + "'s.";
}

// The tier summary, one line per tier.
std::vector<std::pair<std::string, std::string>> tier_lines(const json& d) {
  std::vector<std::pair<std::string, std::string>> out;
  const json& s = d["summary"];
  const json& tol = member(d, "tolerances");
  std::ostringstream os;
  os << s.value("outcome_changed", 0) << " changed";
  out.push_back({"outcomes", os.str()});
  os.str("");
  os << count_of(d, "numerics", "identical") << " identical, ";
  if (const int shorter = count_of(d, "numerics", "identical_on_shared_steps"); shorter > 0)
    os << shorter << " identical on shared steps only (one curve shorter), ";
  os << count_of(d, "numerics", "within_tolerance") << " within tolerance (" << fraction_text(member(tol, "loss"))
     << "), " << count_of(d, "numerics", "drifted") << " drifted, ";
  if (member(d, "noise").is_string())
    os << count_of(d, "numerics", "drifted_in_noise") << " drift in the A/A run too (noise, no change), ";
  os << count_of(d, "numerics", "not_comparable") << " not comparable (of " << count_of(d, "numerics", "cell_seeds")
     << " cell-seeds)";
  out.push_back({"loss curves", os.str()});
  os.str("");
  os << count_of(d, "steps", "changed") << " cell(s) changed (" << count_of(d, "steps", "reached_step_changed")
     << " cell-seed(s) reached the target at another step, " << count_of(d, "steps", "steps_changed")
     << " ran another number of steps)";
  out.push_back({"steps", os.str()});
  os.str("");
  os << count_of(d, "speed", "slower") << " slower, " << count_of(d, "speed", "faster") << " faster, "
     << count_of(d, "speed", "within_band") << " within the band, " << count_of(d, "speed", "too_short")
     << " too short (< " << milliseconds(member(tol, "min_seconds").is_number() ? tol["min_seconds"].get<double>() : 0)
     << "), " << count_of(d, "speed", "not_measured") << " not measured";
  if (const json& mc = member(member(s, "speed"), "median_change"); mc.is_number())
    os << "; median change " << signed_percent(mc.get<double>());
  os << "; median step time, threshold " << fraction_text(member(tol, "speed"));
  const json& spread = member(member(s, "speed"), "noise_spread");
  if (spread.is_object()) {
    os << ", judged against the spread of the A/A run " << d["noise"].get<std::string>() << " (sigma "
       << percent(std::expm1(spread["sigma"].get<double>())) << " over " << spread["cells"].get<int>()
       << " cells): a change counts when its interval (" << spread["z"].get<double>()
       << " sigma each side) lies beyond the threshold";
    const json& aa = member(member(s, "speed"), "aa_check");
    os << "; A/A check: " << member(aa, "flagged").size() << " of " << member(aa, "compared")
       << " cells flagged by the same rule";
  } else if (member(d, "noise").is_string()) {
    os << " or the A/A noise of " << d["noise"].get<std::string>() << " when larger";
  } else {
    os << " alone (no --noise run: no noise band)";
  }
  if (const json& il = member(member(s, "speed"), "interleaved"); il.is_object())
    os << "; " << member(il, "cells").dump() << " cell(s) judged by the interleaved measurement "
       << (member(il, "file").is_string() ? il["file"].get<std::string>() : std::string()) << " ("
       << member(il, "rounds").dump() << " rounds, threshold " << fraction_text(member(il, "threshold"))
       << ", its A/A check flagged " << member(il, "aa_flagged").dump() << ")";
  out.push_back({"speed", os.str()});
  os.str("");
  const json& fields = member(member(s, "memory"), "fields");
  bool first = true;
  if (fields.is_object())
    for (const auto& m : known_memory_fields()) {
      if (!fields.contains(m.key)) continue;
      const json& f = fields[m.key];
      os << (first ? "" : "; ") << m.label << " " << f.value("grew", 0) << " grew, " << f.value("shrank", 0)
         << " shrank of " << f.value("compared", 0);
      first = false;
    }
  if (fields.is_object())
    for (const auto& [k, f] : fields.items()) {
      bool known = false;
      for (const auto& m : known_memory_fields()) known = known || m.key == k;
      if (known) continue;
      os << (first ? "" : "; ") << k << " " << f.value("grew", 0) << " grew, " << f.value("shrank", 0) << " shrank of "
         << f.value("compared", 0);
      first = false;
    }
  if (first) os << "no memory recorded";
  os << " (peak tolerance " << fraction_text(member(tol, "memory")) << ", growth "
     << fraction_text(member(tol, "growth"));
  if (member(d, "noise").is_string()) os << ", or the A/A noise when larger";
  os << ")";
  out.push_back({"memory", os.str()});
  return out;
}

}  // namespace tw
