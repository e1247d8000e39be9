#include "trainwreck/guards.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>
#include <unistd.h>

namespace trainwreck {
using nlohmann::json;

namespace {

struct NamedGrads {
  std::vector<std::string> names;
  std::vector<at::Tensor> grads;  // undefined where the parameter got no gradient
};

NamedGrads collect(torch::nn::Module& model) {
  NamedGrads out;
  for (const auto& item : model.named_parameters()) {
    if (!item.value().requires_grad()) continue;
    out.names.push_back(item.key());
    out.grads.push_back(item.value().grad());
  }
  return out;
}

double median_slope(const std::vector<std::pair<int64_t, int64_t>>& s) {
  std::vector<double> slopes;
  for (std::size_t i = 0; i < s.size(); ++i)
    for (std::size_t j = i + 1; j < s.size(); ++j)
      if (s[j].first != s[i].first)
        slopes.push_back(static_cast<double>(s[j].second - s[i].second) / static_cast<double>(s[j].first - s[i].first));
  if (slopes.empty()) return 0;
  std::nth_element(slopes.begin(), slopes.begin() + static_cast<std::ptrdiff_t>(slopes.size() / 2), slopes.end());
  return slopes[slopes.size() / 2];
}

}  // namespace

int64_t resident_memory_bytes() {
  std::ifstream in("/proc/self/statm");
  long long pages_total = 0, pages_resident = 0;
  in >> pages_total >> pages_resident;
  return static_cast<int64_t>(pages_resident) * sysconf(_SC_PAGESIZE);
}

NonFiniteGuard::NonFiniteGuard(Policy policy, double rollback_lr_factor)
    : policy_(policy), lr_factor_(rollback_lr_factor) {}

GuardReport NonFiniteGuard::check(bool finite, int64_t symptom_step, const StepContext& ctx) {
  GuardReport r;
  r.guard = name();
  if (finite) {
    if (policy_ == Policy::kRollback) {
      // Remember the weights that produced a finite step.
      std::vector<at::Tensor> params = ctx.model.parameters();
      if (good_weights_.size() != params.size()) {
        good_weights_.clear();
        for (auto& p : params) good_weights_.push_back(p.detach().clone());
      } else {
        for (std::size_t i = 0; i < params.size(); ++i) good_weights_[i].copy_(params[i].detach());
      }
    }
    return r;
  }
  r.step = ctx.step;
  r.symptom_step = symptom_step;
  std::ostringstream msg;
  msg << "non-finite loss or gradient at step " << symptom_step;
  switch (policy_) {
    case Policy::kStop:
      r.action = GuardReport::Action::kStop;
      msg << "; stopped";
      break;
    case Policy::kSkipStep:
      r.action = GuardReport::Action::kSkipStep;
      msg << "; step skipped";
      break;
    case Policy::kRollback: {
      r.action = GuardReport::Action::kSkipStep;
      if (!good_weights_.empty()) {
        at::NoGradGuard no_grad;
        std::vector<at::Tensor> params = ctx.model.parameters();
        for (std::size_t i = 0; i < params.size() && i < good_weights_.size(); ++i) params[i].copy_(good_weights_[i]);
      }
      if (ctx.optimizer) {
        ctx.optimizer->state().clear();  // momentum built on the bad steps goes too
        for (auto& group : ctx.optimizer->param_groups()) group.options().set_lr(group.options().get_lr() * lr_factor_);
      }
      ++rollbacks_;
      msg << "; rolled back to the last good weights and lowered the LR by " << lr_factor_;
      break;
    }
  }
  r.message = msg.str();
  return r;
}

GuardReport NonFiniteGuard::after_backward(const StepContext& ctx) {
  std::vector<at::Tensor> grads;
  for (auto& p : ctx.model.parameters())
    if (p.grad().defined()) grads.push_back(p.grad());
  // One fused reduction: the sum of squared norms is finite iff every element is.
  at::Tensor total = ctx.loss.detach().to(at::kFloat).reshape({1});
  if (!grads.empty()) total = total + at::stack(at::_foreach_norm(grads)).to(at::kFloat).sum();
  at::Tensor flag = total.isfinite().all();
  if (!flag.is_cuda()) return check(flag.item<bool>(), ctx.step, ctx);

  // CUDA: read the previous step's flag (its copy has long finished), queue this one.
  GuardReport r;
  r.guard = name();
  if (pending_.defined()) r = check(pending_.item<bool>(), pending_step_, ctx);
  if (!pending_.defined()) pending_ = at::empty({}, at::TensorOptions().dtype(at::kBool).pinned_memory(true));
  pending_.copy_(flag, /*non_blocking=*/true);
  pending_step_ = ctx.step;
  return r;
}

GuardReport NonFiniteGuard::after_step(const StepContext&) { return {}; }

GradientFlowMonitor::GradientFlowMonitor(int64_t every, double vanishing, bool stop)
    : every_(std::max<int64_t>(1, every)), vanishing_(vanishing), stop_(stop) {}

GuardReport GradientFlowMonitor::after_backward(const StepContext& ctx) {
  GuardReport r;
  r.guard = name();
  if (ctx.step != 1 && ctx.step % every_ != 0) return r;
  NamedGrads g = collect(ctx.model);
  std::vector<at::Tensor> defined;
  for (auto& t : g.grads)
    if (t.defined()) defined.push_back(t);
  if (defined.empty()) return r;
  at::Tensor norms = at::stack(at::_foreach_norm(defined)).to(at::kDouble).cpu();  // the one sync
  const double* n = norms.data_ptr<double>();
  std::vector<double> per(g.grads.size(), 0.0);
  for (std::size_t i = 0, k = 0; i < g.grads.size(); ++i) per[i] = g.grads[i].defined() ? n[k++] : 0.0;
  last_ = json::object();
  for (std::size_t i = 0; i < per.size(); ++i) last_[g.names[i]] = per[i];
  // Weights only: biases of dead layers can keep a gradient of their own.
  std::vector<std::size_t> weights;
  for (std::size_t i = 0; i < g.names.size(); ++i)
    if (g.names[i].size() >= 6 && g.names[i].compare(g.names[i].size() - 6, 6, "weight") == 0) weights.push_back(i);
  if (weights.size() < 2) return r;
  const double last = per[weights.back()];
  std::vector<std::string> vanished;
  for (std::size_t k = 0; k + 1 < weights.size(); ++k) {
    if (per[weights[k]] < vanishing_) vanished.push_back(g.names[weights[k]]);
    else break;  // the vanishing prefix: the first layers, counted from the input
  }
  if (!vanished.empty() && last >= vanishing_) {
    r.step = ctx.step;
    r.symptom_step = ctx.step;
    r.action = stop_ ? GuardReport::Action::kStop : GuardReport::Action::kContinue;
    std::ostringstream msg;
    msg << vanished.size() << " of " << weights.size() << " layers have vanishing gradients (norm < " << vanishing_
        << ", last layer " << last << "): " << vanished.front();
    if (vanished.size() > 1) msg << " ... " << vanished.back();
    r.message = msg.str();
    r.details = {{"vanished_layers", vanished.size()},
                 {"first_layer_grad", per[weights.front()]},
                 {"last_layer_grad", last},
                 {"first_vanished", vanished.front()},
                 {"last_vanished", vanished.back()}};
  }
  return r;
}

GuardReport GradientFlowAudit::after_backward(const StepContext& ctx) {
  GuardReport r;
  r.guard = name();
  if (done_) return r;
  done_ = true;
  NamedGrads g = collect(ctx.model);
  std::vector<std::string> missing;
  std::vector<at::Tensor> defined;
  std::vector<std::string> defined_names;
  for (std::size_t i = 0; i < g.grads.size(); ++i) {
    if (!g.grads[i].defined()) missing.push_back(g.names[i]);
    else {
      defined.push_back(g.grads[i]);
      defined_names.push_back(g.names[i]);
    }
  }
  if (!defined.empty()) {
    at::Tensor norms = at::stack(at::_foreach_norm(defined)).to(at::kDouble).cpu();
    for (std::size_t i = 0; i < defined.size(); ++i)
      if (norms.data_ptr<double>()[i] == 0.0) missing.push_back(defined_names[i]);
  }
  if (missing.empty()) return r;
  r.action = GuardReport::Action::kStop;
  r.step = r.symptom_step = ctx.step;
  std::ostringstream msg;
  msg << missing.size() << " of " << g.names.size() << " trainable parameters received no gradient: ";
  for (std::size_t i = 0; i < missing.size() && i < 6; ++i) msg << (i ? ", " : "") << missing[i];
  if (missing.size() > 6) msg << ", ...";
  r.message = msg.str();
  r.details = {{"parameters_without_gradient", missing}};
  return r;
}

LeakGuard::LeakGuard(int64_t window, double bytes_per_step, std::function<int64_t()> memory_bytes)
    : window_(std::max<int64_t>(4, window)), threshold_(bytes_per_step), memory_(std::move(memory_bytes)) {
  if (!memory_) memory_ = [] { return resident_memory_bytes(); };
}

GuardReport LeakGuard::after_step(const StepContext& ctx) {
  GuardReport r;
  r.guard = name();
  samples_.emplace_back(ctx.step, memory_());
  if (static_cast<int64_t>(samples_.size()) > window_) samples_.erase(samples_.begin());
  if (static_cast<int64_t>(samples_.size()) < window_) return r;
  const double slope = median_slope(samples_);
  if (slope < threshold_) return r;
  r.action = GuardReport::Action::kStop;
  r.step = ctx.step;
  r.symptom_step = samples_.front().first;
  std::ostringstream msg;
  msg << "memory grows by " << slope / (1 << 20) << " MiB per step over the last " << window_
      << " steps (threshold " << threshold_ / (1 << 20) << " MiB/step)";
  r.message = msg.str();
  r.details = {{"growth_bytes_per_step", slope}, {"window", window_}, {"memory_bytes", samples_.back().second}};
  return r;
}

StallDetector::StallDetector(int64_t window, double min_relative)
    : window_(std::max<int64_t>(2, window)), min_relative_(min_relative) {}

GuardReport StallDetector::after_eval(int64_t step, double eval_loss) {
  GuardReport r;
  r.guard = name();
  history_.push_back(eval_loss);
  if (static_cast<int64_t>(history_.size()) <= window_) return r;
  const double before = history_[history_.size() - 1 - static_cast<std::size_t>(window_)];
  const double best = *std::min_element(history_.end() - window_, history_.end());
  if (std::isfinite(before) && best > before * (1 - min_relative_)) {
    r.action = GuardReport::Action::kStop;
    r.step = step;
    r.symptom_step = step;
    std::ostringstream msg;
    msg << "evaluation loss has not improved by " << min_relative_ * 100 << "% over " << window_
        << " evaluations (from " << before << " to best " << best << ")";
    r.message = msg.str();
  }
  return r;
}

template <typename F>
GuardReport GuardSet::each(F&& f) {
  GuardReport out;
  for (auto& g : guards_) {
    GuardReport r = f(*g);
    if (r.action != GuardReport::Action::kContinue || !r.message.empty()) history_.push_back(r);
    if (r.action == GuardReport::Action::kStop) return r;
    if (r.action == GuardReport::Action::kSkipStep) out = r;
  }
  return out;
}

GuardReport GuardSet::after_backward(const StepContext& ctx) {
  return each([&](Guard& g) { return g.after_backward(ctx); });
}
GuardReport GuardSet::after_step(const StepContext& ctx) {
  return each([&](Guard& g) { return g.after_step(ctx); });
}
GuardReport GuardSet::after_eval(int64_t step, double eval_loss) {
  return each([&](Guard& g) { return g.after_eval(step, eval_loss); });
}

}  // namespace trainwreck
