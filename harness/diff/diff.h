#pragma once
// Compares two matrices (a baseline A and a candidate B) the way regression tracking does, per
// cell: outcome, numerics (loss curves: identical, within tolerance, drifted), steps to the
// target, speed (median step time against a noise band) and every memory field; the host first
// (a different machine is a warning), then the rest of the environment.
// harness/diff/ holds it by stage: a comparator per tier (host, numerics, steps, speed, memory),
// assemble.cpp (the per-cell loop and the summary), policy.cpp (--fail-on), the renderers.
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "harness/matrix_records.h"

namespace tw {

// How two loss curves compare (compare_curves), from least to most different; not comparable
// ranks below them all. to_string gives the word the diff records: "not comparable",
// "identical", "identical on shared steps", "within tolerance", "drifted".
enum class CurveTier { kNotComparable, kIdentical, kIdenticalOnSharedSteps, kWithinTolerance, kDrifted };
// A cell's median step time against the band: "not measured", "too short", "within band",
// "slower", "faster".
enum class SpeedVerdict { kNotMeasured, kTooShort, kWithinBand, kSlower, kFaster };
// A memory field: "one side only", "same", "changed" (not a number on both sides), "grew", "shrank".
enum class MemoryVerdict { kOneSideOnly, kSame, kChanged, kGrew, kShrank };
// The tiers `--fail-on` may name besides outcomes: "speed", "memory", "numerics", "steps", "host".
enum class FailOn { kSpeed, kMemory, kNumerics, kSteps, kHost };

const char* to_string(CurveTier tier);
const char* to_string(SpeedVerdict verdict);
const char* to_string(MemoryVerdict verdict);
const char* to_string(FailOn tier);
// The tier a `--fail-on` word names; nullopt for any other word.
std::optional<FailOn> parse_fail_on(const std::string& word);

struct DiffOptions {
  double loss_tolerance = 0.01;               // relative: |a - b| <= tol * max(|a|, |b|) is no change
  double memory_tolerance = 0.10;             // relative, for every peak memory field
  double growth_tolerance = 0.10;             // relative, for memory growth (per step and over the run)
  double growth_floor_bytes_per_step = 1024;  // growth changes smaller than this are no change
  double speed_threshold = 0.07;              // relative change of the median step time that counts
  double min_seconds = 0.05;                  // cells that trained for less are too short to time
  std::string a_name = "A";                   // how the two sides are called in the output
  std::string b_name = "B";
  std::string noise_name;  // the A/A rerun's name, when one is given
  // `trainwreck speed`'s judgement (speed.json, diff --speed): the cells it timed take their speed
  // verdict from it (source "interleaved") instead of from the two single runs. Null: none.
  nlohmann::json interleaved;
  std::string interleaved_name;  // the file it came from
};

// The diff as data. Keys kept from the first version (the HTML report reads them):
// {"a", "b", "tolerances", "context": [{"key", "label", "a", "b"}],
//  "cells": [{"id", "scenario", "mitigation", "device", "outcome_changed", "a_outcome", "b_outcome",
//             "a_summary", "b_summary", "changes": [{"field", "a", "b", "note"?}],
//             "changed_seeds"?: [seed...] (both runs had these seeds; the outcome changed on them)}],
//  "only_a": [id...], "only_b": [id...],
//  "summary": {"compared", "outcome_changed", "evidence_changed", "only_a", "only_b", "context_changed", ...}}
// "cells" lists the cells whose behaviour changed (outcome, key evidence, steps to target, steps
// run, a drifted loss curve, memory beyond its band); speed, and a drift the A/A run shows too,
// are never a "change" there. A change's "field" is an evidence key ("symptom_step",
// "detected_step", "reached_step", "steps", "final_loss", a memory field, "expected") or one of
// "outcome", "seed_outcomes", "seed_reached_step", "seed_steps" (a and b: one value per seed),
// "loss_curve" (a and b null, the drift in "note").
// Added:
//  "noise": the A/A run's name or null,
//  "host_changed": {"changed", "fields": [{"key", "label", "a", "b", "added"?, "removed"?}],
//                   "unknown": [{"key", "label", "a", "b"}] (recorded on one side only),
//                   "noise_host_differs"?: [...] (the A/A run was not on A's host)},
//  "per_cell": [{"id", "outcome": {"a", "b", "changed"},
//                "numerics": {"tier", "seeds": [{"seed", "tier", "steps_compared", "first_differing_step",
//                             "last_equal_step" (null when the first shared step already differs),
//                             "max_rel_diff" (a number, or the string "inf" when one side is not finite),
//                             "max_rel_diff_step", "first_drift_step", "a_last_step", "b_last_step",
//                             "reason", "noise_tier"? (A's curve against the A/A run's, same seed),
//                             "drifts_in_noise"? (drifted, and so did the A/A run)}],
//                             "noise_tier"? (the first seed's), "drifts_in_noise"? (every drifted seed does)},
//                 a tier is "identical", "identical on shared steps" (equal where both have a value,
//                 one curve has steps the other lacks), "within tolerance", "drifted" or "not comparable",
//                "steps": {"changed", "seeds": [{"seed", "reached_step": {"a", "b"}?, "steps": {"a", "b"}?}]},
//                "speed": {"verdict", "source", "a_step_seconds", "b_step_seconds", "a_seconds", "b_seconds",
//                          "samples"? ([a, b]: seeds the medians are over, when more than one),
//                          "change", "noise"?, "band", "reason"?},
//                "memory": {"changed", "fields": [{"key", "label", "a", "b", "change", "noise"?, "band",
//                           "verdict"}]}}] (every compared cell; change and noise relative to A),
//  (with --speed FILE, "summary.speed.interleaved": {"file", "cells" (taken from it), "rounds",
//   "threshold", "aa_flagged"}; those cells' "speed" has "source": "interleaved", "samples" the
//   rounds, "interval" the measurement's)
//  "summary": {..., "numerics": {"identical", "identical_on_shared_steps", "within_tolerance", "drifted",
//                                "drifted_in_noise", "not_comparable", "cell_seeds"} (counts of cell-seeds;
//                                "drifted" leaves out those in "drifted_in_noise"),
//              "steps": {"changed", "reached_step_changed", "steps_changed"},
//              "speed": {"slower", "faster", "within_band", "too_short", "not_measured", "threshold", "noise_band",
//                        "median_change" (over the cells timed long enough; null when none)},
//              "memory": {"changed", "fields": {key: {"label", "compared", "grew", "shrank"}}},
//              "host_changed"}
// `noise`, when not null, is an A/A rerun of A (same build, same host): its distance from A is the
// per-cell noise of speed and memory, and a change counts only beyond max(threshold, noise); a
// loss curve that drifts from A's in the A/A run too is noise, not a drift of B.
// The default `noise` (a matrix that is not present) is none.
nlohmann::json diff_matrices(const Matrix& a, const Matrix& b, const DiffOptions& options,
                             const Matrix& noise = Matrix());

// True when some cell present on both sides has a different outcome: the upgrade changed behaviour.
bool outcomes_changed(const nlohmann::json& diff);

// The tiers that may fail a diff besides outcomes (`--fail-on`): "speed" (a cell slower beyond its
// band), "memory" (a memory field grew beyond its band), "numerics" (a drifted loss curve, not
// counting drifts the A/A run shows too), "steps"
// (steps to target changed), "host" (a different host).
const std::set<FailOn>& fail_on_choices();
// Outcome changes always; the other tiers when named in `fail_on`. Returns the reasons, empty when
// the diff passes.
std::vector<std::string> diff_failures(const nlohmann::json& diff, const std::set<FailOn>& fail_on);

std::string render_diff_text(const nlohmann::json& diff, bool color);
std::string render_diff_markdown(const nlohmann::json& diff);

// Pieces of the rendered diff, for other views of it (report.html):
// "WARNING: different host: ..." and one line per differing host fact (CPU flags as which went
// and which came); use them when diff["host_changed"]["changed"] is true.
std::string host_warning_heading(const nlohmann::json& diff);
std::vector<std::string> host_lines(const nlohmann::json& diff);
// "WARNING: the A/A run ... did not run on A's host ..." or "" when it did (or there is none).
std::string noise_host_note(const nlohmann::json& diff);
// "Host facts recorded by one run only (...)" or "".
std::string unknown_host_note(const nlohmann::json& diff);
// The tier summary: {tier, counts in words}, for outcomes, loss curves, steps, speed, memory.
std::vector<std::pair<std::string, std::string>> tier_lines(const nlohmann::json& diff);

// One entry of a cell's "changes" in words: "final_loss 0.25 -> 0.2 (-20%)".
std::string describe_change(const nlohmann::json& change);

// Relative comparison used for losses and memory; non-finite values ("nan", "inf") must match exactly.
bool within_tolerance(const nlohmann::json& a, const nlohmann::json& b, double relative);

// Two loss curves ({"step": [...], "loss": [...]}) on the steps both recorded: "tier" is
// "identical" (every value bit-identical), "identical on shared steps" (so, but one curve has steps
// the other lacks: a run cut short), "within tolerance" (max relative difference <= tolerance),
// "drifted" or "not comparable" (with "reason"); see diff_matrices for the other keys.
nlohmann::json compare_curves(const nlohmann::json& a, const nlohmann::json& b, double tolerance);

}  // namespace tw
