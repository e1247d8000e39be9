#pragma once
// What a recipe may run before the training loop, on the model as initialized: the batch-size
// search (auto_batch_size) and Leslie Smith's LR range test (lr_range_test).
#include <nlohmann/json.hpp>

#include "backend/data.h"
#include "backend/model.h"

namespace tw {

// The largest batch whose forward and backward fit: halving from the recipe's batch, then
// bisection; a quarter is left for optimizer state, evaluation and fragmentation, so the run does
// not sit at the edge of the budget. Each batch tried goes to `trials`; 0 when not even 1 fits.
int64_t find_batch_size(Net& net, const Dataset& data, const Recipe& r, c10::Device device, nlohmann::json& trials);

// The LR range test: the LR grows exponentially from 1e-6 to 10 over at most 100 steps until the
// loss blows up; the LR at the lowest smoothed loss, divided by 10, is returned (and recorded in
// `evidence`). The weights are restored afterwards.
double lr_range_test(Net& net, const Dataset& data, const Recipe& r, nlohmann::json& evidence);

}  // namespace tw
