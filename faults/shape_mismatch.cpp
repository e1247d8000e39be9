// From a given step, the last rank logs more values than its peers (its logging code is another
// version): the all-reduce of the logged metrics pairs a tensor of one size with another. Gloo
// aborts the receiving rank ("Received data size doesn't match expected size"); NCCL hangs.
#include "backend/data_parallel.h"

namespace tw {
namespace {
struct ShapeMismatch : Fault {
  void run(CellEnv& env, Recipe& recipe) const override {
    const nlohmann::json& p = env.cell.value("fault_params", nlohmann::json::object());
    RankDeviation dev;
    if (env.rank == env.world_size - 1) {
      dev.from_step = param_int(p, "step", 5);
      dev.metric_extra = param_int(p, "extra_columns", 1);
      dev.note = "from step " + std::to_string(dev.from_step) + " this rank all-reduces " +
                 std::to_string(1 + dev.metric_extra) + " logged values, its peers 1";
    }
    train_data_parallel(env, recipe, dev);
  }
};
}  // namespace
TW_REGISTER_FAULT(ShapeMismatch, {"shape_mismatch", "one rank all-reduces a tensor of another shape",
                                  "framework / environment",
                                  {world_size_param(), {"step", ParamSpec::Type::kInteger, 1, 1 << 30, false, {}, "first step of the mismatch"},
                                   {"extra_columns", ParamSpec::Type::kInteger, 1, 1 << 20, false, {},
                                    "values the deviating rank adds"}},
                                  {}, /*ranks=*/2});
}  // namespace tw
