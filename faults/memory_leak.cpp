// The loop keeps every step's monitoring loss as a tensor (its autograd graph with it), or
// appends activations to a growing list.
#include "kernel/registry.h"

namespace tw {
namespace {
struct MemoryLeak : Fault {
  void apply(Recipe& r, const nlohmann::json& p) const override {
    r.leak = param_str(p, "mode", "eval_loss_history");
    r.stop_at_target = false;  // the leak shows over the whole run
  }
};
}  // namespace
TW_REGISTER_FAULT(MemoryLeak, {"memory_leak", "keeps loss tensors (and their graphs) or activations alive", "code",
                               {{"mode", ParamSpec::Type::kString, 0, 0, false,
                                 {"eval_loss_history", "activation_history"}, "what is kept"}}});
}  // namespace tw
