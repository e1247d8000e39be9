// Sweeps the LR exponentially on the initial model, picks the one at the lowest loss / 10, then trains.
#include "backend/registry.h"

namespace tw {
namespace {
struct LrRangeTest : Mitigation {
  void apply(Recipe& r, const nlohmann::json&) const override { r.checks.lr_range_test = true; }
};
}  // namespace
TW_REGISTER_MITIGATION(LrRangeTest, {"lr_range_test", "LR range test", "hyper-parameters", {}, {}});
}  // namespace tw
