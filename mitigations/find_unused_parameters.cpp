// DistributedDataParallel(find_unused_parameters=True): after each forward the Reducer walks the
// autograd graph from the loss and marks the parameters it did not reach as ready, so a bucket
// with unused parameters still completes (their gradient is the other ranks' average).
#include "backend/registry.h"

namespace tw {
namespace {
struct FindUnusedParameters : Mitigation {
  void apply(Recipe& r, const nlohmann::json&) const override { r.dist.find_unused_parameters = true; }
};
}  // namespace
TW_REGISTER_MITIGATION(FindUnusedParameters, {"find_unused_parameters", "DDP finds parameters the loss did not use",
                                              "framework / environment", {}, {}});
}  // namespace tw
