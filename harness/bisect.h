#pragma once
// The start of a bisect: where two stacks running the same cell first part. Each side's run
// writes an op trace (backend/op_trace.h: every step's loss, bit for bit, and a window of ATen ops
// with a digest of their outputs); this compares two of them. No I/O: `trainwreck bisect`
// (harness/cli/bisect.cpp) runs the cells and prints what this finds.
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

namespace tw {

// The first step that starts from weights that are not bit-identical, or whose loss is not: 0 when
// every step both runs have agrees and they ran the same steps; a run that stops earlier parts at
// the first step it lacks. A trace's "losses" are [step, loss ("%a"), digest of the weights the
// step starts from].
struct LossComparison {
  int64_t steps_compared = 0;
  int64_t first_differing_step = 0;
  std::string what;               // "weights", "loss" or "steps" (one run lacks the step)
  nlohmann::json a_loss, b_loss;  // the losses at that step ("%a" text), null where a run lacks it
};
LossComparison compare_losses(const nlohmann::json& a_trace, const nlohmann::json& b_trace);

// The first op of the traced window (in the order the ops finished) that differs: another op
// name (the two stacks dispatch differently) or the same op with outputs whose bytes differ.
struct OpComparison {
  int64_t ops_a = 0, ops_b = 0;  // ops in each trace's window
  int64_t identical_before = 0;  // ops that match, bit for bit, before the first difference
  bool found = false;
  std::string kind;           // "values" or "sequence"
  nlohmann::json a_op, b_op;  // the two trace entries at that index (null past a trace's end)
};
OpComparison compare_ops(const nlohmann::json& a_trace, const nlohmann::json& b_trace);

// The whole finding, with the sides and the cell added by the command:
//   {"cell", "a", "b", "steps_compared", "first_differing_step", "differs_in", "a_loss", "b_loss",
//    "ops_window": [from, to], "ops_a", "ops_b", "identical_before", "first_differing_op":
//    {"kind", "a", "b"} or null}
nlohmann::json bisect_json(const LossComparison& losses, const OpComparison& ops, int64_t ops_from, int64_t ops_to);

// The finding as text or Markdown.
std::string render_bisect(const nlohmann::json& finding, bool markdown);

}  // namespace tw
