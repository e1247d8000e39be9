// The whole training set is materialized at once, beyond the cell's memory budget: the run
// fails while building the dataset, before the first step.
#include "backend/registry.h"

namespace tw {
namespace {
struct WholeDatasetInMemory : Fault {
  void apply(Recipe& r, const nlohmann::json& p) const override {
    r.data.dataset_size = param_int(p, "examples", int64_t{1} << 24);
    r.data.data_source = DataSource::kMemory;
  }
};
}  // namespace
TW_REGISTER_FAULT(WholeDatasetInMemory,
                  {"whole_dataset_in_memory",
                   "the whole dataset materialized in memory at once",
                   "data",
                   {{"examples", ParamSpec::Type::kInteger, 16, 1 << 26, false, {}, "training examples"}}});
}  // namespace tw
