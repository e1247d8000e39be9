// Min-max scaling of every feature to [low, 1] with the training data's extremes: [0, 1] (the
// textbook default) or [-1, 1] (centred, as inputs to a network are usually scaled).
#include "backend/registry.h"

namespace tw {
namespace {
struct MinmaxScale : Mitigation {
  void apply(Recipe& r, const nlohmann::json& p) const override {
    r.data.input_transform = InputTransform::kMinmax;
    r.data.minmax_low = param(p, "low", 0.0);
  }
};
}  // namespace
TW_REGISTER_MITIGATION(MinmaxScale, {"minmax_scale", "min-max scaling to [low, 1]", "data",
                                     {{"low", ParamSpec::Type::kNumber, -1, 0, false, {}, "lower end: 0 or -1"}}, {}});
}  // namespace tw
