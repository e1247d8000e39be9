// One step's gradient comes out a millionfold too large (a corrupted record, or a flipped exponent
// bit in a gradient reduction): no exception, just one update that throws the weights far off.
// Its loop hook scales the first layer's gradient at the chosen step, before the optimizer's.
#include "backend/loop_hooks.h"
#include "backend/model.h"
#include "backend/registry.h"

namespace tw {
namespace {

class SpikedGradient : public LoopHook {
 public:
  SpikedGradient(int64_t at_step, double factor) : at_step_(at_step), factor_(factor) {}
  void before_update(const LoopView& v) override {
    if (v.step != at_step_) return;
    torch::NoGradGuard no_grad;
    at::Tensor grad = first_and_last_weights(v.net).first.grad();
    if (grad.defined()) grad.mul_(factor_);
  }

 private:
  int64_t at_step_;
  double factor_;
};

struct GradientSpike : Fault {
  void apply(Recipe& r, const nlohmann::json& p) const override {
    r.hooks.push_back(std::make_shared<SpikedGradient>(param_int(p, "at_step", 30), param(p, "factor", 1e6)));
  }
};
}  // namespace
TW_REGISTER_FAULT(GradientSpike, {"gradient_spike", "one step's first-layer gradient is a millionfold too large",
                                  "hardware",
                                  {{"at_step", ParamSpec::Type::kInteger, 1, 1 << 30, false, {}, "step of the spike"},
                                   {"factor", ParamSpec::Type::kNumber, 0, 1e30, true, {}, "what the gradient is multiplied by"}}});
}  // namespace tw
