// One exponent bit of one weight flips between two steps (a memory or transfer error no
// exception reports): the weight jumps by orders of magnitude and training goes wrong silently.
#include <cstring>

#include "backend/registry.h"
#include "backend/torch_includes.h"
#include "trainwreck/guards.h"

namespace tw {
namespace {

class BitFlipper : public trainwreck::Guard {
 public:
  BitFlipper(int64_t at_step, int bit) : at_step_(at_step), bit_(bit) {}
  std::string name() const override { return "silent_bit_flip"; }
  trainwreck::GuardReport after_backward(const trainwreck::StepContext& ctx) override {
    if (ctx.step != at_step_) return {};
    torch::NoGradGuard no_grad;
    at::Tensor w = ctx.model.parameters().front();
    at::Tensor element = w.view(-1).narrow(0, w.numel() / 2, 1);
    // XOR through an int32 view of the same bytes, on whatever device the weight lives.
    at::Tensor bits = element.view(at::kInt);
    bits.bitwise_xor_(static_cast<int64_t>(1) << bit_);
    return {};
  }

 private:
  int64_t at_step_;
  int bit_;
};

struct SilentBitFlip : Fault {
  void apply(Recipe& r, const nlohmann::json& p) const override {
    r.guards.insert(r.guards.begin(),
                    std::make_shared<BitFlipper>(param_int(p, "at_step", 30), static_cast<int>(param_int(p, "bit", 30))));
  }
};

}  // namespace
TW_REGISTER_FAULT(SilentBitFlip, {"silent_bit_flip", "one exponent bit of one weight flips mid-training", "hardware",
                                  {{"at_step", ParamSpec::Type::kInteger, 1, 1 << 30, false, {}, "step of the flip"},
                                   {"bit", ParamSpec::Type::kInteger, 0, 31, false, {}, "bit of the float32 (30: top exponent bit)"}}});
}  // namespace tw
