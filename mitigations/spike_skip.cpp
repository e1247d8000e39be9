// Skips an update whose gradient norm is far above the recent ones, as large-model training skips
// spikes: the step's gradients are zeroed before the optimizer's step, and the skipped steps are
// counted in the evidence. A loop hook; it runs after the fault's hooks of the same point.
#include <algorithm>
#include <cmath>
#include <deque>
#include <vector>

#include "backend/loop_hooks.h"
#include "backend/model.h"
#include "backend/registry.h"

namespace tw {
namespace {

class SkipSpikes : public LoopHook {
 public:
  explicit SkipSpikes(double factor) : factor_(factor) {}
  void before_update(const LoopView& v) override {
    torch::NoGradGuard no_grad;
    std::vector<at::Tensor> norms;
    for (const auto& p : v.net.parameters())
      if (p.grad().defined()) norms.push_back(p.grad().norm());
    if (norms.empty()) return;
    const double norm = at::stack(norms).norm().item<double>();
    if (recent_.size() >= kWarmup && !(norm <= factor_ * median())) {
      for (const auto& p : v.net.parameters())
        if (p.grad().defined()) p.grad().zero_();
      ++skipped_;
      return;
    }
    recent_.push_back(norm);
    if (recent_.size() > kWindow) recent_.pop_front();
  }
  void at_end(const LoopView&, nlohmann::json& evidence) override { evidence["spike_skip_skipped_steps"] = skipped_; }

 private:
  static constexpr std::size_t kWarmup = 5;   // steps seen before any is skipped
  static constexpr std::size_t kWindow = 20;  // the recent steps the median is taken over
  double median() const {
    std::vector<double> v(recent_.begin(), recent_.end());
    std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(v.size() / 2), v.end());
    return v[v.size() / 2];
  }
  double factor_;
  std::deque<double> recent_;
  int64_t skipped_ = 0;
};

struct SpikeSkip : Mitigation {
  void apply(Recipe& r, const nlohmann::json& p) const override {
    r.hooks.push_back(std::make_shared<SkipSpikes>(param(p, "factor", 100.0)));
  }
};
}  // namespace
TW_REGISTER_MITIGATION(SpikeSkip, {"spike_skip", "skip an update whose gradient norm is 100x the recent median",
                                   "hardware",
                                   {{"factor", ParamSpec::Type::kNumber, 1, 1e12, false, {}, "how far above the median"}},
                                   {}});
}  // namespace tw
