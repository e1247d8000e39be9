// Linear warm-up to the peak LR, then cosine decay.
#include "backend/registry.h"

namespace tw {
namespace {
struct WarmupCosine : Mitigation {
  void apply(Recipe& r, const nlohmann::json& p) const override {
    r.optim.schedule = Schedule::kWarmupCosine;
    r.optim.warmup_steps = param_int(p, "warmup_steps", 50);
    r.optim.lr = param(p, "peak_lr", r.optim.lr);
  }
};
}  // namespace
TW_REGISTER_MITIGATION(WarmupCosine, {"warmup_cosine", "warm-up + cosine LR schedule", "hyper-parameters", {{"warmup_steps", ParamSpec::Type::kInteger, 0, 1073741824, false, {}, "warm-up steps"}, {"peak_lr", ParamSpec::Type::kNumber, 0, 1000000.0, true, {}, "peak LR (default: the recipe's)"}}, {}});
}  // namespace tw
