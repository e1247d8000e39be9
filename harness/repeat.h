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

// One cell run with several seeds (--seeds N). `results`: the matrix.json records of each seed,
// in the order of `seeds`. Returns {"values": [seed...], "outcomes": [outcome...], "counts":
// {outcome: n}, "evidence": [the key evidence of each seed: steps, losses, memory, step times
// (train_seconds, step_seconds_median, median_step_ms: what diff times a cell by), message]}.
nlohmann::json aggregate_seeds(const std::vector<uint64_t>& seeds, const std::vector<nlohmann::json>& results);

// The key evidence of one result kept per seed; a message is cut to kSeedMessageChars.
nlohmann::json seed_evidence(const nlohmann::json& result);
constexpr std::size_t kSeedMessageChars = 200;

// A cell's rank-0 loss curve from its event stream file, for figures of the other seeds:
// {"step": [...], "loss": [...]} with at most `points` values each ({} when it has no steps).
nlohmann::json seed_series_of(const std::string& events_file, std::size_t points = 60);

}  // namespace tw
