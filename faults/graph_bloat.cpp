// A running state carried from step to step without a detach: each step's graph reaches back
// into the previous one, and the second backward runs into freed buffers. Its remedy
// (detach_state) cuts the state's graph after every backward, as truncated BPTT does.
#include "backend/loop_hooks.h"
#include "backend/model.h"
#include "backend/registry.h"

namespace tw {
namespace {

// A running summary of the hidden activations, penalized lightly in every loss.
class CarriedState : public LoopHook {
 public:
  at::Tensor after_forward(const LoopView& v, const at::Tensor& x, at::Tensor loss) override {
    at::Tensor summary = v.net.first_activation(x).mean(0);
    carried_ = carried_.defined() ? 0.5 * carried_ + summary : summary;
    return loss + 1e-3 * carried_.pow(2).mean();
  }
  void after_backward(const LoopView& v) override {
    if (v.recipe.loop.detach_state) carried_ = carried_.detach();
  }

 private:
  at::Tensor carried_;
};

struct GraphBloat : Fault {
  void apply(Recipe& r, const nlohmann::json&) const override {
    r.loop.carry_state = true;
    r.loop.detach_state = false;
    r.hooks.push_back(std::make_shared<CarriedState>());
  }
};
}  // namespace
TW_REGISTER_FAULT(GraphBloat, {"graph_bloat", "a carried state keeps growing the autograd graph across steps",
                               "model too complex", {}});
}  // namespace tw
