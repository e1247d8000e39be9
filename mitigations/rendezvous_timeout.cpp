// A short rendezvous timeout: rank 0 stops waiting for ranks that never join and says which
// store it waited at and how many ranks arrived, instead of waiting out TCPStore's 300 s.
#include "backend/registry.h"

namespace tw {
namespace {
struct RendezvousTimeout : Mitigation {
  void apply(Recipe& r, const nlohmann::json& p) const override {
    r.dist.rendezvous_timeout_s = param(p, "seconds", 2.0);
  }
};
}  // namespace
TW_REGISTER_MITIGATION(RendezvousTimeout, {"rendezvous_timeout", "a short rendezvous (TCPStore) timeout",
                                           "framework / environment",
                                           {{"seconds", ParamSpec::Type::kNumber, 0, 1e6, true, {}, "timeout in seconds"}},
                                           {}});
}  // namespace tw
