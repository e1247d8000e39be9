// Compares the inputs' dtype with the model's before the forward pass and stops with both named.
#include "backend/registry.h"

namespace tw {
namespace {
struct DtypeCheck : Mitigation {
  void apply(Recipe& r, const nlohmann::json&) const override { r.checks.dtype_check = true; }
};
}  // namespace
TW_REGISTER_MITIGATION(DtypeCheck,
                       {"dtype_check", "fail fast on an input dtype that is not the model's", "data", {}, {}});
}  // namespace tw
