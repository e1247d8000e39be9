#include "trainwreck/guards.h"

#include <ATen/Parallel.h>
#include <ATen/core/grad_mode.h>
#include <ATen/ops/_foreach_copy.h>
#include <ATen/ops/_foreach_norm.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/isfinite.h>
#include <ATen/ops/stack.h>
#include <c10/core/CachingDeviceAllocator.h>
#include <c10/core/Event.h>
#include <c10/core/impl/VirtualGuardImpl.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <optional>
#include <sstream>

#include "harness/leak_rule.h"
#include "harness/slope.h"

namespace trainwreck {
using nlohmann::json;

namespace {

// Devices whose guard values are read one step late instead of synchronizing.
bool reads_late(const at::Tensor& t) { return t.defined() && t.is_cuda(); }

// A small device vector copied to pinned host memory behind the work already queued, and read
// at the next step. The read waits on an event recorded after the copy; by then a whole step
// has been queued behind it, so the device stays busy while the host waits (if it waits).
class Readback {
 public:
  void queue(const at::Tensor& values, int64_t step) {
    if (!host_.defined() || host_.numel() != values.numel() || host_.scalar_type() != values.scalar_type())
      host_ = at::empty({values.numel()}, values.options().device(at::kCPU).pinned_memory(true));
    host_.copy_(values, /*non_blocking=*/true);
    const c10::Device device = values.device();
    if (!event_ || event_->device_type() != device.type()) event_.emplace(device.type());
    event_->record(c10::impl::VirtualGuardImpl(device.type()).getStream(device));
    step_ = step;
    pending_ = true;
  }
  bool pending() const { return pending_; }
  int64_t step() const { return step_; }
  // Valid until the next queue().
  const at::Tensor& take() {
    event_->synchronize();
    pending_ = false;
    return host_;
  }

