// Weights stored as int8 with one fp32 scale per output row, dequantized layer by layer when serving.
#include "backend/registry.h"

namespace tw {
namespace {
struct Int8WeightQuantization : Mitigation {
  void apply(Recipe& r, const nlohmann::json&) const override { r.serving.format = ServingFormat::kInt8; }
};
}  // namespace
TW_REGISTER_MITIGATION(Int8WeightQuantization, {"int8_weight_quantization", "INT8 weight quantization", "model too complex", {}, {}});
}  // namespace tw
