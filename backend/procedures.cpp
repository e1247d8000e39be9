#include "backend/procedures.h"

#include <c10/util/Exception.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "backend/errors.h"
#include "backend/memory.h"
#include "backend/trainer.h"

namespace tw {
using nlohmann::json;

// The largest batch whose forward and backward fit: halving from the recipe's batch, then
// bisection; a quarter is left for optimizer state, evaluation and fragmentation, so the run does
// not sit at the edge of the budget.
int64_t find_batch_size(Net& net, const Dataset& data, const Recipe& r, c10::Device device, json& trials) {
  auto fits = [&](int64_t b) {
    bool ok = true;
    try {
      auto [x, y] = data.batch(1, b);
      if (r.data.cast_inputs) x = x.to(at::kFloat);
      workload_loss(r, net->forward(x), y).backward();
    } catch (const c10::Error& e) {
      if (!is_out_of_memory(e)) throw;
      ok = false;
    } catch (const std::runtime_error& e) {
      if (!from_torchscript(e) || !is_out_of_memory(e)) throw;
      ok = false;
    }
    net->zero_grad(/*set_to_none=*/true);
    if (device.is_cuda()) empty_cuda_cache();
    trials.push_back({{"batch", b}, {"fits", ok}});
    return ok;
  };
  int64_t good = r.data.batch_size;
  if (fits(good)) return good;
  int64_t bad = good;
  do {
    bad = good;
    good /= 2;
  } while (good >= 1 && !fits(good));
  if (good < 1) return 0;
  for (int i = 0; i < 6 && bad - good > 1; ++i) {
    const int64_t mid = good + (bad - good) / 2;
    if (fits(mid)) good = mid;
    else bad = mid;
  }
  return std::max<int64_t>(1, good * 3 / 4);
}

// Leslie Smith's LR range test on the model as initialized: the LR grows exponentially from
// 1e-6 to 10 over at most 100 steps until the loss blows up; the LR at the lowest smoothed
// loss, divided by 10, is the one to train with. The weights are restored afterwards.
double lr_range_test(Net& net, const Dataset& data, const Recipe& r, json& evidence) {
  std::vector<at::Tensor> snapshot;
  for (const auto& p : net->parameters()) snapshot.push_back(p.detach().clone());
  auto optimizer = make_optimizer(r, net);
  constexpr int kSteps = 100;
  constexpr double kMin = 1e-6, kMax = 10.0;
  double smoothed = 0, best = INFINITY, best_lr = kMin;
  int tried = 0;
  for (int i = 0; i < kSteps; ++i, ++tried) {
    const double lr = kMin * std::pow(kMax / kMin, static_cast<double>(i) / (kSteps - 1));
    for (auto& group : optimizer->param_groups()) group.options().set_lr(lr);
    optimizer->zero_grad();
    auto [x, y] = data.batch(i + 1, r.data.batch_size);
    if (r.data.cast_inputs) x = x.to(at::kFloat);
    at::Tensor loss = workload_loss(r, net->forward(x), y);
    const double value = loss.item<double>();
    if (!std::isfinite(value)) break;
    smoothed = i == 0 ? value : 0.8 * smoothed + 0.2 * value;
    if (smoothed < best) {
      best = smoothed;
      best_lr = lr;
    }
    if (smoothed > 4 * best) break;
    loss.backward();
    optimizer->step();
  }
  {
    torch::NoGradGuard no_grad;
    auto params = net->parameters();
    for (std::size_t i = 0; i < params.size(); ++i) params[i].copy_(snapshot[i]);
  }
  const double chosen = best_lr / 10;
  evidence["lr_range_test_lr"] = chosen;
  evidence["lr_range_test_steps"] = tried;
  return chosen;
}

}  // namespace tw
