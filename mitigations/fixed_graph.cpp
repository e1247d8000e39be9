// The branch is merged without the detach.
#include "backend/registry.h"

namespace tw {
namespace {
struct FixedGraph : Mitigation {
  void apply(Recipe& r, const nlohmann::json&) const override { r.model.detach_branch = false; }
};
}  // namespace
TW_REGISTER_MITIGATION(FixedGraph, {"fixed_graph", "the graph without the detach", "code", {}, {}});
}  // namespace tw
