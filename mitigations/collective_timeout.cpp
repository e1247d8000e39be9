// A short collective timeout: a rank whose peers never send matching data stops with the
// collective it was in, instead of waiting out the default (10 min for NCCL, 30 min for Gloo).
// It is the process group's timeout (ProcessGroupGloo::Options::timeout, and on NCCL
// ProcessGroupNCCL::Options::timeout with TORCH_NCCL_BLOCKING_WAIT).
#include "backend/registry.h"

namespace tw {
namespace {
struct CollectiveTimeoutMitigation : Mitigation {
  void apply(Recipe& r, const nlohmann::json& p) const override {
    r.dist.collective_timeout_s = param(p, "seconds", 3.0);
  }
};
}  // namespace
TW_REGISTER_MITIGATION(CollectiveTimeoutMitigation, {"collective_timeout", "a short collective timeout",
                                                     "framework / environment",
                                                     {{"seconds", ParamSpec::Type::kNumber, 0, 1e6, true, {},
                                                       "timeout in seconds"}},
                                                     {}});
}  // namespace tw
