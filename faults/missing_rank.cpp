// The last rank is missing. At "rendezvous" it never connects to the store, so rank 0 waits in
// the rendezvous; at "first_step" it joins the process group, then never reaches its first step
// (stuck loading its shard), so its peers wait inside their first gradient all-reduce.
#include "backend/data_parallel.h"

namespace tw {
namespace {
struct MissingRank : Fault {
  void run(CellEnv& env, Recipe& recipe) const override {
    const nlohmann::json& p = env.cell.value("fault_params", nlohmann::json::object());
    const std::string stage = p.value("stage", "rendezvous");
    RankDeviation dev;
    if (env.rank == env.world_size - 1) {
      if (stage == "rendezvous") {
        dev.joins = false;
        dev.note = "this rank deliberately never connects to the store";
      } else {
        dev.stalls_after_join = true;
        dev.note = "this rank joins the process group, then stalls before its first step";
      }
    }
    train_data_parallel(env, recipe, dev);
  }
};
}  // namespace
TW_REGISTER_FAULT(MissingRank, {"missing_rank", "the last rank never joins, or joins and never trains",
                                "framework / environment",
                                {world_size_param(), {"stage", ParamSpec::Type::kString, 0, 0, false, {"rendezvous", "first_step"},
                                  "where the rank goes missing"}},
                                {}, /*ranks=*/2});
}  // namespace tw
