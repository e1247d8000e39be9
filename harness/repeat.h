#pragma once
// Repeated runs of one cell (--repeat N): whether outcome, evidence and the per-step loss were
// the same every time. A cell whose outcome changes between repeats is flaky.
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace tw {

// `results`: the matrix.json records of each repeat of one cell, in repeat order.
// `losses`: each repeat's full per-step loss values (rank 0), empty when unknown.
// Returns {"runs", "outcomes", "identical_outcome", "identical_evidence", "identical_loss"
// (null when not every repeat has a loss series), "differing_evidence": [keys]}.
nlohmann::json compare_repeats(const std::vector<nlohmann::json>& results,
                               const std::vector<std::vector<nlohmann::json>>& losses);

// Evidence that differs between any two runs by nature (durations, process ids).
bool varies_by_nature(const std::string& evidence_key);

// The loss of every rank-0 step event in a cell's event stream file (<cell>.jsonl).
std::vector<nlohmann::json> loss_series_of(const std::string& events_file);

}  // namespace tw
