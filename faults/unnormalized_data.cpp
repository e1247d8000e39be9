// Raw features on scales around 1e3 with offsets, fed to the healthy recipe.
#include "backend/registry.h"

namespace tw {
namespace {
struct UnnormalizedData : Fault {
  void apply(Recipe& r, const nlohmann::json& p) const override {
    r.data.input_scale = param(p, "scale", 1000.0);
    r.data.input_offset = param(p, "offset", 500.0);
    r.data.input_transform = InputTransform::kNone;
  }
};
}  // namespace
TW_REGISTER_FAULT(UnnormalizedData,
                  {"unnormalized_data", "raw features on scales around 1e3 with offsets", "data",
                   {{"scale", ParamSpec::Type::kNumber, 0, 1e9, true, {}, "typical feature scale"},
                    {"offset", ParamSpec::Type::kNumber, -1e9, 1e9, false, {}, "typical feature offset"}}});
}  // namespace tw
