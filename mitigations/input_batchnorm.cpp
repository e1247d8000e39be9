// A BatchNorm layer on the raw inputs learns the normalization.
#include "backend/registry.h"

namespace tw {
namespace {
struct InputBatchnorm : Mitigation {
  void apply(Recipe& r, const nlohmann::json&) const override { r.model.input_batchnorm = true; }
};
}  // namespace
TW_REGISTER_MITIGATION(InputBatchnorm, {"input_batchnorm", "BatchNorm on the inputs", "data", {}, {}});
}  // namespace tw
