// c10d's flight recorder (TORCH_FR_BUFFER_SIZE; on NCCL what TORCH_NCCL_DUMP_ON_TIMEOUT dumps): a
// ring buffer of every collective each rank issued, with its sequence number, op, sizes and
// state. When a rank stops, its dump is read back and summarized in the cell's evidence: the last
// collective that completed and the first that did not. It diagnoses, it does not stop anything:
// practitioners pair it with a collective timeout.
#include "backend/registry.h"

namespace tw {
namespace {
struct FlightRecorder : Mitigation {
  void apply(Recipe& r, const nlohmann::json&) const override { r.dist.flight_recorder = true; }
};
}  // namespace
TW_REGISTER_MITIGATION(FlightRecorder, {"flight_recorder", "c10d's flight recorder, summarized when a rank stops",
                                        "framework / environment", {}, {}});
}  // namespace tw
