// A running state carried from step to step without a detach: each step's graph reaches back
// into the previous one, and the second backward runs into freed buffers.
#include "kernel/registry.h"

namespace tw {
namespace {
struct GraphBloat : Fault {
  void apply(Recipe& r, const nlohmann::json&) const override {
    r.carry_state = true;
    r.detach_state = false;
  }
};
}  // namespace
TW_REGISTER_FAULT(GraphBloat, {"graph_bloat", "a carried state keeps growing the autograd graph across steps",
                               "model too complex", {}});
}  // namespace tw
