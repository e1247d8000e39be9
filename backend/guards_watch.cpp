// The guards that watch a run rather than stop a bad update: gradient flow (periodic and the
// first-step audit), memory growth, the loss against its first value, the evaluation plateau;
// and the set that runs them in order.
#include <ATen/core/grad_mode.h>
#include <ATen/ops/_foreach_norm.h>
#include <ATen/ops/stack.h>
#include <c10/util/Exception.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <sstream>

#include "harness/leak_rule.h"
#include "harness/slope.h"
#include "backend/guards_detail.h"
#include "trainwreck/guards.h"

namespace trainwreck {
using detail::device_allocated_bytes;
using detail::fused_norms;
using detail::Readback;
using detail::reads_late;
using nlohmann::json;

namespace {

bool ends_with(const std::string& s, const char* suffix) {
  const std::size_t n = std::strlen(suffix);
  return s.size() >= n && s.compare(s.size() - n, n, suffix) == 0;
}

}  // namespace

struct GradientFlowMonitor::State {
  Readback readback;
  at::Tensor norms;  // device buffer
  std::vector<std::string> pending_names;
  std::vector<int64_t> pending_index;  // position in pending_names of each norm; others had no gradient
};

GradientFlowMonitor::GradientFlowMonitor(int64_t every, double vanishing, bool stop)
    : every_(std::max<int64_t>(1, every)), vanishing_(vanishing), stop_(stop), state_(std::make_unique<State>()) {}

GradientFlowMonitor::~GradientFlowMonitor() = default;

GuardReport GradientFlowMonitor::evaluate(const std::vector<std::string>& names, const std::vector<double>& per,
                                          int64_t symptom_step, int64_t step) {
  GuardReport r;
  r.guard = name();
  last_ = json::object();
  for (std::size_t i = 0; i < per.size(); ++i) last_[names[i]] = per[i];
  // Weights only: biases of dead layers can keep a gradient of their own.
  std::vector<std::size_t> weights;
  for (std::size_t i = 0; i < names.size(); ++i)
    if (ends_with(names[i], "weight")) weights.push_back(i);
  if (weights.size() < 2) return r;
  const double last = per[weights.back()];
  std::vector<std::string> vanished;
  for (std::size_t k = 0; k + 1 < weights.size(); ++k) {
    if (per[weights[k]] < vanishing_) vanished.push_back(names[weights[k]]);
    else break;  // the vanishing prefix: the first layers, counted from the input
  }
  if (vanished.empty() || last < vanishing_) return r;
  r.step = step;
  r.symptom_step = symptom_step;
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
  return r;
}

GuardReport GradientFlowMonitor::read_pending(int64_t step) {
  State& s = *state_;
  if (!s.readback.pending()) return {};
  const int64_t symptom = s.readback.step();
  const at::Tensor& host = s.readback.take();
  const float* v = host.const_data_ptr<float>();
  std::vector<double> per(s.pending_names.size(), 0.0);
  for (std::size_t k = 0; k < s.pending_index.size(); ++k) per[static_cast<std::size_t>(s.pending_index[k])] = v[k];
  return evaluate(s.pending_names, per, symptom, step);
}

GuardReport GradientFlowMonitor::after_backward(const StepContext& ctx) {
  GuardReport r = read_pending(ctx.step);
  if (r.stop()) return r;
  if (ctx.step != 1 && ctx.step % every_ != 0) return r;
  State& s = *state_;
  std::vector<std::string> names;
  std::vector<at::Tensor> grads;
  std::vector<int64_t> index;
  for (const auto& item : ctx.model.named_parameters()) {
    if (!item.value().requires_grad()) continue;
    const at::Tensor& g = item.value().grad();
    if (g.defined()) {
      index.push_back(static_cast<int64_t>(names.size()));
      grads.push_back(g);
    }
    names.push_back(item.key());
  }
  if (grads.empty()) return r;
  if (!reads_late(grads.front())) {
    const std::vector<at::Tensor> norms = at::_foreach_norm(grads);
    std::vector<double> per(names.size(), 0.0);
    for (std::size_t k = 0; k < index.size(); ++k) per[static_cast<std::size_t>(index[k])] = norms[k].item<double>();
    return evaluate(names, per, ctx.step, ctx.step);
  }
  fused_norms(grads, 2, s.norms);
  s.readback.queue(s.norms, ctx.step);
  s.pending_names = std::move(names);
  s.pending_index = std::move(index);
  return r;
}

GuardReport GradientFlowMonitor::finish(const StepContext& ctx) { return read_pending(ctx.step); }

GuardReport GradientFlowAudit::after_backward(const StepContext& ctx) {
  GuardReport r;
  if (done_) return r;
  done_ = true;
  r.guard = name();
  std::vector<std::string> names;
  std::vector<std::string> missing;
  std::vector<at::Tensor> defined;
  std::vector<std::string> defined_names;
  for (const auto& item : ctx.model.named_parameters()) {
    if (!item.value().requires_grad()) continue;
    names.push_back(item.key());
    const at::Tensor& g = item.value().grad();
    if (!g.defined()) {
      missing.push_back(item.key());
    } else {
      defined.push_back(g);
      defined_names.push_back(item.key());
    }
  }
  if (!defined.empty()) {
    // Once per run: the synchronization is off the hot path.
    const at::Tensor norms = at::stack(at::_foreach_norm(defined)).to(at::kDouble).cpu();
    const double* n = norms.const_data_ptr<double>();
    for (std::size_t i = 0; i < defined.size(); ++i)
      if (n[i] == 0.0) missing.push_back(defined_names[i]);
  }
  if (missing.empty()) return r;
  r.action = GuardReport::Action::kStop;
  r.step = r.symptom_step = ctx.step;
  std::ostringstream msg;
  msg << missing.size() << " of " << names.size() << " trainable parameters received no gradient: ";
  for (std::size_t i = 0; i < missing.size() && i < 6; ++i) msg << (i ? ", " : "") << missing[i];
  if (missing.size() > 6) msg << ", ...";
  r.message = msg.str();
  r.details = {{"parameters_without_gradient", missing}};
  return r;
}

LeakGuard::LeakGuard(int64_t budget_bytes, int64_t window, std::function<int64_t()> memory_bytes)
    : LeakGuard([budget_bytes] { return budget_bytes; }, window, std::move(memory_bytes)) {}

LeakGuard::LeakGuard(std::function<int64_t()> budget_bytes, int64_t window, std::function<int64_t()> memory_bytes)
    : window_(std::max<int64_t>(4, window)), budget_fn_(std::move(budget_bytes)), memory_(std::move(memory_bytes)) {
  samples_.reserve(static_cast<std::size_t>(window_));
}

GuardReport LeakGuard::after_step(const StepContext& ctx) {
  if (!memory_) {
    // Resident memory climbs while a process warms up (code paged in, thread pools and malloc
    // arenas filled, the first snapshot taken): the first window of steps is not sampled. An
    // allocator's count has no such phase.
    warmup_ = window_;
    memory_ = [] { return resident_memory_bytes(); };
    if (ctx.loss.defined() && ctx.loss.is_cuda()) {
      const c10::Device device = ctx.loss.device();
      try {
        device_allocated_bytes(device);
        memory_ = [device] { return device_allocated_bytes(device); };
        warmup_ = 0;
      } catch (const c10::Error&) {
        // An allocator without statistics: resident memory it is.
      }
    }
  }
  if (budget_ < 0) {
    const int64_t b = budget_fn_ ? budget_fn_() : 0;
    budget_ = b > 0 ? static_cast<double>(b)
                    : static_cast<double>(sysconf(_SC_PHYS_PAGES)) * static_cast<double>(sysconf(_SC_PAGESIZE));
  }
  if (warmup_ > 0) {
    --warmup_;
    return {};
  }
  const std::pair<int64_t, int64_t> sample{ctx.step, memory_()};
  const auto window = static_cast<std::size_t>(window_);
  if (samples_.size() < window) {
    samples_.push_back(sample);
  } else {
    samples_[next_] = sample;
    next_ = (next_ + 1) % window;
  }
  GuardReport r;
  if (samples_.size() < window) return r;
  const double slope = tw::robust_slope(samples_);
  int64_t first = samples_.front().first, last_bytes = samples_.front().second, last = first;
  int64_t first_bytes = samples_.front().second;
  for (const auto& s : samples_) {
    if (s.first < first) first = s.first, first_bytes = s.second;
    if (s.first >= last) last = s.first, last_bytes = s.second;
  }
  // Steady growth: the slope accounts for most of the window's growth, not one jump.
  const double growth = static_cast<double>(last_bytes - first_bytes);
  if (!(growth > 0 && slope * static_cast<double>(last - first) > 0.5 * growth)) return r;
  std::vector<std::pair<int64_t, int64_t>> ordered(samples_);
  std::sort(ordered.begin(), ordered.end());
  std::vector<double> xs, ys;
  for (const auto& [step, bytes] : ordered)
    xs.push_back(static_cast<double>(step)), ys.push_back(static_cast<double>(bytes));
  if (!tw::grows_in_both_halves(xs, ys)) return r;
  if (!tw::leak_projects_past_budget(slope, static_cast<double>(last_bytes), budget_)) return r;
  r.guard = name();
  r.action = GuardReport::Action::kStop;
  r.step = ctx.step;
  r.symptom_step = first;
  std::ostringstream msg;
  const double steps_left = tw::steps_to_budget(slope, static_cast<double>(last_bytes), budget_);
  msg << "memory grows by " << slope / 1024 << " KiB per step over the last " << window_ << " steps: the "
      << budget_ / (1 << 20) << " MiB budget is gone in " << static_cast<int64_t>(steps_left) << " steps";
  r.message = msg.str();
  r.details = {{"growth_bytes_per_step", slope},
               {"window", window_},
               {"memory_bytes", last_bytes},
               {"budget_bytes", budget_},
               {"steps_to_budget", std::round(steps_left)}};
  return r;
}

LossSpikeGuard::LossSpikeGuard(double factor) : factor_(factor) {}

GuardReport LossSpikeGuard::after_backward(const StepContext& ctx) {
  GuardReport r;
  const double loss = ctx.loss.item<double>();
  if (first_ < 0 && std::isfinite(loss)) {
    first_ = std::max(loss, 1e-12);
    return r;
  }
  if (std::isfinite(loss) && (first_ < 0 || loss <= factor_ * first_)) return r;
  r.guard = name();
  r.action = GuardReport::Action::kStop;
  r.step = ctx.step;
  r.symptom_step = ctx.step;
  std::ostringstream msg;
  msg << "training loss " << loss << " at step " << ctx.step;
  if (first_ > 0) msg << " is " << loss / first_ << "x its first value " << first_ << " (limit " << factor_ << "x)";
  r.message = msg.str();
  r.details = {{"loss", std::isfinite(loss) ? nlohmann::json(loss) : nlohmann::json(std::to_string(loss))},
               {"first_loss", first_},
               {"factor", factor_}};
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
    if (r.action == GuardReport::Action::kContinue && r.message.empty()) continue;
    if (r.guard.empty()) r.guard = g->name();
    history_.push_back(r);
    if (r.action == GuardReport::Action::kStop) return r;
    if (r.action == GuardReport::Action::kSkipStep) out = std::move(r);
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
GuardReport GuardSet::finish(const StepContext& ctx) {
  return each([&](Guard& g) { return g.finish(ctx); });
}

}  // namespace trainwreck
