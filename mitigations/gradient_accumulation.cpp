// The same effective batch in micro-batches, gradients accumulated.
#include "backend/registry.h"

namespace tw {
namespace {
struct GradientAccumulation : Mitigation {
  void apply(Recipe& r, const nlohmann::json& p) const override {
    r.optim.accumulation_steps = param_int(p, "micro_batches", 16);
  }
};
}  // namespace
TW_REGISTER_MITIGATION(GradientAccumulation, {"gradient_accumulation", "gradient accumulation", "hyper-parameters", {{"micro_batches", ParamSpec::Type::kInteger, 1, 4096, false, {}, "micro-batches per step"}}, {}});
}  // namespace tw
