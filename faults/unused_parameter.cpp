// From a given step, the last rank's loss skips the model's second branch (a rank-dependent
// path): on that rank the branch's parameters get no gradient, so DDP's gradient bucket never
// fills there while its peers wait in the bucket's all-reduce.
#include "backend/data_parallel.h"

namespace tw {
namespace {
struct UnusedParameter : Fault {
  void apply(Recipe& r, const nlohmann::json&) const override { r.model.kind = ModelKind::kTwoBranch; }
  void run(CellEnv& env, Recipe& recipe) const override {
    const nlohmann::json& p = env.cell.value("fault_params", nlohmann::json::object());
    RankDeviation dev;
    if (env.rank == env.world_size - 1) {
      dev.from_step = param_int(p, "step", 3);
      dev.skips_branch = true;
      dev.note = "from step " + std::to_string(dev.from_step) + " this rank's loss does not use the second branch";
    }
    train_data_parallel(env, recipe, dev);
  }
};
}  // namespace
TW_REGISTER_FAULT(UnusedParameter, {"unused_parameter", "one rank's loss skips parameters its peers use",
                                    "framework / environment",
                                    {world_size_param(), {"step", ParamSpec::Type::kInteger, 1, 1 << 30, false, {}, "first step without the branch"}},
                                    {}, /*ranks=*/2});
}  // namespace tw
