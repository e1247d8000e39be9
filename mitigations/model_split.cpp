// The article's remedy for a model that does not fit one device: split it across two (model
// parallelism). Each rank holds half of the layers, for training and for serving; activations
// and their gradients pass between the ranks with c10d send/recv (backend/model_split.h).
#include "backend/registry.h"

namespace tw {
namespace {
struct ModelSplit : Mitigation {
  void apply(Recipe& r, const nlohmann::json&) const override { r.dist.model_split = true; }
};
}  // namespace
TW_REGISTER_MITIGATION(ModelSplit, {"model_split", "half of the layers on each of two ranks",
                                    "model too complex", {}, {"gpu_per_rank"}, /*ranks=*/2});
}  // namespace tw
