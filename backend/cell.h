#pragma once
// The LibTorch side of the executable: the cell entry point and the environment probe.
#include <nlohmann/json.hpp>

#include "harness/backend.h"

namespace tw {

void run_training_cell(const nlohmann::json& cell, const EventWriter& events);
nlohmann::json probe_environment();
// The versions of the stack this process runs on, as harness/stack_rule.h names them: LibTorch,
// the NCCL library loaded, the CUDA runtime, the NVIDIA driver (/proc/driver/nvidia/version) and
// cuDNN (with a GPU). Absent components are left out. Starts no process, so a cell may call it
// after CUDA is initialized.
nlohmann::json running_stack();
Backend training_backend();

}  // namespace tw
