// Fewer parameters: a narrower model.
#include "backend/registry.h"

namespace tw {
namespace {
struct SmallerModel : Mitigation {
  void apply(Recipe& r, const nlohmann::json& p) const override { r.model.width = param_int(p, "width", 128); }
};
}  // namespace
TW_REGISTER_MITIGATION(SmallerModel, {"smaller_model", "a smaller model", "model too complex", {{"width", ParamSpec::Type::kInteger, 1, 65536, false, {}, "hidden width"}}, {}});
}  // namespace tw
