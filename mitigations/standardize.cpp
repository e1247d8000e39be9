// Standardize features to mean 0, variance 1 with statistics of the training data.
#include "backend/registry.h"

namespace tw {
namespace {
struct Standardize : Mitigation {
  void apply(Recipe& r, const nlohmann::json&) const override { r.data.input_transform = InputTransform::kStandardize; }
};
}  // namespace
TW_REGISTER_MITIGATION(Standardize, {"standardize", "standardization (mean 0, variance 1)", "data", {}, {}});
}  // namespace tw
