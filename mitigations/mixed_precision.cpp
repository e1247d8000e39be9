// Autocast: bf16 on the CPU; bf16 or fp16 on CUDA.
#include "backend/registry.h"

namespace tw {
namespace {
struct MixedPrecision : Mitigation {
  void apply(Recipe& r, const nlohmann::json& p) const override {
    r.optim.autocast = parse_choice<Autocast>(param_str(p, "dtype", "bf16"));
  }
};
}  // namespace
TW_REGISTER_MITIGATION(MixedPrecision, {"mixed_precision", "mixed precision (autocast)", "hardware", {{"dtype", ParamSpec::Type::kString, 0, 0, false, {"bf16", "fp16"}, "autocast dtype"}}, {}});
}  // namespace tw
