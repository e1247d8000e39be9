// From a given step, the last rank all-reduces its logged loss before backward while its peers
// do it after: the peers' first gradient bucket meets that rank's one-value metric in the same
// collective (collectives issued in another order, as a rank-dependent branch does).
#include "backend/data_parallel.h"

namespace tw {
namespace {
struct OrderMismatch : Fault {
  void run(CellEnv& env, Recipe& recipe) const override {
    const nlohmann::json& p = env.cell.value("fault_params", nlohmann::json::object());
    RankDeviation dev;
    if (env.rank == env.world_size - 1) {
      dev.from_step = param_int(p, "step", 5);
      dev.metric_before_backward = true;
      dev.note = "from step " + std::to_string(dev.from_step) +
                 " this rank all-reduces its logged loss before backward, its peers after";
    }
    train_data_parallel(env, recipe, dev);
  }
};
}  // namespace
TW_REGISTER_FAULT(OrderMismatch, {"order_mismatch", "one rank issues its collectives in another order",
                                  "framework / environment",
                                  {world_size_param(), {"step", ParamSpec::Type::kInteger, 1, 1 << 30, false, {}, "first step of the mismatch"}},
                                  {}, /*ranks=*/2});
}  // namespace tw
