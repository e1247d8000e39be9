// World size 2, but the last rank never joins the rendezvous: rank 0 waits for it.
#include "kernel/data_parallel.h"

namespace tw {
namespace {
struct MissingRank : Fault {
  void run(CellEnv& env, Recipe& recipe) const override {
    RankDeviation dev;
    if (env.rank == env.world_size - 1) {
      dev.joins = false;
      dev.note = "this rank deliberately never connects to the store";
    }
    train_data_parallel(env, recipe, dev);
  }
};
}  // namespace
TW_REGISTER_FAULT(MissingRank, {"missing_rank", "world size 2, the last rank never joins the rendezvous",
                                "framework / environment", {}, {}, /*ranks=*/2});
}  // namespace tw
