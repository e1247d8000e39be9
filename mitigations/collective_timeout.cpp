// A short collective timeout: a rank whose peers never send matching data stops with the
// collective it was in, instead of waiting out the default (10 min for NCCL). On NCCL this is
// ProcessGroupNCCL::Options::timeout with TORCH_NCCL_ASYNC_ERROR_HANDLING, on the store
// transport the store's wait timeout.
#include "kernel/registry.h"

namespace tw {
namespace {
struct CollectiveTimeoutMitigation : Mitigation {
  void apply(Recipe& r, const nlohmann::json& p) const override { r.collective_timeout_s = param(p, "seconds", 3.0); }
};
}  // namespace
TW_REGISTER_MITIGATION(CollectiveTimeoutMitigation, {"collective_timeout", "a short collective timeout",
                                                     "framework / environment",
                                                     {{"seconds", ParamSpec::Type::kNumber, 0, 1e6, true, {},
                                                       "timeout in seconds"}},
                                                     {}});
}  // namespace tw
