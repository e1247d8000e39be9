// Monitoring passes run under NoGradGuard: no graph is built.
#include "backend/registry.h"

namespace tw {
namespace {
struct NoGradEval : Mitigation {
  void apply(Recipe& r, const nlohmann::json&) const override { r.loop.no_grad_eval = true; }
};
}  // namespace
TW_REGISTER_MITIGATION(NoGradEval, {"no_grad_eval", "no_grad for evaluation", "code", {}, {}});
}  // namespace tw
