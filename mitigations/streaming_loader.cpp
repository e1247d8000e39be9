// Batch-wise loading: each batch is produced when the loop asks for it, so memory holds one
// batch instead of the dataset (preprocessing statistics come from a bounded sample).
#include "backend/registry.h"

namespace tw {
namespace {
struct StreamingLoader : Mitigation {
  void apply(Recipe& r, const nlohmann::json&) const override { r.data.data_source = DataSource::kStreaming; }
};
}  // namespace
TW_REGISTER_MITIGATION(StreamingLoader,
                       {"streaming_loader", "batch-wise loading instead of the whole dataset", "data", {}, {}});
}  // namespace tw
