// Histories keep loss.item(), not the loss tensor and its graph.
#include "backend/registry.h"

namespace tw {
namespace {
struct ItemNotTensor : Mitigation {
  void apply(Recipe& r, const nlohmann::json&) const override { r.loop.keep_items_not_tensors = true; }
};
}  // namespace
TW_REGISTER_MITIGATION(ItemNotTensor, {"item_not_tensor", "store loss.item(), not the tensor", "code", {}, {}});
}  // namespace tw
