// At a given step the last rank is killed (SIGKILL, as the kernel's OOM killer does) in the
// middle of training: its peers are inside a collective with it.
#include "backend/data_parallel.h"

namespace tw {
namespace {
struct RankDies : Fault {
  void run(CellEnv& env, Recipe& recipe) const override {
    const nlohmann::json& p = env.cell.value("fault_params", nlohmann::json::object());
    RankDeviation dev;
    if (env.rank == env.world_size - 1) {
      dev.dies_at_step = param_int(p, "step", 5);
      dev.note = "this rank is killed at step " + std::to_string(dev.dies_at_step);
    }
    train_data_parallel(env, recipe, dev);
  }
};
}  // namespace
TW_REGISTER_FAULT(RankDies, {"rank_dies", "one rank is killed mid-training",
                             "framework / environment",
                             {world_size_param(), {"step", ParamSpec::Type::kInteger, 1, 1 << 30, false, {}, "step at which it dies"}},
                             {}, /*ranks=*/2});
}  // namespace tw
