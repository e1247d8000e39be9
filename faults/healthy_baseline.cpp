// No fault: the healthy recipe, the control row every other row is read against.
#include "backend/registry.h"

namespace tw {
namespace {
struct HealthyBaseline : Fault {};
}  // namespace
TW_REGISTER_FAULT(HealthyBaseline, {"healthy_baseline", "the healthy recipe, unchanged (control)", "control", {}});
}  // namespace tw
