// From a given step, the last rank all-reduces its first-layer gradient with extra columns,
// as if its model had been built from another configuration: the ranks' collectives no longer
// match in size.
#include "kernel/data_parallel.h"

namespace tw {
namespace {
struct ShapeMismatch : Fault {
  void run(CellEnv& env, Recipe& recipe) const override {
    const nlohmann::json& p = env.cell.value("fault_params", nlohmann::json::object());
    RankDeviation dev;
    if (env.rank == env.world_size - 1) {
      dev.from_step = param_int(p, "step", 5);
      dev.extra_columns = param_int(p, "extra_columns", 1);
      dev.note = "from step " + std::to_string(dev.from_step) + " this rank all-reduces its first gradient with " +
                 std::to_string(dev.extra_columns) + " extra column(s)";
    }
    train_data_parallel(env, recipe, dev);
  }
};
}  // namespace
TW_REGISTER_FAULT(ShapeMismatch, {"shape_mismatch", "one rank all-reduces a tensor of another shape",
                                  "framework / environment",
                                  {{"step", ParamSpec::Type::kInteger, 1, 1 << 30, false, {}, "first step of the mismatch"},
                                   {"extra_columns", ParamSpec::Type::kInteger, 1, 1 << 20, false, {},
                                    "columns the deviating rank adds"}},
                                  {}, /*ranks=*/2});
}  // namespace tw
