// Searches the largest batch that fits the budget (halving, then bisection), then trains with it.
#include "backend/registry.h"

namespace tw {
namespace {
struct AutoBatchSize : Mitigation {
  void apply(Recipe& r, const nlohmann::json&) const override { r.optim.auto_batch_size = true; }
};
}  // namespace
TW_REGISTER_MITIGATION(AutoBatchSize, {"auto_batch_size", "automatic batch-size finder", "hyper-parameters", {}, {}});
}  // namespace tw
