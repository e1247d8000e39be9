// A two-branch model whose second branch is detached before the merge: its parameters never
// receive a gradient, and the half of the signal it sees is never learned.
#include "backend/registry.h"

namespace tw {
namespace {
struct DetachedBranch : Fault {
  void apply(Recipe& r, const nlohmann::json&) const override {
    r.model.kind = ModelKind::kTwoBranch;
    r.model.detach_branch = true;
  }
};
}  // namespace
TW_REGISTER_FAULT(DetachedBranch, {"detached_branch", "one branch detached before the merge", "code", {}});
}  // namespace tw
