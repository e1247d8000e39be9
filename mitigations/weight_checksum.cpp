// Checksums every weight after each optimizer step and verifies them after the next backward:
// any change the optimizer did not make (a flipped bit) stops the run, naming the parameter.
#include <sstream>

#include "backend/registry.h"
#include "backend/torch_includes.h"
#include "trainwreck/guards.h"

namespace tw {
namespace {

class WeightChecksumGuard : public trainwreck::Guard {
 public:
  std::string name() const override { return "weight_checksum"; }
  trainwreck::GuardReport after_backward(const trainwreck::StepContext& ctx) override {
    trainwreck::GuardReport r;
    r.guard = name();
    if (!sums_.defined()) return r;
    const auto named = ctx.model.named_parameters();
    at::Tensor now = checksums(ctx.model);
    at::Tensor differs = now.ne(sums_).cpu();
    for (int64_t i = 0; i < differs.numel(); ++i) {
      if (!differs[i].item<bool>()) continue;
      r.action = trainwreck::GuardReport::Action::kStop;
      r.step = r.symptom_step = ctx.step;
      std::ostringstream msg;
      msg << "parameter " << named[static_cast<std::size_t>(i)].key() << " changed outside the optimizer between steps "
          << ctx.step - 1 << " and " << ctx.step << " (checksum mismatch)";
      r.message = msg.str();
      return r;
    }
    return r;
  }
  trainwreck::GuardReport after_step(const trainwreck::StepContext& ctx) override {
    sums_ = checksums(ctx.model);
    return {};
  }

 private:
  // An exact checksum per parameter: the sum of its bytes read as int32 (wraps, never rounds).
  static at::Tensor checksums(torch::nn::Module& model) {
    std::vector<at::Tensor> sums;
    for (const auto& p : model.parameters())
      sums.push_back(p.detach().contiguous().view(at::kInt).to(at::kLong).sum());
    return at::stack(sums);
  }
  at::Tensor sums_;
};

struct WeightChecksum : Mitigation {
  void apply(Recipe& r, const nlohmann::json&) const override {
    r.guards.push_back(std::make_shared<WeightChecksumGuard>());
  }
};

}  // namespace
TW_REGISTER_MITIGATION(WeightChecksum, {"weight_checksum", "weight checksums between steps", "hardware", {}, {}});
}  // namespace tw
