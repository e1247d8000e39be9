// Min-max scaling of every feature to [0, 1] with training-data extremes.
#include "kernel/registry.h"

namespace tw {
namespace {
struct MinmaxScale : Mitigation {
  void apply(Recipe& r, const nlohmann::json&) const override {
    r.input_transform = "minmax";
  }
};
}  // namespace
TW_REGISTER_MITIGATION(MinmaxScale, {"minmax_scale", "min-max scaling to [0, 1]", "data", {}, {}});
}  // namespace tw
