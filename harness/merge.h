#pragma once
// Joins the matrices of the shards of one run (--shard K/N on several machines) into one.
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "harness/matrix_records.h"

namespace tw {

struct ShardResult {
  std::string path;         // where it came from, for messages and "merged_from"
  Matrix matrix;            // its matrix.json, loaded
  nlohmann::json settings;  // its run.json; null when absent
};

// The merged matrix (its matrix.json value): the first shard's context plus "merged_from", every cell in plan order,
// the summary recomputed. Throws InputError when the shards are not parts of one run (different
// seed, scenarios, filters, devices, ...) or when a cell appears twice.
nlohmann::json merge_shards(const std::vector<ShardResult>& shards);

}  // namespace tw