 private:
  at::Tensor host_;
  std::optional<c10::Event> event_;
  int64_t step_ = -1;
  bool pending_ = false;
};

#if defined(__x86_64__) && defined(__has_attribute)
#if __has_attribute(target_clones)
#define TRAINWRECK_VECTOR_CLONES __attribute__((target_clones("avx2", "default")))
#endif
#endif
#ifndef TRAINWRECK_VECTOR_CLONES
#define TRAINWRECK_VECTOR_CLONES
#endif

// The largest magnitude bit pattern in [p, p + n): a value is non-finite iff its magnitude bits
// reach the all-ones exponent. A max reduction the compiler vectorizes (AVX2 where the CPU has
// it), so the check costs about one read of the gradients.
TRAINWRECK_VECTOR_CLONES uint32_t max_magnitude_32(const uint32_t* p, int64_t n) {
  uint32_t m = 0;
  for (int64_t i = 0; i < n; ++i) m = std::max(m, p[i] & 0x7fffffffu);
  return m;
}

TRAINWRECK_VECTOR_CLONES uint16_t max_magnitude_16(const uint16_t* p, int64_t n) {
  uint16_t m = 0;
  for (int64_t i = 0; i < n; ++i) m = std::max<uint16_t>(m, p[i] & 0x7fffu);
  return m;
}

uint64_t max_magnitude_64(const uint64_t* p, int64_t n) {
  uint64_t m = 0;
  for (int64_t i = 0; i < n; ++i) m = std::max<uint64_t>(m, p[i] & 0x7fffffffffffffffull);
  return m;
}

bool range_finite(at::ScalarType type, const void* data, int64_t begin, int64_t end) {
  switch (type) {
    case at::kFloat: return max_magnitude_32(static_cast<const uint32_t*>(data) + begin, end - begin) < 0x7f800000u;
    case at::kDouble:
      return max_magnitude_64(static_cast<const uint64_t*>(data) + begin, end - begin) < 0x7ff0000000000000ull;
    case at::kHalf: return max_magnitude_16(static_cast<const uint16_t*>(data) + begin, end - begin) < 0x7c00u;
    case at::kBFloat16: return max_magnitude_16(static_cast<const uint16_t*>(data) + begin, end - begin) < 0x7f80u;
    default: return true;
  }
}

// Elements per task when the intra-op pool splits a large tensor.
constexpr int64_t kFiniteGrain = int64_t{1} << 16;

bool all_finite_cpu(const at::Tensor& t) {
  if (!at::isFloatingType(t.scalar_type()) || t.numel() == 0) return true;
  const at::ScalarType type = t.scalar_type();
  const bool raw = type == at::kFloat || type == at::kDouble || type == at::kHalf || type == at::kBFloat16;
  if (!raw || !t.is_cpu() || !t.is_contiguous() || t.layout() != at::kStrided) return at::isfinite(t).all().item<bool>();
  const void* data = t.const_data_ptr();
  if (t.numel() <= kFiniteGrain) return range_finite(type, data, 0, t.numel());
  std::atomic<bool> finite{true};
  at::parallel_for(0, t.numel(), kFiniteGrain, [&](int64_t begin, int64_t end) {
    if (!range_finite(type, data, begin, end)) finite.store(false, std::memory_order_relaxed);
  });
  return finite.load();
}

// One fused multi-tensor norm per dtype, stacked into `out` (float, on the tensors' device) in
// the order of `tensors`. The usual model has one dtype: one norm and one stack.
void fused_norms(const std::vector<at::Tensor>& tensors, const at::Scalar& ord, at::Tensor& out) {
  const auto n = static_cast<int64_t>(tensors.size());
  if (!out.defined() || out.numel() != n || out.device() != tensors.front().device())
    out = at::empty({n}, tensors.front().options().dtype(at::kFloat));
  auto norm_dtype = [](at::ScalarType t) -> std::optional<at::ScalarType> {
    return t == at::kDouble ? std::nullopt : std::optional<at::ScalarType>(at::kFloat);
  };
  const at::ScalarType first = tensors.front().scalar_type();
  const bool one_dtype = std::all_of(tensors.begin(), tensors.end(), [&](const at::Tensor& t) { return t.scalar_type() == first; });
  if (one_dtype) {
    at::stack_out(out, at::_foreach_norm(tensors, ord, norm_dtype(first)));
    return;
  }
  std::vector<at::Tensor> norms(tensors.size());
  std::vector<bool> done(tensors.size(), false);
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    if (done[i]) continue;
    std::vector<std::size_t> group;
    std::vector<at::Tensor> members;
    for (std::size_t j = i; j < tensors.size(); ++j)
      if (!done[j] && tensors[j].scalar_type() == tensors[i].scalar_type()) {
        group.push_back(j);
        members.push_back(tensors[j]);
        done[j] = true;
      }
    std::vector<at::Tensor> r = at::_foreach_norm(members, ord, norm_dtype(tensors[i].scalar_type()));
    for (std::size_t k = 0; k < group.size(); ++k) norms[group[k]] = r[k];
  }
  at::stack_out(out, norms);
}

// Weights kept on the device; copied with one fused multi-tensor copy.
struct Snapshot {
  std::vector<at::Tensor> weights;
  int64_t step = -1;

  bool valid() const { return step >= 0; }
  void take(const std::vector<at::Tensor>& params, int64_t at_step) {
    at::NoGradGuard no_grad;
    bool same = weights.size() == params.size();
    for (std::size_t i = 0; same && i < params.size(); ++i)
      same = weights[i].sizes() == params[i].sizes() && weights[i].scalar_type() == params[i].scalar_type() &&
             weights[i].device() == params[i].device();
    if (!same) {
      weights.clear();
      for (const auto& p : params) weights.push_back(p.detach().clone());
    } else if (!params.empty()) {
      std::vector<at::Tensor> src;
      src.reserve(params.size());
      for (const auto& p : params) src.push_back(p.detach());
      at::_foreach_copy_(weights, src);
    }
    step = at_step;
  }
  void restore(const std::vector<at::Tensor>& params) const {
    at::NoGradGuard no_grad;
    std::vector<at::Tensor> dst;
    std::vector<at::Tensor> src;
    for (std::size_t i = 0; i < params.size() && i < weights.size(); ++i) {
      dst.push_back(params[i].detach());
      src.push_back(weights[i]);
    }
    if (!dst.empty()) at::_foreach_copy_(dst, src);
  }
};

int64_t device_allocated_bytes(const c10::Device& device) {
  const auto stats = c10::getDeviceAllocator(device.type())->getDeviceStats(device.index());
  return stats.allocated_bytes[static_cast<std::size_t>(c10::CachingAllocator::StatType::AGGREGATE)].current;
}

bool ends_with(const std::string& s, const char* suffix) {
  const std::size_t n = std::strlen(suffix);
  return s.size() >= n && s.compare(s.size() - n, n, suffix) == 0;
}

}  // namespace

