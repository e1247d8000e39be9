// Sizes the intra-op pool to this cell's share of the cores: usable cores divided by the cells
// that run at once (the runner's default is one cell per core, hence one thread).
#include <algorithm>

#include "backend/registry.h"
#include "backend/run_context.h"

namespace tw {
namespace {
struct SetNumThreads : Mitigation {
  void apply(Recipe& r, const nlohmann::json& p) const override {
    const int cores = usable_cores();
    const int64_t concurrent = param_int(p, "concurrent_cells", 0);
    r.loop.intra_op_threads = std::max<int64_t>(1, cores / (concurrent > 0 ? concurrent : cores));
  }
};
}  // namespace
TW_REGISTER_MITIGATION(SetNumThreads, {"set_num_threads",
                                       "intra-op threads = cores / cells running at once",
                                       "hardware",
                                       {{"concurrent_cells",
                                         ParamSpec::Type::kInteger,
                                         0,
                                         4096,
                                         false,
                                         {},
                                         "cells sharing the cores (0: one per core, the runner's default)"}},
                                       {}});
}  // namespace tw
