// A batch whose activations do not fit the cell's memory budget.
#include "backend/registry.h"

namespace tw {
namespace {
struct OversizedBatch : Fault {
  void apply(Recipe& r, const nlohmann::json& p) const override {
    r.data.batch_size = param_int(p, "batch_size", 65536);
  }
};
}  // namespace
TW_REGISTER_FAULT(OversizedBatch, {"oversized_batch", "a batch too large for the memory budget", "hyper-parameters",
                                   {{"batch_size", ParamSpec::Type::kInteger, 1, 1 << 24, false, {}, "the batch"}}});
}  // namespace tw
