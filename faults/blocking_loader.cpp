// The data source stops producing at a given step and the loop waits for its next batch with
// no deadline, the way a loader blocks on a queue whose workers died or stalled.
#include "kernel/registry.h"

namespace tw {
namespace {
struct BlockingLoader : Fault {
  void apply(Recipe& r, const nlohmann::json& p) const override {
    r.loader_stall_step = param_int(p, "stall_step", 20);
    r.loader_timeout_s = 0;
  }
};
}  // namespace
TW_REGISTER_FAULT(
    BlockingLoader,
    {"blocking_loader",
     "the data source stops producing and the loop waits forever",
     "data",
     {{"stall_step", ParamSpec::Type::kInteger, 1, 1 << 30, false, {}, "step whose batch never arrives"}}});
}  // namespace tw
