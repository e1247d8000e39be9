#include "harness/diff.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <vector>

#include "harness/json_util.h"
#include "harness/report.h"

namespace tw {
using nlohmann::json;

const char* to_string(CurveTier tier) {
  switch (tier) {
    case CurveTier::kNotComparable: return "not comparable";
    case CurveTier::kIdentical: return "identical";
    case CurveTier::kIdenticalOnSharedSteps: return "identical on shared steps";
    case CurveTier::kWithinTolerance: return "within tolerance";
    case CurveTier::kDrifted: return "drifted";
  }
  return "not comparable";
}

const char* to_string(SpeedVerdict verdict) {
  switch (verdict) {
    case SpeedVerdict::kNotMeasured: return "not measured";
    case SpeedVerdict::kTooShort: return "too short";
    case SpeedVerdict::kWithinBand: return "within band";
    case SpeedVerdict::kSlower: return "slower";
    case SpeedVerdict::kFaster: return "faster";
  }
  return "not measured";
}

const char* to_string(MemoryVerdict verdict) {
  switch (verdict) {
    case MemoryVerdict::kOneSideOnly: return "one side only";
    case MemoryVerdict::kSame: return "same";
    case MemoryVerdict::kChanged: return "changed";
    case MemoryVerdict::kGrew: return "grew";
    case MemoryVerdict::kShrank: return "shrank";
  }
  return "changed";
}

const char* to_string(FailOn tier) {
  switch (tier) {
    case FailOn::kSpeed: return "speed";
    case FailOn::kMemory: return "memory";
    case FailOn::kNumerics: return "numerics";
    case FailOn::kSteps: return "steps";
    case FailOn::kHost: return "host";
  }
  return "host";
}

namespace {

// The member of a closed set whose to_string is `word`, among `all`; nullopt for any other word.
template <typename E, std::size_t N>
std::optional<E> parse_word(const std::string& word, const std::array<E, N>& all) {
  for (const E e : all)
    if (word == to_string(e)) return e;
  return std::nullopt;
}

constexpr std::array<CurveTier, 5> kCurveTiers = {CurveTier::kNotComparable, CurveTier::kIdentical,
                                                  CurveTier::kIdenticalOnSharedSteps, CurveTier::kWithinTolerance,
                                                  CurveTier::kDrifted};
constexpr std::array<SpeedVerdict, 5> kSpeedVerdicts = {SpeedVerdict::kNotMeasured, SpeedVerdict::kTooShort,
                                                        SpeedVerdict::kWithinBand, SpeedVerdict::kSlower,
                                                        SpeedVerdict::kFaster};
constexpr std::array<MemoryVerdict, 5> kMemoryVerdicts = {MemoryVerdict::kOneSideOnly, MemoryVerdict::kSame,
                                                          MemoryVerdict::kChanged, MemoryVerdict::kGrew,
                                                          MemoryVerdict::kShrank};
constexpr std::array<FailOn, 5> kFailOn = {FailOn::kSpeed, FailOn::kMemory, FailOn::kNumerics, FailOn::kSteps,
                                           FailOn::kHost};

// The tier a comparison recorded ("tier"); not comparable when it records none the set has.
CurveTier tier_of(const json& comparison) {
  return parse_word(comparison.value("tier", ""), kCurveTiers).value_or(CurveTier::kNotComparable);
}

// The verdict a speed comparison recorded ("verdict"); not measured when it records none.
SpeedVerdict speed_verdict_of(const json& speed) {
  return parse_word(speed.value("verdict", ""), kSpeedVerdicts).value_or(SpeedVerdict::kNotMeasured);
}

// The verdict a memory field recorded ("verdict"); changed when it records none the set has.
MemoryVerdict memory_verdict_of(const json& field) {
  return parse_word(field.value("verdict", ""), kMemoryVerdicts).value_or(MemoryVerdict::kChanged);
}

}  // namespace

std::optional<FailOn> parse_fail_on(const std::string& word) { return parse_word(word, kFailOn); }

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

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
      {"probe.gpu_names", "GPUs"},
      {"probe.cuda_device_count", "GPU count"},
      {"probe.gpu_memory_mb", "GPU memory (MiB)"},
      {"probe.gpu_compute_capability", "compute capability"},
      {"host.compiler", "compiler"},
      {"host.cpu", "CPU"},
      {"host.cpu_vendor", "CPU vendor"},
      {"host.cpu_family", "CPU family"},
      {"host.cpu_model", "CPU model number"},
      {"host.cpu_stepping", "CPU stepping"},
      {"host.cpu_flags", "CPU flags"},
      {"host.cpu_flags_hash", "CPU flag hash"},
      {"host.cpu_flags_count", "CPU flag count"},
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

// The facts that say which machine ran: when one differs, the numbers may differ for that reason
// alone. (A driver is part of the host: an upgrade of the driver itself shows here too.)
const std::vector<std::string>& host_keys() {
  static const std::vector<std::string> keys = {"host.cpu",
                                                "host.cpu_vendor",
                                                "host.cpu_family",
                                                "host.cpu_model",
                                                "host.cpu_stepping",
                                                "host.cpu_flags",
                                                "host.cpu_flags_hash",
                                                "host.cpu_cores",
                                                "host.os",
                                                "host.arch",
                                                "probe.gpu_name",
                                                "probe.gpu_names",
                                                "probe.cuda_device_count",
                                                "probe.gpu_compute_capability",
                                                "probe.nvidia_driver",
                                                "probe.cuda_driver_api"};
  return keys;
}

std::string label_of(const std::string& key) {
  for (const auto& [k, label] : known_context_keys())
    if (k == key) return label;
  return key;
}

// Bookkeeping of one run, different by nature between any two runs.
bool ignored_context_key(const std::string& key) {
  return key == "started_at" || key == "finished_at" || key == "merged_from" || key == "shard" || key == "baseline" ||
         key.rfind("capabilities.", 0) == 0;
}

// A value as text, a list of words (CPU flags) as the words: "avx avx2 fma".
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

double number(const json& v, bool& ok) {
  ok = v.is_number();
  return ok ? v.get<double>() : 0;
}

std::string percent(double fraction) {
  if (std::isinf(fraction)) return "inf";
  std::ostringstream os;
  os.precision(3);
  os << fraction * 100 << "%";
  return os.str();
}

std::string signed_percent(double fraction) {
  std::string s = fraction >= 0 ? "+" : "";
  s += percent(fraction);
  return s;
}

std::string percent_change(const json& a, const json& b) {
  bool oa = false, ob = false;
  const double x = number(a, oa), y = number(b, ob);
  if (!oa || !ob || x == 0) return "";
  return signed_percent((y - x) / std::fabs(x));
}

std::string milliseconds(double seconds) {
  std::ostringstream os;
  os.precision(3);
  if (std::fabs(seconds) >= 1) os << seconds << " s";
  else os << seconds * 1000 << " ms";
  return os.str();
}

// The relative difference of two recorded values: 0 when they are the same (bit for bit, or the
// same word), infinite when only one is finite or they are different words.
double relative_difference(const json& x, const json& y) {
  if (x == y) return 0;
  bool ox = false, oy = false;
  const double a = number(x, ox), b = number(y, oy);
  if (!ox || !oy || !std::isfinite(a) || !std::isfinite(b)) return kInf;
  const double m = std::max(std::fabs(a), std::fabs(b));
  return m == 0 ? 0 : std::fabs(a - b) / m;
}

json fraction_json(double v) { return std::isinf(v) ? json("inf") : json(v); }

// ---- host ---------------------------------------------------------------------------------------

json compare_host(const std::map<std::string, json>& ca, const std::map<std::string, json>& cb) {
  json h = {{"changed", false}, {"fields", json::array()}, {"unknown", json::array()}};
  for (const auto& key : host_keys()) {
    const bool in_a = ca.count(key) > 0, in_b = cb.count(key) > 0;
    if (!in_a && !in_b) continue;
    const json va = in_a ? ca.at(key) : json(nullptr);
    const json vb = in_b ? cb.at(key) : json(nullptr);
    json entry = {{"key", key}, {"label", label_of(key)}, {"a", va}, {"b", vb}};
    if (!in_a || !in_b) {
      h["unknown"].push_back(entry);
      continue;
    }
    if (va == vb) continue;
    if (va.is_array() && vb.is_array()) {
      json added = json::array(), removed = json::array();
      for (const auto& x : vb)
        if (std::find(va.begin(), va.end(), x) == va.end()) added.push_back(x);
      for (const auto& x : va)
        if (std::find(vb.begin(), vb.end(), x) == vb.end()) removed.push_back(x);
      entry["added"] = added;
      entry["removed"] = removed;
    }
    h["fields"].push_back(entry);
  }
  h["changed"] = !h["fields"].empty();
  return h;
}

// ---- numerics -----------------------------------------------------------------------------------

// The seed a cell's main record ran with: its first seed, else the run's.
json main_seed(const json& cell, const json& context) {
  const json& values = member(member(cell, "seeds"), "values");
  if (values.is_array() && !values.empty()) return values[0];
  return member(context, "seed");
}

// Both runs had the same seeds for this cell (so seed i of one is seed i of the other).
bool same_seed_values(const json& ca, const json& cb) {
  const json& va = member(member(ca, "seeds"), "values");
  const json& vb = member(member(cb, "seeds"), "values");
  return va.is_array() && va == vb;
}

// The curve of seed i of a cell: 0 is its main series, i > 0 its seed_series[i - 1].
const json& seed_curve(const json& cell, std::size_t i) {
  static const json none;
  if (i == 0) return member(cell, "series");
  const json& more = member(cell, "seed_series");
  return more.is_array() && more.size() >= i ? more[i - 1] : none;
}

json compare_numerics(const json& ca, const json& cb, const json& ctx_a, const json& ctx_b, const json* noise_cell,
                      const json& ctx_noise, double tolerance) {
  json seeds = json::array();
  const json seed_a = main_seed(ca, ctx_a), seed_b = main_seed(cb, ctx_b);
  json main;
  if (!seed_a.is_null() && !seed_b.is_null() && seed_a != seed_b) {
    main = {{"tier", to_string(CurveTier::kNotComparable)},
            {"reason", "different seeds (" + show(seed_a) + ", " + show(seed_b) + ")"}};
  } else {
    main = compare_curves(member(ca, "series"), member(cb, "series"), tolerance);
  }
  main["seed"] = seed_a.is_null() ? seed_b : seed_a;
  seeds.push_back(main);
  if (same_seed_values(ca, cb)) {
    const json& values = ca["seeds"]["values"];
    const json& sa = member(ca, "seed_series");
    const json& sb = member(cb, "seed_series");
    for (std::size_t i = 1; i < values.size(); ++i) {
      json s;
      if (sa.is_array() && sb.is_array() && sa.size() >= i && sb.size() >= i)
        s = compare_curves(sa[i - 1], sb[i - 1], tolerance);
      else s = {{"tier", to_string(CurveTier::kNotComparable)}, {"reason", "no loss curve of this seed"}};
      s["seed"] = values[i];
      seeds.push_back(s);
    }
  }
  // The A/A run's curve of the same seed against A's: a drift it shows too is A's own noise
  // (a nondeterministic kernel, another thread count), not something B changed.
  if (noise_cell) {
    const json seed_n = main_seed(*noise_cell, ctx_noise);
    const bool same_seeds = same_seed_values(ca, *noise_cell);
    for (std::size_t i = 0; i < seeds.size(); ++i) {
      if (i == 0 && !(seed_n.is_null() || seed_a.is_null() || seed_n == seed_a)) continue;
      if (i > 0 && !same_seeds) break;
      const json noise = compare_curves(seed_curve(ca, i), seed_curve(*noise_cell, i), tolerance);
      seeds[i]["noise_tier"] = noise["tier"];
      if (tier_of(seeds[i]) == CurveTier::kDrifted && tier_of(noise) == CurveTier::kDrifted)
        seeds[i]["drifts_in_noise"] = true;
    }
  }
  // The cell's tier is its most different seed's (CurveTier is ordered so).
  CurveTier tier = CurveTier::kNotComparable;
  for (const auto& s : seeds) tier = std::max(tier, tier_of(s));
  json n = {{"tier", to_string(tier)}, {"seeds", seeds}};
  if (seeds[0].contains("noise_tier")) n["noise_tier"] = seeds[0]["noise_tier"];
  if (tier == CurveTier::kDrifted) {
    bool all_noise = true;
    for (const auto& s : seeds)
      if (tier_of(s) == CurveTier::kDrifted) all_noise = all_noise && s.value("drifts_in_noise", false);
    n["drifts_in_noise"] = all_noise;
  }
  return n;
}

// ---- steps to target ----------------------------------------------------------------------------

json compare_steps(const json& ca, const json& cb, const json& ctx_a, const json& ctx_b) {
  json seeds = json::array();
  auto compare = [&](const json& ea, const json& eb, const json& seed) {
    json s = {{"seed", seed}};
    for (const char* key : {"reached_step", "steps"})
      if (member(ea, key) != member(eb, key)) s[key] = {{"a", member(ea, key)}, {"b", member(eb, key)}};
    if (s.size() > 1) seeds.push_back(s);
  };
  const json seed_a = main_seed(ca, ctx_a);
  compare(member(ca, "evidence"), member(cb, "evidence"), seed_a.is_null() ? main_seed(cb, ctx_b) : seed_a);
  if (same_seed_values(ca, cb)) {
    const json& values = ca["seeds"]["values"];
    const json& ea = member(ca["seeds"], "evidence");
    const json& eb = member(cb["seeds"], "evidence");
    if (ea.is_array() && eb.is_array())
      for (std::size_t i = 1; i < values.size() && i < ea.size() && i < eb.size(); ++i)
        compare(ea[i], eb[i], values[i]);
  }
  return {{"changed", !seeds.empty()}, {"seeds", seeds}};
}

// ---- speed --------------------------------------------------------------------------------------

struct Timing {
  double step_seconds = 0;
  double total_seconds = -1;  // < 0: not known
  int samples = 0;
};

// Where a step time comes from, best first: the kernel's median step time, then a mean.
enum class TimingSource { kStepSecondsMedian, kMedianStepMs, kTrainSecondsPerStep };
constexpr TimingSource kTimingSources[] = {TimingSource::kStepSecondsMedian, TimingSource::kMedianStepMs,
                                           TimingSource::kTrainSecondsPerStep};

// The source as the diff records it ("source").
const char* to_string(TimingSource source) {
  switch (source) {
    case TimingSource::kStepSecondsMedian: return "step_seconds_median";
    case TimingSource::kMedianStepMs: return "median_step_ms";
    case TimingSource::kTrainSecondsPerStep: return "train_seconds/steps";
  }
  return "train_seconds/steps";
}

std::optional<double> step_time(const json& ev, TimingSource source) {
  bool ok = false;
  if (source == TimingSource::kStepSecondsMedian) {
    const double v = number(member(ev, "step_seconds_median"), ok);
    if (ok && v > 0 && std::isfinite(v)) return v;
  } else if (source == TimingSource::kMedianStepMs) {
    const double v = number(member(ev, "median_step_ms"), ok);
    if (ok && v > 0 && std::isfinite(v)) return v / 1000;
  } else {
    bool ok2 = false;
    const double t = number(member(ev, "train_seconds"), ok);
    const double n = number(member(ev, "steps"), ok2);
    if (ok && ok2 && t > 0 && n > 0 && std::isfinite(t)) return t / n;
  }
  return std::nullopt;
}

double total_time(const json& ev, double step_seconds) {
  bool ok = false;
  const double t = number(member(ev, "train_seconds"), ok);
  if (ok && t >= 0) return t;
  const double n = number(member(ev, "steps"), ok);
  return ok && n > 0 ? step_seconds * n : -1;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

// A cell's step time from one source: the median over its seeds when every seed recorded one,
// else its main record's.
std::optional<Timing> timing_of(const json& cell, TimingSource source) {
  const json& ev = member(cell, "evidence");
  const auto main = step_time(ev, source);
  if (!main) return std::nullopt;
  Timing t;
  t.step_seconds = *main;
  t.total_seconds = total_time(ev, *main);
  t.samples = 1;
  const json& per_seed = member(member(cell, "seeds"), "evidence");
  if (per_seed.is_array() && per_seed.size() > 1) {
    std::vector<double> steps, totals;
    for (const auto& e : per_seed) {
      const auto s = step_time(e, source);
      if (!s) return t;
      steps.push_back(*s);
      totals.push_back(total_time(e, *s));
    }
    t.step_seconds = median(steps);
    // The shortest seed of those whose duration is known: one seed without a duration (-1)
    // must not hide another that trained too briefly to time.
    t.total_seconds = -1;
    for (const double total : totals)
      if (total >= 0 && (t.total_seconds < 0 || total < t.total_seconds)) t.total_seconds = total;
    t.samples = static_cast<int>(steps.size());
  }
  return t;
}

json compare_speed(const json& ca, const json& cb, const json* noise_cell, const DiffOptions& o) {
  json s = {{"verdict", to_string(SpeedVerdict::kNotMeasured)}};
  std::optional<Timing> ta, tb;
  std::optional<TimingSource> source;
  for (const TimingSource src : kTimingSources) {
    ta = timing_of(ca, src);
    tb = timing_of(cb, src);
    if (ta && tb) {
      source = src;
      break;
    }
  }
  if (!source) {
    bool any_a = false, any_b = false;
    for (const TimingSource src : kTimingSources) {
      any_a = any_a || timing_of(ca, src).has_value();
      any_b = any_b || timing_of(cb, src).has_value();
    }
    s["reason"] = !any_a && !any_b ? "no step time recorded"
                  : !any_a         ? "no step time in " + o.a_name
                  : !any_b         ? "no step time in " + o.b_name
                                   : "the two runs recorded different step times";
    return s;
  }
  s["source"] = to_string(*source);
  s["a_step_seconds"] = ta->step_seconds;
  s["b_step_seconds"] = tb->step_seconds;
  if (ta->total_seconds >= 0) s["a_seconds"] = ta->total_seconds;
  if (tb->total_seconds >= 0) s["b_seconds"] = tb->total_seconds;
  if (ta->samples > 1 || tb->samples > 1) s["samples"] = {ta->samples, tb->samples};
  const double change = (tb->step_seconds - ta->step_seconds) / ta->step_seconds;
  s["change"] = change;
  double band = o.speed_threshold;
  if (noise_cell) {
    const auto tn = timing_of(*noise_cell, *source);
    if (tn && (tn->total_seconds < 0 || tn->total_seconds >= o.min_seconds)) {
      const double noise = std::fabs(tn->step_seconds - ta->step_seconds) / ta->step_seconds;
      s["noise"] = noise;
      band = std::max(band, noise);
    }
  }
  s["band"] = band;
  const bool short_a = ta->total_seconds >= 0 && ta->total_seconds < o.min_seconds;
  const bool short_b = tb->total_seconds >= 0 && tb->total_seconds < o.min_seconds;
  if (short_a || short_b) {
    s["verdict"] = to_string(SpeedVerdict::kTooShort);
    s["reason"] = "trained for less than " + milliseconds(o.min_seconds);
    return s;
  }
  s["verdict"] = to_string(change > band    ? SpeedVerdict::kSlower
                           : change < -band ? SpeedVerdict::kFaster
                                            : SpeedVerdict::kWithinBand);
  return s;
}

// ---- memory -------------------------------------------------------------------------------------

struct MemoryField {
  std::string key, label;
  bool growth;
};

const std::vector<MemoryField>& known_memory_fields() {
  static const std::vector<MemoryField> fields = {
      {"peak_mem_bytes", "peak memory", false},          {"peak_alloc_bytes", "peak allocated", false},
      {"peak_reserved_bytes", "peak reserved", false},   {"mem_growth_bytes_per_step", "growth per step", true},
      {"mem_growth_bytes", "growth over the run", true},
  };
  return fields;
}

// The memory fields either side's evidence has: the known ones, then any other "*peak*_bytes".
std::vector<MemoryField> memory_fields_of(const json& ea, const json& eb) {
  std::vector<MemoryField> out;
  std::set<std::string> known;
  for (const auto& f : known_memory_fields()) {
    known.insert(f.key);
    if ((ea.is_object() && ea.contains(f.key)) || (eb.is_object() && eb.contains(f.key))) out.push_back(f);
  }
  std::set<std::string> extra;
  for (const json* e : {&ea, &eb})
    if (e->is_object())
      for (const auto& [k, v] : e->items())
        if (!known.count(k) && k.find("peak") != std::string::npos && k.size() > 6 &&
            k.compare(k.size() - 6, 6, "_bytes") == 0)
          extra.insert(k);
  for (const auto& k : extra) out.push_back({k, k, false});
  return out;
}

double memory_floor(const MemoryField& f, const DiffOptions& o) {
  if (!f.growth) return 0;
  // Growth over the run: a thousand steps of the per-step floor.
  return f.key == "mem_growth_bytes_per_step" ? o.growth_floor_bytes_per_step : o.growth_floor_bytes_per_step * 1024;
}

json compare_memory(const json& ca, const json& cb, const json* noise_cell, const DiffOptions& o) {
  const json& ea = member(ca, "evidence");
  const json& eb = member(cb, "evidence");
  static const json none;
  const json& en = member(noise_cell ? *noise_cell : none, "evidence");
  json fields = json::array();
  bool changed = false;
  for (const auto& f : memory_fields_of(ea, eb)) {
    const json& va = member(ea, f.key.c_str());
    const json& vb = member(eb, f.key.c_str());
    json entry = {{"key", f.key}, {"label", f.label}, {"a", va}, {"b", vb}};
    const double tolerance = f.growth ? o.growth_tolerance : o.memory_tolerance;
    if (va.is_null() || vb.is_null()) {
      entry["verdict"] = to_string(MemoryVerdict::kOneSideOnly);
      fields.push_back(entry);
      continue;
    }
    bool oa = false, ob = false;
    const double x = number(va, oa), y = number(vb, ob);
    if (!oa || !ob) {
      entry["verdict"] = to_string(va == vb ? MemoryVerdict::kSame : MemoryVerdict::kChanged);
      changed = changed || va != vb;
      fields.push_back(entry);
      continue;
    }
    // Every relative figure is against A, the base the printed change uses: |B - A| <= band * |A|.
    double band = tolerance;
    double allowed = 0;  // the A/A run's own distance from A, in bytes
    bool on = false;
    const double n = number(member(en, f.key.c_str()), on);
    if (on) {
      allowed = std::fabs(n - x);
      if (x != 0) {
        const double noise = allowed / std::fabs(x);
        entry["noise"] = noise;
        band = std::max(band, noise);
      } else if (n == 0) {
        entry["noise"] = 0.0;
      }
    }
    entry["band"] = band;
    if (x != 0) entry["change"] = (y - x) / std::fabs(x);
    const double d = y - x;
    const bool same =
        std::fabs(d) <= band * std::fabs(x) || std::fabs(d) <= allowed || std::fabs(d) <= memory_floor(f, o);
    entry["verdict"] = to_string(same ? MemoryVerdict::kSame : d > 0 ? MemoryVerdict::kGrew : MemoryVerdict::kShrank);
    changed = changed || !same;
    fields.push_back(entry);
  }
  return {{"changed", changed}, {"fields", fields}};
}

}  // namespace

bool within_tolerance(const json& a, const json& b, double relative) {
  bool oa = false, ob = false;
  const double x = number(a, oa), y = number(b, ob);
  if (!oa || !ob) return a == b;  // "nan", "inf", missing: only the same word is no change
  if (x == y) return true;
  return std::fabs(x - y) <= relative * std::max(std::fabs(x), std::fabs(y));
}

json compare_curves(const json& a, const json& b, double tolerance) {
  auto usable = [](const json& series) {
    const json& steps = member(series, "step");
    const json& loss = member(series, "loss");
    return steps.is_array() && loss.is_array() && !steps.empty() && steps.size() == loss.size();
  };
  if (!usable(a) || !usable(b)) {
    const std::string which = !usable(a) && !usable(b) ? "either run" : !usable(a) ? "the baseline" : "the candidate";
    return {{"tier", to_string(CurveTier::kNotComparable)}, {"reason", "no loss curve in " + which}};
  }
  const json& sa = a["step"];
  const json& la = a["loss"];
  std::map<double, const json*> b_at;
  for (std::size_t i = 0; i < b["step"].size(); ++i)
    if (b["step"][i].is_number()) b_at.emplace(b["step"][i].get<double>(), &b["loss"][i]);
  int compared = 0;
  json first_differing, last_equal, max_step, first_drift;
  double max_rel = 0;
  for (std::size_t i = 0; i < sa.size(); ++i) {
    if (!sa[i].is_number()) continue;
    auto it = b_at.find(sa[i].get<double>());
    if (it == b_at.end()) continue;
    ++compared;
    const json& x = la[i];
    const json& y = *it->second;
    const bool differs = !(x == y);
    if (differs && first_differing.is_null()) first_differing = sa[i];
    if (!differs && first_differing.is_null()) last_equal = sa[i];
    const double r = relative_difference(x, y);
    if (differs && (max_step.is_null() || r > max_rel)) {
      max_rel = r;
      max_step = sa[i];
    }
    if (r > tolerance && first_drift.is_null()) first_drift = sa[i];
  }
  json out = {{"steps_compared", compared}, {"a_last_step", sa.back()}, {"b_last_step", b["step"].back()}};
  if (compared == 0) {
    out["tier"] = to_string(CurveTier::kNotComparable);
    out["reason"] = "no step in common";
    return out;
  }
  if (first_differing.is_null()) {
    // Equal where both have a value; a curve with steps the other lacks (a run cut short) is not
    // identical as a whole.
    std::size_t a_steps = 0;
    for (const auto& x : sa) a_steps += x.is_number() ? 1 : 0;
    const auto n = static_cast<std::size_t>(compared);
    out["tier"] =
        to_string(n < a_steps || n < b_at.size() ? CurveTier::kIdenticalOnSharedSteps : CurveTier::kIdentical);
    return out;
  }
  out["tier"] = to_string(max_rel <= tolerance ? CurveTier::kWithinTolerance : CurveTier::kDrifted);
  out["first_differing_step"] = first_differing;
  out["last_equal_step"] = last_equal;
  out["max_rel_diff"] = fraction_json(max_rel);
  out["max_rel_diff_step"] = max_step;
  if (!first_drift.is_null()) out["first_drift_step"] = first_drift;
  return out;
}

namespace {

// The tiers' counts over the compared cells, as the summary has them.
struct Tally {
  int compared = 0, outcome_changed = 0, evidence_changed = 0;
  json numerics = {{"identical", 0}, {"identical_on_shared_steps", 0}, {"within_tolerance", 0},
                   {"drifted", 0},   {"drifted_in_noise", 0},          {"not_comparable", 0},
                   {"cell_seeds", 0}};
  json steps = {{"changed", 0}, {"reached_step_changed", 0}, {"steps_changed", 0}};
  json speed = {{"slower", 0}, {"faster", 0}, {"within_band", 0}, {"too_short", 0}, {"not_measured", 0}};
  json memory = {{"changed", 0}, {"fields", json::object()}};
  std::vector<double> speed_changes;  // of the cells timed long enough
};

void bump(json& counts, const std::string& key) { counts[key] = counts.value(key, 0) + 1; }

// A tier word as a summary key: "within tolerance" -> "within_tolerance".
template <typename E>
std::string count_key(E tier) {
  std::string key = to_string(tier);
  std::replace(key.begin(), key.end(), ' ', '_');
  return key;
}

// One cell of A with its counterpart in B and, when given, in the A/A run: the records, and the
// cells as the matrices hold them.
struct CellPair {
  const MatrixCell& ra;
  const MatrixCell& rb;
  const json& a;
  const json& b;
  const json* noise;
  const json& ctx_a;
  const json& ctx_b;
  const json& ctx_noise;
};

json new_diff(const DiffOptions& options, bool noise) {
  return {{"a", options.a_name},
          {"b", options.b_name},
          {"noise", noise ? json(options.noise_name) : json(nullptr)},
          {"tolerances",
           {{"loss", options.loss_tolerance},
            {"memory", options.memory_tolerance},
            {"growth", options.growth_tolerance},
            {"growth_floor_bytes_per_step", options.growth_floor_bytes_per_step},
            {"speed", options.speed_threshold},
            {"min_seconds", options.min_seconds}}},
          {"context", json::array()},
          {"cells", json::array()},
          {"per_cell", json::array()},
          {"only_a", json::array()},
          {"only_b", json::array()}};
}

std::map<std::string, json> context_leaves(const Matrix& matrix) {
  std::map<std::string, json> out;
  for (auto& [k, v] : flatten(matrix.context())) out[k] = std::move(v);
  return out;
}

// "host_changed" and "context": the host first, then every other context difference.
void compare_context(json& d, const Matrix& a, const Matrix& b, const Matrix& noise) {
  const std::map<std::string, json> ca = context_leaves(a), cb = context_leaves(b);
  d["host_changed"] = compare_host(ca, cb);
  if (noise.present()) {
    const json hn = compare_host(ca, context_leaves(noise));
    if (hn["changed"].get<bool>()) d["host_changed"]["noise_host_differs"] = hn["fields"];
  }
  std::set<std::string> keys;
  for (const auto& [k, v] : ca) keys.insert(k);
  for (const auto& [k, v] : cb) keys.insert(k);
  auto add_context = [&](const std::string& key, const std::string& label) {
    const json va = ca.count(key) ? ca.at(key) : json(nullptr);
    const json vb = cb.count(key) ? cb.at(key) : json(nullptr);
    if (va != vb) d["context"].push_back({{"key", key}, {"label", label}, {"a", va}, {"b", vb}});
    keys.erase(key);
  };
  for (const auto& [key, label] : known_context_keys()) add_context(key, label);
  for (const auto& key : std::vector<std::string>(keys.begin(), keys.end()))
    if (!ignored_context_key(key)) add_context(key, key);
}

// The outcome, and with the same seeds each seed's: a change on any seed is a change of the
// cell's outcome. (With different seeds the context says so; only main records compare.)
bool outcome_changes(const CellPair& p, json& changes, json& changed_seeds) {
  bool differs = p.ra.outcome_name != p.rb.outcome_name;
  if (differs) changes.push_back({{"field", "outcome"}, {"a", member(p.a, "outcome")}, {"b", member(p.b, "outcome")}});
  const json& sa = member(p.a, "seeds");
  const json& sb = member(p.b, "seeds");
  if (!sa.is_object() || !sb.is_object() || member(sa, "values") != member(sb, "values") ||
      !member(sa, "outcomes").is_array() || member(sa, "outcomes").size() != member(sb, "outcomes").size())
    return differs;
  const json& oa = sa["outcomes"];
  const json& ob = sb["outcomes"];
  for (std::size_t i = 0; i < oa.size(); ++i)
    if (oa[i] != ob[i] && i < member(sa, "values").size()) changed_seeds.push_back(sa["values"][i]);
  if (changed_seeds.empty()) return differs;
  std::string which;
  for (const auto& v : changed_seeds) which += (which.empty() ? "" : ", ") + show(v);
  changes.push_back({{"field", "seed_outcomes"}, {"a", oa}, {"b", ob}, {"note", "changed on seed(s) " + which}});
  return true;
}

// Every seed's value of `key` ("seed_<key>"), when another seed than the first changed it (the
// first seed's is the main record's).
void per_seed_change(const CellPair& p, const char* key, json& changes) {
  const json& sa = member(p.a, "seeds");
  const json& sb = member(p.b, "seeds");
  if (!same_seed_values(p.a, p.b) || !member(sa, "evidence").is_array() || !member(sb, "evidence").is_array() ||
      sa["evidence"].size() != sb["evidence"].size())
    return;
  json va = json::array(), vb = json::array();
  std::string which;
  for (std::size_t i = 0; i < sa["evidence"].size(); ++i) {
    va.push_back(member(sa["evidence"][i], key));
    vb.push_back(member(sb["evidence"][i], key));
    if (i > 0 && va.back() != vb.back() && i < sa["values"].size())
      which += (which.empty() ? "" : ", ") + show(sa["values"][i]);
  }
  if (!which.empty())
    changes.push_back(
        {{"field", std::string("seed_") + key}, {"a", va}, {"b", vb}, {"note", "changed on seed(s) " + which}});
}

// The steps documentation quotes (symptom, guard, target), steps to target and steps run.
json step_changes(const CellPair& p, json& changes, Tally& t) {
  const json& ea = member(p.a, "evidence");
  const json& eb = member(p.b, "evidence");
  for (const char* key : {"symptom_step", "detected_step", "reached_step"})
    if (member(ea, key) != member(eb, key))
      changes.push_back({{"field", key}, {"a", member(ea, key)}, {"b", member(eb, key)}});
  const json steps = compare_steps(p.a, p.b, p.ctx_a, p.ctx_b);
  for (const auto& s : steps["seeds"]) {
    if (s.contains("reached_step")) bump(t.steps, "reached_step_changed");
    if (s.contains("steps")) bump(t.steps, "steps_changed");
  }
  per_seed_change(p, "reached_step", changes);
  // Steps run fail `--fail-on steps` too: the cell is named by this change.
  if (member(ea, "steps") != member(eb, "steps"))
    changes.push_back({{"field", "steps"}, {"a", member(ea, "steps")}, {"b", member(eb, "steps")}});
  per_seed_change(p, "steps", changes);
  if (steps["changed"].get<bool>()) bump(t.steps, "changed");
  return steps;
}

void final_loss_change(const CellPair& p, double tolerance, json& changes) {
  const json& la = member(member(p.a, "evidence"), "final_loss");
  const json& lb = member(member(p.b, "evidence"), "final_loss");
  if (within_tolerance(la, lb, tolerance)) return;
  json ch = {{"field", "final_loss"}, {"a", la}, {"b", lb}};
  const std::string pct = percent_change(la, lb);
  if (!pct.empty()) ch["note"] = pct;
  changes.push_back(ch);
}

json numerics_changes(const CellPair& p, double tolerance, json& changes, Tally& t) {
  const json numerics = compare_numerics(p.a, p.b, p.ctx_a, p.ctx_b, p.noise, p.ctx_noise, tolerance);
  for (const auto& s : numerics["seeds"]) {
    bump(t.numerics, "cell_seeds");
    bump(t.numerics, s.value("drifts_in_noise", false) ? "drifted_in_noise" : count_key(tier_of(s)));
  }
  // A drift the A/A run shows too is counted apart and changes nothing.
  if (tier_of(numerics) != CurveTier::kDrifted || numerics.value("drifts_in_noise", false)) return numerics;
  std::string note;
  for (const auto& s : numerics["seeds"]) {
    if (tier_of(s) != CurveTier::kDrifted || s.value("drifts_in_noise", false)) continue;
    if (!note.empty()) note += "; ";
    note += "seed " + show(s["seed"]) + ": from step " + show(s["first_drift_step"]) + ", max " +
            (s["max_rel_diff"].is_number() ? percent(s["max_rel_diff"].get<double>()) : show(s["max_rel_diff"])) +
            " at step " + show(s["max_rel_diff_step"]);
  }
  changes.push_back({{"field", "loss_curve"}, {"a", nullptr}, {"b", nullptr}, {"note", note}});
  return numerics;
}

json memory_changes(const CellPair& p, const DiffOptions& o, json& changes, Tally& t) {
  const json memory = compare_memory(p.a, p.b, p.noise, o);
  for (const auto& f : memory["fields"]) {
    const std::string key = f["key"].get<std::string>();
    json& counts = t.memory["fields"][key];
    if (counts.is_null()) counts = {{"label", f["label"]}, {"compared", 0}, {"grew", 0}, {"shrank", 0}};
    const MemoryVerdict verdict = memory_verdict_of(f);
    if (verdict == MemoryVerdict::kOneSideOnly) continue;
    bump(counts, "compared");
    if (verdict == MemoryVerdict::kSame) continue;
    if (verdict == MemoryVerdict::kGrew || verdict == MemoryVerdict::kShrank) bump(counts, to_string(verdict));
    json ch = {{"field", key}, {"a", f["a"]}, {"b", f["b"]}};
    const std::string pct = percent_change(f["a"], f["b"]);
    if (!pct.empty()) ch["note"] = pct;
    if (f.contains("band")) ch["band"] = f["band"];
    changes.push_back(ch);
  }
  if (memory["changed"].get<bool>()) bump(t.memory, "changed");
  return memory;
}

json speed_of(const CellPair& p, const DiffOptions& o, Tally& t) {
  const json speed = compare_speed(p.a, p.b, p.noise, o);
  const SpeedVerdict v = speed_verdict_of(speed);
  if (v == SpeedVerdict::kSlower || v == SpeedVerdict::kFaster || v == SpeedVerdict::kWithinBand)
    t.speed_changes.push_back(speed["change"].get<double>());
  bump(t.speed, count_key(v));
  return speed;
}

// Every tier of one cell into "per_cell", and the cell into "cells" when its behaviour changed.
void compare_cell(json& d, const CellPair& p, const DiffOptions& o, Tally& t) {
  ++t.compared;
  json changes = json::array(), changed_seeds = json::array();
  const bool outcome_differs = outcome_changes(p, changes, changed_seeds);
  const json steps = step_changes(p, changes, t);
  final_loss_change(p, o.loss_tolerance, changes);
  const json numerics = numerics_changes(p, o.loss_tolerance, changes, t);
  const json memory = memory_changes(p, o, changes, t);
  const json speed = speed_of(p, o, t);
  if (member(p.a, "expected") != member(p.b, "expected"))
    changes.push_back({{"field", "expected"}, {"a", member(p.a, "expected")}, {"b", member(p.b, "expected")}});
  const std::string& id = p.ra.id;
  d["per_cell"].push_back(
      {{"id", id},
       {"outcome", {{"a", member(p.a, "outcome")}, {"b", member(p.b, "outcome")}, {"changed", outcome_differs}}},
       {"numerics", numerics},
       {"steps", steps},
       {"speed", speed},
       {"memory", memory}});
  if (changes.empty()) return;
  if (outcome_differs) ++t.outcome_changed;
  else ++t.evidence_changed;
  json entry = {{"id", id},
                {"scenario", p.rb.scenario},
                {"mitigation", p.rb.mitigation},
                {"device", p.rb.device},
                {"outcome_changed", outcome_differs},
                {"a_outcome", member(p.a, "outcome")},
                {"b_outcome", member(p.b, "outcome")},
                {"a_summary", cell_display(p.a)},
                {"b_summary", cell_display(p.b)},
                {"changes", changes}};
  if (!changed_seeds.empty()) entry["changed_seeds"] = changed_seeds;
  d["cells"].push_back(entry);
}

json summary_of(const json& d, Tally& t, const DiffOptions& o, bool noise) {
  t.speed["threshold"] = o.speed_threshold;
  t.speed["noise_band"] = noise;
  // Every cell slower by about the same factor points at the machine (a loaded host, another
  // CPU) rather than at one kernel.
  t.speed["median_change"] = t.speed_changes.empty() ? json(nullptr) : json(median(t.speed_changes));
  return {{"compared", t.compared},
          {"outcome_changed", t.outcome_changed},
          {"evidence_changed", t.evidence_changed},
          {"only_a", d["only_a"].size()},
          {"only_b", d["only_b"].size()},
          {"context_changed", d["context"].size()},
          {"host_changed", d["host_changed"]["changed"]},
          {"numerics", t.numerics},
          {"steps", t.steps},
          {"speed", t.speed},
          {"memory", t.memory}};
}

}  // namespace

json diff_matrices(const Matrix& a, const Matrix& b, const DiffOptions& options, const Matrix& noise) {
  json d = new_diff(options, noise.present());
  compare_context(d, a, b, noise);
  std::map<std::string, const MatrixCell*> by_id_b, by_id_noise;
  for (const MatrixCell& c : b.cells()) by_id_b[c.id] = &c;
  for (const MatrixCell& c : noise.cells()) by_id_noise[c.id] = &c;
  std::set<std::string> seen_a;
  Tally tally;
  for (const MatrixCell& ca : a.cells()) {
    seen_a.insert(ca.id);
    auto it = by_id_b.find(ca.id);
    if (it == by_id_b.end()) {
      d["only_a"].push_back(ca.id);
      continue;
    }
    const auto nit = by_id_noise.find(ca.id);
    const json* noise_cell = nit == by_id_noise.end() ? nullptr : nit->second->cell;
    const MatrixCell& cb = *it->second;
    const CellPair pair{ca, cb, *ca.cell, *cb.cell, noise_cell, a.context(), b.context(), noise.context()};
    compare_cell(d, pair, options, tally);
  }
  for (const MatrixCell& c : b.cells())
    if (!seen_a.count(c.id)) d["only_b"].push_back(c.id);
  d["summary"] = summary_of(d, tally, options, noise.present());
  return d;
}

bool outcomes_changed(const json& diff) {
  return diff.contains("summary") && diff["summary"].value("outcome_changed", 0) > 0;
}

const std::set<FailOn>& fail_on_choices() {
  static const std::set<FailOn> choices(kFailOn.begin(), kFailOn.end());
  return choices;
}

std::vector<std::string> diff_failures(const json& diff, const std::set<FailOn>& fail_on) {
  std::vector<std::string> out;
  if (!diff.is_object() || !diff.contains("summary")) return out;
  const json& s = diff["summary"];
  auto count = [&](const char* group, const char* key) {
    const json& g = member(s, group);
    return g.is_object() ? g.value(key, 0) : 0;
  };
  if (outcomes_changed(diff)) out.push_back(std::to_string(s["outcome_changed"].get<int>()) + " outcome(s) changed");
  if (fail_on.count(FailOn::kSpeed) && count("speed", "slower") > 0)
    out.push_back(std::to_string(count("speed", "slower")) + " cell(s) slower beyond the band");
  if (fail_on.count(FailOn::kMemory)) {
    int grew = 0;
    const json& fields = member(member(s, "memory"), "fields");
    if (fields.is_object())
      for (const auto& [k, v] : fields.items()) grew += v.value("grew", 0);
    if (grew > 0) out.push_back(std::to_string(grew) + " memory field(s) grew beyond the band");
  }
  if (fail_on.count(FailOn::kNumerics) && count("numerics", "drifted") > 0)
    out.push_back(std::to_string(count("numerics", "drifted")) + " loss curve(s) drifted");
  if (fail_on.count(FailOn::kSteps) && count("steps", "changed") > 0)
    out.push_back(std::to_string(count("steps", "changed")) + " cell(s) with changed steps");
  if (fail_on.count(FailOn::kHost) && s.value("host_changed", false)) out.push_back("a different host");
  return out;
}

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

namespace {

std::string summary_line(const json& d) {
  const json& s = d["summary"];
  std::ostringstream os;
  os << s["compared"] << " cells compared: " << s["outcome_changed"] << " outcome(s) changed, " << s["evidence_changed"]
     << " with changed evidence only; " << s["only_a"] << " only in " << d.value("a", "A") << ", " << s["only_b"]
     << " only in " << d.value("b", "B") << "; " << s["context_changed"] << " context difference(s).";
  return os.str();
}

int count_of(const json& d, const char* group, const char* key) {
  const json& g = member(member(d, "summary"), group);
  return g.is_object() ? g.value(key, 0) : 0;
}

}  // namespace

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

namespace {

std::string fraction_text(const json& v) { return v.is_number() ? percent(v.get<double>()) : show(v); }

}  // namespace

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
  if (member(d, "noise").is_string()) os << " or the A/A noise of " << d["noise"].get<std::string>() << " when larger";
  else os << " alone (no --noise run: no noise band)";
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

namespace {

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

// Cell-seeds whose curves are comparable and not identical: {id, seed label, words}.
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

std::string speed_text(const json& s) {
  std::ostringstream os;
  os << s.value("verdict", "") << ": " << milliseconds(s["a_step_seconds"].get<double>()) << " -> "
     << milliseconds(s["b_step_seconds"].get<double>()) << " per step (" << signed_percent(s["change"].get<double>())
     << "; band " << percent(s["band"].get<double>());
  if (s.contains("noise")) os << ", A/A noise " << percent(s["noise"].get<double>());
  os << ")";
  return os.str();
}

// A cell whose speed is beyond the band: its id, slower or faster, the words.
struct SpeedRow {
  std::string id;
  SpeedVerdict verdict;
  std::string text;
};

std::vector<SpeedRow> speed_rows(const json& d) {
  std::vector<SpeedRow> rows;
  for (const auto& c : d["per_cell"]) {
    const SpeedVerdict v = speed_verdict_of(c["speed"]);
    if (v == SpeedVerdict::kSlower || v == SpeedVerdict::kFaster)
      rows.push_back({c.value("id", ""), v, speed_text(c["speed"])});
  }
  return rows;
}

}  // namespace

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
    label.resize(std::max<std::size_t>(label.size(), 22), ' ');
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
