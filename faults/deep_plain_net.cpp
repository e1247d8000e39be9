// A thousand Linear layers with a saturating activation, no normalization, no skips:
// gradients vanish long before they reach the first layers.
#include "backend/registry.h"

namespace tw {
namespace {
struct DeepPlainNet : Fault {
  void apply(Recipe& r, const nlohmann::json& p) const override {
    r.model.depth = param_int(p, "depth", 1000);
    r.model.activation = parse_choice<Activation>(param_str(p, "activation", "sigmoid"));
    r.model.norm = Norm::kNone;
    r.model.residual = false;
  }
};
}  // namespace
TW_REGISTER_FAULT(DeepPlainNet, {"deep_plain_net", "1000 Linear+sigmoid layers: vanishing gradients",
                                 "model too complex",
                                 {{"depth", ParamSpec::Type::kInteger, 2, 10000, false, {}, "Linear layers"},
                                  {"activation", ParamSpec::Type::kString, 0, 0, false, {"sigmoid", "tanh", "relu"},
                                   "activation (sigmoid and tanh saturate; relu does not, and still fails deep and plain)"}}});
}  // namespace tw
