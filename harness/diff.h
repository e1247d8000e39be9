#pragma once
// Compares two matrices (a baseline A and a candidate B): the environment first, then every cell
// whose outcome or key evidence changed, then cells present on one side only.
#include <nlohmann/json.hpp>
#include <string>

namespace tw {

struct DiffOptions {
  double loss_tolerance = 0.01;    // relative: |a - b| <= tol * max(|a|, |b|) is no change
  double memory_tolerance = 0.10;  // relative, for peak memory
  std::string a_name = "A";        // how the two sides are called in the output
  std::string b_name = "B";
};

// The diff as data:
// {"a", "b", "tolerances", "context": [{"key", "label", "a", "b"}],
//  "cells": [{"id", "scenario", "mitigation", "device", "outcome_changed", "a_outcome", "b_outcome",
//             "a_summary", "b_summary", "changes": [{"field", "a", "b", "note"?}],
//             "changed_seeds"?: [seed...] (both runs had these seeds; the outcome changed on them)}],
//  "only_a": [id...], "only_b": [id...],
//  "summary": {"compared", "outcome_changed", "evidence_changed", "only_a", "only_b", "context_changed"}}
nlohmann::json diff_matrices(const nlohmann::json& a, const nlohmann::json& b, const DiffOptions& options);

// True when some cell present on both sides has a different outcome: the upgrade changed behaviour.
bool outcomes_changed(const nlohmann::json& diff);

std::string render_diff_text(const nlohmann::json& diff, bool color);
std::string render_diff_markdown(const nlohmann::json& diff);

// One entry of a cell's "changes" in words: "final_loss 0.25 -> 0.2 (-20%)".
std::string describe_change(const nlohmann::json& change);

// Relative comparison used for losses and memory; non-finite values ("nan", "inf") must match exactly.
bool within_tolerance(const nlohmann::json& a, const nlohmann::json& b, double relative);

}  // namespace tw
