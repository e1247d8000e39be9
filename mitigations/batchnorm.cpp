// BatchNorm after every hidden Linear.
#include "backend/registry.h"

namespace tw {
namespace {
struct Batchnorm : Mitigation {
  void apply(Recipe& r, const nlohmann::json&) const override { r.model.norm = Norm::kBatchNorm; }
};
}  // namespace
TW_REGISTER_MITIGATION(Batchnorm, {"batchnorm", "BatchNorm", "FAQ", {}, {}});
}  // namespace tw
