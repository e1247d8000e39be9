// Empties the CUDA caching allocator after every step (it frees cached blocks, not live tensors).
#include "backend/registry.h"

namespace tw {
namespace {
struct EmptyCache : Mitigation {
  void apply(Recipe& r, const nlohmann::json&) const override { r.loop.empty_cache = true; }
};
}  // namespace
TW_REGISTER_MITIGATION(EmptyCache, {"empty_cache", "empty_cache", "hardware", {}, {"cuda"}});
}  // namespace tw
