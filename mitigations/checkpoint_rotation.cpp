// Deleting old checkpoints: only the last k stay on disk, so the history's size is bounded by
// k checkpoints whatever the run's length.
#include "backend/registry.h"

namespace tw {
namespace {
struct CheckpointRotation : Mitigation {
  void apply(Recipe& r, const nlohmann::json& p) const override { r.loop.checkpoint_keep = param_int(p, "keep", 3); }
};
}  // namespace
TW_REGISTER_MITIGATION(CheckpointRotation,
                       {"checkpoint_rotation",
                        "keep only the last k checkpoints",
                        "hardware",
                        {{"keep", ParamSpec::Type::kInteger, 1, 1 << 20, false, {}, "checkpoints kept"}},
                        {}});
}  // namespace tw
