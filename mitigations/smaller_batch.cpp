// A batch that fits.
#include "backend/registry.h"

namespace tw {
namespace {
struct SmallerBatch : Mitigation {
  void apply(Recipe& r, const nlohmann::json& p) const override {
    r.data.batch_size = param_int(p, "batch_size", 1024);
  }
};
}  // namespace
TW_REGISTER_MITIGATION(SmallerBatch, {"smaller_batch", "a smaller batch", "hyper-parameters", {{"batch_size", ParamSpec::Type::kInteger, 1, 16777216, false, {}, "the batch"}}, {}});
}  // namespace tw
