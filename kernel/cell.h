#pragma once
// The LibTorch side of the executable: the cell entry point and the environment probe.
#include <nlohmann/json.hpp>

#include "harness/backend.h"

namespace tw {

void run_training_cell(const nlohmann::json& cell, const EventWriter& events);
nlohmann::json probe_environment();
Backend training_backend();

}  // namespace tw
