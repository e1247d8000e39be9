#pragma once
// The op trace of a cell, for the bisect of an upgrade (`trainwreck bisect`): every step's loss,
// bit for bit, and, over a window of steps, every ATen op the step runs (forward, backward, the
// optimizer's update, the batch drawn) with a digest of its outputs' bytes. Two stacks running
// the same cell agree op for op until the first op whose kernel changed; comparing the traces
// names it.
//
// The ops come from ATen's RecordFunction callbacks (the profiler's observer API) with their
// outputs; an output is hashed on the host, so a CUDA op's trace synchronizes (a traced run is
// not a timed one). A CUDA-graph replay runs no op the callbacks see.
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "backend/loop_hooks.h"

namespace tw {

struct OpTraceSpec {
  // The ops of steps first_step..last_step; step 0 is the set-up before the first step (the data
  // made, the model initialized). last_step < 0: no op trace, the losses only.
  int64_t first_step = 0;
  int64_t last_step = -1;
  std::string path;  // where the trace is written (JSON) when the run ends

  // {"path": "...", "ops_from": N, "ops_to": M} (no ops_from: the losses only); throws
  // std::invalid_argument naming the field.
  static OpTraceSpec from_json(const nlohmann::json& j);
};

// A loop hook: records the losses from the first step and the ops of the window, and writes the
// file at the end of the run (however it ends: a stop, a non-finite loss, the last step).
std::shared_ptr<LoopHook> make_op_trace(const OpTraceSpec& spec);

}  // namespace tw
