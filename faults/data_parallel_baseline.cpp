// No fault: two ranks train the healthy recipe data-parallel, the control row of the collective
// scenarios (and the proof that their guards stay quiet when the ranks agree).
#include "backend/data_parallel.h"

namespace tw {
namespace {
struct DataParallelBaseline : Fault {
  void run(CellEnv& env, Recipe& recipe) const override { train_data_parallel(env, recipe, RankDeviation{}); }
};
}  // namespace
TW_REGISTER_FAULT(DataParallelBaseline, {"data_parallel_baseline", "the healthy recipe on two data-parallel ranks (control)",
                                         "control", {world_size_param()}, {}, /*ranks=*/2});
}  // namespace tw