int64_t resident_memory_bytes() {
  // The file stays open (it is regenerated on every read); reopened after a fork.
  static int fd = -1;
  static pid_t owner = 0;
  const pid_t pid = getpid();
  if (fd < 0 || owner != pid) {
    if (fd >= 0) close(fd);
    fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
    owner = pid;
    if (fd < 0) return 0;
  }
  char buf[128];
  const ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
  if (n <= 0) return 0;
  buf[n] = '\0';
  long long pages_total = 0, pages_resident = 0;
  if (std::sscanf(buf, "%lld %lld", &pages_total, &pages_resident) != 2) return 0;
  return static_cast<int64_t>(pages_resident) * sysconf(_SC_PAGESIZE);
}

namespace {
struct Slot {
  int64_t param;  // index into model.parameters(); -1: the loss
  bool weight;    // the parameter itself rather than its gradient
};

// CPU: each parameter's gradient is checked by a hook as backward produces it. A separate pass
// over all gradients after backward measured about one point of step time more (3.5-4 % of an
// 8x256 MLP step against 2.5-3 %, one thread). A hook's verdict is used only if .grad is still
// the tensor it saw, unmodified (same data, same version); otherwise (gradients accumulated over
// micro-batches, edited after backward, no hook yet) the gradient itself is read.
class GradientHooks {
 public:
  struct Seen {
    bool observed = false;
    bool finite = true;
    const void* data = nullptr;
    int64_t version = -1;
  };
  ~GradientHooks() { remove(); }

  // Ready for the next backward: hooks on `params` (CPU, floating, requiring grad), replacing
  // those on another parameter list, and no record left from this step.
  void arm(const std::vector<at::Tensor>& params) {
    if (matches(params)) {
      std::fill(seen_->begin(), seen_->end(), Seen{});
      return;
    }
    remove();
    seen_ = std::make_shared<std::vector<Seen>>(params.size());
    for (std::size_t i = 0; i < params.size(); ++i) {
      const at::Tensor& p = params[i];
      const bool hook = p.is_cpu() && p.requires_grad() && at::isFloatingType(p.scalar_type());
      hooked_.push_back(hook ? p : at::Tensor());
      impls_.push_back(p.unsafeGetTensorImpl());
      if (!hook) {
        handles_.push_back(0);
        continue;
      }
      std::weak_ptr<std::vector<Seen>> weak = seen_;
      handles_.push_back(p.register_hook([weak, i](const at::TensorBase& grad) {
        const auto seen = weak.lock();
        if (!seen || !grad.defined() || !grad.is_cpu() || grad.layout() != at::kStrided) return;
        Seen& s = (*seen)[i];
        s.finite = (!s.observed || s.finite) && all_finite_cpu(at::Tensor(grad));
        s.observed = true;
        s.data = grad.const_data_ptr();
        s.version = grad._version();
      }));
    }
  }

  // The hooks' verdict on params[i].grad() if it still applies.
  std::optional<bool> verdict(std::size_t i, const at::Tensor& grad) const {
    if (!seen_ || i >= seen_->size()) return std::nullopt;
    const Seen& s = (*seen_)[i];
    if (!s.observed) return std::nullopt;
    if (!s.finite) return false;  // non-finite in, non-finite accumulated
    if (grad.const_data_ptr() == s.data && grad._version() == s.version) return true;
    return std::nullopt;
  }

 private:
  bool matches(const std::vector<at::Tensor>& params) const {
    if (!seen_ || impls_.size() != params.size()) return false;
    for (std::size_t i = 0; i < params.size(); ++i)
      if (impls_[i] != params[i].unsafeGetTensorImpl()) return false;
    return true;
  }
  void remove() {
    for (std::size_t i = 0; i < hooked_.size(); ++i)
      if (hooked_[i].defined()) hooked_[i].remove_hook(handles_[i]);
    hooked_.clear();
    handles_.clear();
    impls_.clear();
    seen_.reset();
  }
  std::shared_ptr<std::vector<Seen>> seen_;
  std::vector<at::Tensor> hooked_;
  std::vector<unsigned> handles_;
  std::vector<const c10::TensorImpl*> impls_;
};
}  // namespace

