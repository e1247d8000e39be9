// Checks custom autograd functions against finite differences before training.
#include "backend/registry.h"

namespace tw {
namespace {
struct Gradcheck : Mitigation {
  void apply(Recipe& r, const nlohmann::json&) const override { r.checks.gradcheck = true; }
};
}  // namespace
TW_REGISTER_MITIGATION(Gradcheck, {"gradcheck", "gradcheck", "code", {}, {}});
}  // namespace tw
