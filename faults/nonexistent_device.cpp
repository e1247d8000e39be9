// The last rank maps to the ordinal one past the device count (LOCAL_RANK used as the GPU index
// while CUDA_VISIBLE_DEVICES hides devices): it fails on first touch while rank 0 waits for it.
#include <torch/cuda.h>

#include "backend/data_parallel.h"

namespace tw {
namespace {
struct NonexistentDevice : Fault {
  void run(CellEnv& env, Recipe& recipe) const override {
    RankDeviation dev;
    if (env.rank == env.world_size - 1) {
      dev.device_index = static_cast<int>(torch::cuda::device_count());
      dev.note = "this rank maps to cuda:" + std::to_string(dev.device_index) + ", past the last device";
    }
    train_data_parallel(env, recipe, dev);
  }
};
}  // namespace
TW_REGISTER_FAULT(NonexistentDevice, {"nonexistent_device", "a rank mapped to a GPU ordinal past the device count",
                                      "framework / environment", {}, {"cuda"}, /*ranks=*/2});
}  // namespace tw