struct NonFiniteGuard::State {
  GradientHooks hooks;
  Readback readback;
  at::Tensor maxima;  // device buffer the per-tensor max |x| are stacked into
  std::vector<Slot> slots;
  std::vector<Slot> pending_slots;
  Snapshot good;       // kRollback: the latest snapshot whose step is known to be finite
  Snapshot candidate;  // CUDA: a snapshot whose step's flag is still in flight
};

NonFiniteGuard::NonFiniteGuard(Policy policy, double rollback_lr_factor)
    : NonFiniteGuard(Options{policy, rollback_lr_factor}) {}

NonFiniteGuard::NonFiniteGuard(const Options& options) : options_(options), state_(std::make_unique<State>()) {
  options_.snapshot_every = std::max<int64_t>(1, options_.snapshot_every);
}

NonFiniteGuard::~NonFiniteGuard() = default;

namespace {
std::string describe(const Slot& slot, torch::nn::Module& model) {
  if (slot.param < 0) return "loss";
  const auto named = model.named_parameters();
  const std::string name = slot.param < static_cast<int64_t>(named.size()) ? named[slot.param].key() : "?";
  return (slot.weight ? "weight " : "gradient of ") + name;
}
}  // namespace

GuardReport NonFiniteGuard::on_nonfinite(int64_t symptom_step, const std::string& tensor, bool late,
                                         const StepContext& ctx) {
  State& s = *state_;
  GuardReport r;
  r.guard = name();
  r.step = ctx.step;
  r.symptom_step = symptom_step;
  r.details = {{"tensor", tensor}, {"detected_late", late}};
  std::ostringstream msg;
  msg << "non-finite " << tensor << " at step " << symptom_step;
  if (late) msg << " (seen at step " << ctx.step << ": read without blocking, one step late)";
  auto clear_optimizer_state = [&] {
    if (ctx.optimizer) ctx.optimizer->state().clear();
  };
  std::vector<at::Tensor> params;
  if (options_.policy != Policy::kStop) params = ctx.model.parameters();
  switch (options_.policy) {
    case Policy::kStop:
      r.action = GuardReport::Action::kStop;
      msg << "; stopped";
      if (late) msg << " (the update of step " << symptom_step << " was already applied)";
      break;
    case Policy::kSkipStep:
      r.action = GuardReport::Action::kSkipStep;
      if (!late) {
        msg << "; step skipped";
      } else if (s.candidate.step == symptom_step) {
        // The bad update is undone: as if step `symptom_step` had been skipped.
        s.candidate.restore(params);
        clear_optimizer_state();
        msg << "; undid the update of step " << symptom_step << " (weights restored, optimizer state cleared) and skipped step "
            << ctx.step;
        r.details["restored_step"] = symptom_step;
      } else {
        msg << "; step skipped (no snapshot of step " << symptom_step << " to restore)";
      }
      break;
    case Policy::kRollback: {
      r.action = GuardReport::Action::kSkipStep;
      const Snapshot* snap = s.good.valid() ? &s.good : (late && s.candidate.step == symptom_step ? &s.candidate : nullptr);
      if (snap) {
        snap->restore(params);
        r.details["restored_step"] = snap->step;
      }
      clear_optimizer_state();  // momentum built on the bad steps goes too
      if (ctx.optimizer)
        for (auto& group : ctx.optimizer->param_groups()) group.options().set_lr(group.options().get_lr() * options_.rollback_lr_factor);
      ++rollbacks_;
      msg << "; rolled back to the last good weights";
      if (snap) msg << " (step " << snap->step << ")";
      msg << " and lowered the LR by " << options_.rollback_lr_factor;
      break;
    }
  }
  if (late) s.candidate.step = -1;  // restored or of a bad step: not a rollback target
  r.message = msg.str();
  return r;
}

