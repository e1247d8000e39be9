// The last rank builds its model wider than its peers (a configuration read differently on one
// node): the ranks hold parameters of different shapes.
#include "backend/data_parallel.h"

namespace tw {
namespace {
struct ModelMismatch : Fault {
  void run(CellEnv& env, Recipe& recipe) const override {
    const nlohmann::json& p = env.cell.value("fault_params", nlohmann::json::object());
    RankDeviation dev;
    if (env.rank == env.world_size - 1) {
      dev.width_delta = param_int(p, "extra_width", 1);
      dev.note = "this rank's hidden layers are " + std::to_string(dev.width_delta) + " unit(s) wider";
    }
    train_data_parallel(env, recipe, dev);
  }
};
}  // namespace
TW_REGISTER_FAULT(ModelMismatch, {"model_mismatch", "one rank builds a model of other shapes",
                                  "framework / environment",
                                  {world_size_param(), {"extra_width", ParamSpec::Type::kInteger, 1, 1 << 16, false, {},
                                    "hidden units the deviating rank adds"}},
                                  {}, /*ranks=*/2});
}  // namespace tw
