#pragma once
// What the executable plugs into the harness: the catalog of faults and mitigations, and the
// code a cell process runs. The harness itself never links LibTorch.
#include <functional>
#include <nlohmann/json.hpp>

#include "harness/catalog.h"
#include "harness/event_writer.h"

namespace tw {

struct Backend {
  Catalog catalog;
  // Runs one cell inside the cell process; reports through the writer. Exceptions that escape
  // are reported as an "error" event by the caller.
  std::function<void(const nlohmann::json& cell, const EventWriter& events)> run_cell;
  // Versions and devices (LibTorch, CUDA, cuDNN, NCCL, GPUs); runs in a probe process.
  std::function<nlohmann::json()> probe;
};

// The trainwreck command line. Returns the process exit code.
int trainwreck_main(int argc, char** argv, const Backend& backend);

}  // namespace tw
