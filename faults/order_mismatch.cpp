// From a given step, the last rank all-reduces the gradients in reverse parameter order (as a
// loop over an unordered container would): every collective pairs different tensors.
#include "kernel/data_parallel.h"

namespace tw {
namespace {
struct OrderMismatch : Fault {
  void run(CellEnv& env, Recipe& recipe) const override {
    const nlohmann::json& p = env.cell.value("fault_params", nlohmann::json::object());
    RankDeviation dev;
    if (env.rank == env.world_size - 1) {
      dev.from_step = param_int(p, "step", 5);
      dev.reverse_order = true;
      dev.note = "from step " + std::to_string(dev.from_step) + " this rank all-reduces the gradients in reverse order";
    }
    train_data_parallel(env, recipe, dev);
  }
};
}  // namespace
TW_REGISTER_FAULT(OrderMismatch, {"order_mismatch", "one rank issues its all-reduces in another order",
                                  "framework / environment",
                                  {{"step", ParamSpec::Type::kInteger, 1, 1 << 30, false, {}, "first step of the mismatch"}},
                                  {}, /*ranks=*/2});
}  // namespace tw
