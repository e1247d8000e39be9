// A deadline on every batch: a source that produces nothing within it stops the run with the
// step it was waiting for, instead of leaving it blocked.
#include "backend/registry.h"

namespace tw {
namespace {
struct LoaderTimeout : Mitigation {
  void apply(Recipe& r, const nlohmann::json& p) const override { r.data.loader_timeout_s = param(p, "seconds", 2.0); }
};
}  // namespace
TW_REGISTER_MITIGATION(LoaderTimeout,
                       {"loader_timeout",
                        "deadline for each batch from the data source",
                        "data",
                        {{"seconds", ParamSpec::Type::kNumber, 0, 1e6, true, {}, "deadline for one batch"}},
                        {}});
}  // namespace tw
