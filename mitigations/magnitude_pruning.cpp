// The smallest weights (by magnitude) set to zero and stored sparse.
#include "kernel/registry.h"

namespace tw {
namespace {
struct MagnitudePruning : Mitigation {
  void apply(Recipe& r, const nlohmann::json& p) const override {
    r.serving_format = ServingFormat::kPruned;
    r.prune_fraction = param(p, "fraction", 0.9);
  }
};
}  // namespace
TW_REGISTER_MITIGATION(MagnitudePruning, {"magnitude_pruning", "magnitude pruning", "model too complex", {{"fraction", ParamSpec::Type::kNumber, 0, 1, false, {}, "share of weights pruned"}}, {}});
}  // namespace tw
