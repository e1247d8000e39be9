// Casts every batch to the model's dtype (float32) before the forward pass.
#include "backend/registry.h"

namespace tw {
namespace {
struct CastInputs : Mitigation {
  void apply(Recipe& r, const nlohmann::json&) const override { r.data.cast_inputs = true; }
};
}  // namespace
TW_REGISTER_MITIGATION(CastInputs, {"cast_inputs", "cast the inputs to the model's dtype", "data", {}, {}});
}  // namespace tw
