#pragma once
// Internal to harness/diff/: the comparators, one tier of one cell each, A's record against B's
// (and A's against the A/A run's, for the tiers the run bands): the context with the host first
// (host.cpp), loss curves (numerics.cpp), steps to target (steps.cpp), speed (speed.cpp) and
// memory (memory.cpp). Each returns a typed result; its to_json() is what the diff records under
// the tier's key of "per_cell" (diff.h lists the keys).
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "harness/diff/diff.h"

namespace tw::diff_detail {

// ---- host and context (host.cpp) ----------------------------------------------------------------

// Sets "host_changed" (A's host against B's, and against the A/A run's) and "context" (every
// other context difference) of the diff `d`.
void compare_context(nlohmann::json& d, const Matrix& a, const Matrix& b, const Matrix& noise);

// ---- seeds, shared by the tiers compared per seed -----------------------------------------------

// The seed a cell's main record ran with: its first seed, else the run's ("seed" of its context).
nlohmann::json main_seed(const nlohmann::json& cell, const nlohmann::json& context);
// Both runs had the same seeds for this cell (so seed i of one is seed i of the other).
bool same_seed_values(const nlohmann::json& ca, const nlohmann::json& cb);

// ---- numerics (numerics.cpp) --------------------------------------------------------------------

// Two loss curves on the steps both recorded (compare_curves is its JSON).
struct CurveComparison {
  CurveTier tier = CurveTier::kNotComparable;
  std::string reason;                 // why not comparable; "" when comparable
  std::optional<int> steps_compared;  // with the last steps: when both curves are usable
  nlohmann::json a_last_step, b_last_step;
  bool differs = false;  // some shared step differs: the figures below are recorded
  nlohmann::json first_differing_step, last_equal_step, max_rel_diff_step;
  nlohmann::json first_drift_step;  // null when no step is beyond the tolerance
  double max_rel_diff = 0;          // infinite when one side is not finite there
  nlohmann::json to_json() const;
};
CurveComparison curve_comparison(const nlohmann::json& a, const nlohmann::json& b, double tolerance);

// One seed of a cell: A's curve against B's, and against the A/A run's.
struct SeedCurves {
  CurveComparison curves;
  nlohmann::json seed;
  std::optional<CurveTier> noise_tier;  // A's curve against the A/A run's, same seed
  bool drifts_in_noise = false;         // drifted, and so did the A/A run
  nlohmann::json to_json() const;
};
// A cell's loss curves ("numerics"): each seed's, the main record's first.
struct NumericsComparison {
  CurveTier tier = CurveTier::kNotComparable;  // the most different seed's
  std::vector<SeedCurves> seeds;
  bool drifts_in_noise = false;  // drifted, and every drifted seed drifts in the A/A run too
  nlohmann::json to_json() const;
};
// `noise_cell` is the A/A run's cell, or null.
NumericsComparison compare_numerics(const nlohmann::json& ca, const nlohmann::json& cb, const nlohmann::json& ctx_a,
                                    const nlohmann::json& ctx_b, const nlohmann::json* noise_cell,
                                    const nlohmann::json& ctx_noise, double tolerance);

// ---- steps to target (steps.cpp) ----------------------------------------------------------------

// One seed whose steps to target ("reached_step") or steps run ("steps") changed: {A's, B's} of each.
struct SeedSteps {
  nlohmann::json seed;
  std::optional<std::pair<nlohmann::json, nlohmann::json>> reached_step, steps;
  nlohmann::json to_json() const;
};
// A cell's steps ("steps"): the seeds whose steps changed.
struct StepsComparison {
  std::vector<SeedSteps> seeds;
  bool changed() const { return !seeds.empty(); }
  nlohmann::json to_json() const;
};
StepsComparison compare_steps(const nlohmann::json& ca, const nlohmann::json& cb, const nlohmann::json& ctx_a,
                              const nlohmann::json& ctx_b);

// ---- speed (speed.cpp) --------------------------------------------------------------------------

// Where a step time comes from, best first: the kernel's median step time, then a mean.
// kInterleaved: `trainwreck speed`'s measurement (diff --speed), which replaces the single runs'.
enum class TimingSource { kStepSecondsMedian, kMedianStepMs, kTrainSecondsPerStep, kInterleaved };
// The source as the diff records it ("source"): "step_seconds_median", ..., "interleaved"
const char* to_string(TimingSource source);

// The A/A run's spread of step times: over every cell that both A and the A/A run timed long
// enough, r = ln(A/A run's median step time / A's). Two runs of one build on one host differ by r;
// a change between A and B is judged against that spread, not against one cell's single A/A pair.
struct SpeedNoise {
  int cells = 0;     // cells in the estimate
  double shift = 0;  // the median r: the whole run faster or slower
  double sigma = 0;  // 1.4826 x the median |r - shift| (a robust standard deviation of r)
  double z = 3.29;   // the interval's half-width in sigmas (99.9 % two-sided, for a matrix of cells)
  nlohmann::json to_json() const;
};
// Cells needed to estimate the spread; with fewer, each cell's own A/A distance bands it.
constexpr int kMinNoiseCells = 8;
// The spread, from A's cells and their A/A counterparts (null where the A/A run lacks the cell);
// nullopt with fewer than kMinNoiseCells timed cells.
std::optional<SpeedNoise> speed_noise(const std::vector<std::pair<const nlohmann::json*, const nlohmann::json*>>& cells,
                                      const DiffOptions& o);

// A cell's median step time, B's against A's ("speed").
struct SpeedComparison {
  SpeedVerdict verdict = SpeedVerdict::kNotMeasured;
  std::optional<TimingSource> source;  // both sides' times are from it; none when not measured
  double a_step_seconds = 0, b_step_seconds = 0;
  std::optional<double> a_seconds, b_seconds;  // how long each side trained, when known
  std::optional<std::pair<int, int>> samples;  // the seeds the medians are over, when more than one
  double change = 0;                           // relative to A
  std::optional<double> noise;                 // the A/A run's distance from A, relative
  double band = 0;                             // the change that counts: max(threshold, noise)
  // With the A/A spread: the change's interval, (1 + change) x exp(-+ z sigma) - 1. Slower only
  // when all of it lies above the threshold, faster only when all of it lies below -threshold;
  // `band` is then the smallest change that counts.
  std::optional<std::pair<double, double>> interval;
  std::string reason;  // why not measured, or too short; "" otherwise
  nlohmann::json to_json() const;
};
// `noise_cell` is the A/A run's cell (or null); `spread`, when known, judges the change (else
// max(threshold, the cell's own A/A distance) does).
SpeedComparison compare_speed(const nlohmann::json& ca, const nlohmann::json& cb, const nlohmann::json* noise_cell,
                              const DiffOptions& o, const SpeedNoise* spread = nullptr);

// The verdict of `trainwreck speed` for one cell (an entry of its "cells": "verdict", "change",
// "interval", "a_step_seconds" and "b_step_seconds" per round) as the diff's speed tier: source
// "interleaved", the step times the medians over rounds, `threshold` the band. nullopt when the
// entry was not timed.
std::optional<SpeedComparison> interleaved_speed(const nlohmann::json& measured, double threshold);

// ---- memory (memory.cpp) ------------------------------------------------------------------------

// A memory field of the evidence; growth is banded by the growth tolerance, with a floor.
struct MemoryField {
  std::string key, label;
  bool growth;
};
// The peaks and the growth, in the order they are shown.
const std::vector<MemoryField>& known_memory_fields();

// One memory field of a cell, B's against A's.
struct MemoryFieldComparison {
  std::string key, label;
  nlohmann::json a, b;
  MemoryVerdict verdict = MemoryVerdict::kChanged;
  std::optional<double> noise;   // the A/A run's distance from A, relative (when A is 0: only a 0 of it)
  std::optional<double> band;    // when both sides are numbers
  std::optional<double> change;  // relative to A, when both are numbers and A is not 0
  nlohmann::json to_json() const;
};
// A cell's memory ("memory"): every field either side recorded.
struct MemoryComparison {
  bool changed = false;  // some field beyond its band, or a word that changed
  std::vector<MemoryFieldComparison> fields;
  nlohmann::json to_json() const;
};
MemoryComparison compare_memory(const nlohmann::json& ca, const nlohmann::json& cb, const nlohmann::json* noise_cell,
                                const DiffOptions& o);

}  // namespace tw::diff_detail
