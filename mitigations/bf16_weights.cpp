// The weights served in bfloat16: half the bytes of fp32, with fp32's exponent range.
#include "backend/registry.h"

namespace tw {
namespace {
struct Bf16Weights : Mitigation {
  void apply(Recipe& r, const nlohmann::json&) const override { r.serving.format = ServingFormat::kBf16; }
};
}  // namespace
TW_REGISTER_MITIGATION(Bf16Weights, {"bf16_weights", "weights stored and served in bfloat16", "model too complex",
                                     {}, {}});
}  // namespace tw
