// Every rank maps to cuda:0 (a LOCAL_RANK that was never set, a constant in a launch script):
// NCCL refuses two ranks on one GPU when it creates the communicator.
#include "backend/data_parallel.h"

namespace tw {
namespace {
struct DuplicateDevice : Fault {
  void run(CellEnv& env, Recipe& recipe) const override {
    RankDeviation dev;
    dev.device_index = 0;
    dev.note = "every rank maps to cuda:0";
    train_data_parallel(env, recipe, dev);
  }
};
}  // namespace
TW_REGISTER_FAULT(DuplicateDevice, {"duplicate_device", "two NCCL ranks mapped to the same GPU",
                                    "framework / environment", {}, {"cuda"}, /*ranks=*/2});
}  // namespace tw