GuardReport NonFiniteGuard::after_backward(const StepContext& ctx) {
  State& s = *state_;
  const std::vector<at::Tensor> params = ctx.model.parameters();
  // Local: holding the gradients past this call would keep them alive through the next
  // backward (fresh allocations, page faults on the CPU, a second set of gradients on CUDA).
  std::vector<at::Tensor> checked;
  checked.reserve(params.size() * (options_.check_weights ? 2 : 1) + 1);
  s.slots.clear();
  if (ctx.loss.defined()) {
    checked.push_back(ctx.loss.detach());
    s.slots.push_back({-1, false});
  }
  for (std::size_t i = 0; i < params.size(); ++i) {
    const at::Tensor& g = params[i].grad();
    if (g.defined() && at::isFloatingType(g.scalar_type())) {
      checked.push_back(g);
      s.slots.push_back({static_cast<int64_t>(i), false});
    }
  }
  if (options_.check_weights)
    for (std::size_t i = 0; i < params.size(); ++i)
      if (at::isFloatingType(params[i].scalar_type())) {
        checked.push_back(params[i].detach());
        s.slots.push_back({static_cast<int64_t>(i), true});
      }

  if (checked.empty() || !reads_late(checked.front())) {
    ++checked_;
    for (std::size_t k = 0; k < checked.size(); ++k) {
      const Slot& slot = s.slots[k];
      std::optional<bool> finite;
      if (slot.param >= 0 && !slot.weight) finite = s.hooks.verdict(static_cast<std::size_t>(slot.param), checked[k]);
      if (!finite) finite = all_finite_cpu(checked[k]);
      if (!*finite) {
        s.hooks.arm(params);
        return on_nonfinite(ctx.step, describe(slot, ctx.model), false, ctx);
      }
    }
    s.hooks.arm(params);
    if (options_.policy == Policy::kRollback && (!s.good.valid() || ctx.step % options_.snapshot_every == 0))
      s.good.take(params, ctx.step);
    return {};
  }

  if (s.readback.pending()) {
    const int64_t symptom = s.readback.step();
    const at::Tensor& host = s.readback.take();
    ++checked_;
    const float* v = host.const_data_ptr<float>();
    for (int64_t k = 0; k < host.numel(); ++k)
      if (!std::isfinite(v[k])) {
        // This step's gradients came from the bad weights: it is not queued.
        return on_nonfinite(symptom, describe(s.pending_slots[static_cast<std::size_t>(k)], ctx.model), true, ctx);
      }
    if (options_.policy == Policy::kRollback && s.candidate.step == symptom) {
      std::swap(s.good, s.candidate);
      s.candidate.step = -1;  // its buffers are reused for the next snapshot
    }
  }
  // kSkipStep undoes exactly the bad update, so it needs every step's weights.
  if (options_.policy == Policy::kSkipStep ||
      (options_.policy == Policy::kRollback && (!s.good.valid() || ctx.step % options_.snapshot_every == 0)))
    s.candidate.take(params, ctx.step);
  fused_norms(checked, std::numeric_limits<double>::infinity(), s.maxima);
  s.readback.queue(s.maxima, ctx.step);
  std::swap(s.pending_slots, s.slots);
  return {};
}

GuardReport NonFiniteGuard::finish(const StepContext& ctx) {
  State& s = *state_;
  if (!s.readback.pending()) return {};
  const int64_t symptom = s.readback.step();
  const at::Tensor& host = s.readback.take();
  ++checked_;
  const float* v = host.const_data_ptr<float>();
  for (int64_t k = 0; k < host.numel(); ++k)
    if (!std::isfinite(v[k])) {
      GuardReport r;
      r.guard = name();
      r.action = GuardReport::Action::kStop;
      r.step = ctx.step;
      r.symptom_step = symptom;
      r.message = "non-finite " + describe(s.pending_slots[static_cast<std::size_t>(k)], ctx.model) + " at step " +
                  std::to_string(symptom) + " (seen when training ended)";
      r.details = {{"detected_late", true}};
      return r;
    }
  return {};
}

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
  for (const auto& [step, bytes] : ordered) xs.push_back(static_cast<double>(step)), ys.push_back(static_cast<double>(bytes));
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
               {"first_loss", first_}, {"factor", factor_}};
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
