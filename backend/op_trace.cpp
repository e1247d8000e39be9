#include "backend/op_trace.h"

#include <ATen/Parallel.h>
#include <ATen/record_function.h>
#include <c10/core/impl/LocalDispatchKeySet.h>

#include <atomic>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <mutex>
#include <stdexcept>
#include <vector>

#include "backend/model.h"
#include "backend/torch_includes.h"

namespace tw {
using nlohmann::json;

namespace {

std::string hex64(uint64_t h) {
  char buf[17];
  std::snprintf(buf, sizeof(buf), "%016" PRIx64, h);
  return buf;
}

// FNV-1a over 8-byte words (then the tail's bytes): stable across builds and machines, as the two
// sides of a bisect need, and fast enough to hash every parameter at every step.
uint64_t digest_bytes(const void* data, std::size_t n, uint64_t h = 1469598103934665603ULL) {
  const auto* p = static_cast<const unsigned char*>(data);
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t w;
    std::memcpy(&w, p + i, 8);
    h = (h ^ w) * 1099511628211ULL;
  }
  for (; i < n; ++i) h = (h ^ p[i]) * 1099511628211ULL;
  return h;
}

// Every parameter's bytes, in registration order, as one digest.
std::string weights_digest(torch::nn::Module& net) {
  at::RecordFunctionGuard no_callbacks(/*is_enabled=*/false);
  at::NoGradGuard no_grad;
  uint64_t h = 1469598103934665603ULL;
  for (const at::Tensor& p : net.parameters()) {
    const at::Tensor host = p.detach().to(at::kCPU).contiguous();
    h = digest_bytes(host.const_data_ptr(), host.nbytes(), h);
  }
  return hex64(h);
}

// An exact, readable loss: "%a" prints every bit of the double.
std::string exact(double v) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%a", v);
  return buf;
}

// Shape, dtype and a digest of the bytes; no digest for memory not yet written (`unwritten`) or
// a layout the trace cannot hash.
json describe_output(const at::Tensor& t, bool unwritten) {
  json o = {{"shape", t.sizes().vec()}, {"dtype", std::string(c10::toString(t.scalar_type()))}};
  if (unwritten || !t.has_storage() || t.is_sparse() || t.is_quantized() || t.is_complex()) {
    o["digest"] = nullptr;
    return o;
  }
  const at::Tensor host = t.detach().to(at::kCPU).contiguous();
  o["digest"] = hex64(digest_bytes(host.const_data_ptr(), host.nbytes()));
  if (host.numel() > 0 && host.is_floating_point()) {
    // Summed in double without a double copy: the traced cell keeps its memory budget.
    o["sum"] = host.sum(at::kDouble).item<double>();
    o["absmax"] = host.abs().max().item<double>();
  }
  return o;
}

// The one recorder the RecordFunction callbacks (plain function pointers) write to.
class Recorder {
 public:
  static std::atomic<Recorder*>& active() {
    static std::atomic<Recorder*> r{nullptr};
    return r;
  }

  void start() {
    if (handle_) return;
    active() = this;
    handle_ = at::addGlobalCallback(at::RecordFunctionCallback(&on_start, &on_end)
                                        .needsOutputs(true)
                                        .scopes({at::RecordScope::FUNCTION, at::RecordScope::BACKWARD_FUNCTION}));
  }
  void stop() {
    if (!handle_) return;
    at::removeCallback(handle_);
    handle_ = 0;
    active() = nullptr;
  }
  void set_step(int64_t step) { step_ = step; }

  json ops;

 private:
  struct Scope {
    std::string name;
    bool op;  // an ATen op (else an autograd node)
  };
  static thread_local std::vector<Scope> stack_;  // enclosing ops and autograd nodes
  static thread_local bool inside_;               // the recorder's own ops are not traced

  // An op an intra-op worker runs inside a parallel region belongs to the op that opened the
  // region (on another thread, with its own stack): not traced, or the order would vary by run.
  static bool ignored() { return inside_ || at::in_parallel_region(); }

  static std::unique_ptr<at::ObserverContext> on_start(const at::RecordFunction& fn) {
    if (!ignored()) stack_.push_back({fn.name(), fn.scope() == at::RecordScope::FUNCTION});
    return nullptr;
  }

  // Ops whose output is memory not yet written: its bytes say nothing.
  static bool allocates_only(const char* name) {
    static const char* const kNames[] = {
        "aten::empty",   "aten::empty_like", "aten::empty_strided", "aten::new_empty", "aten::new_empty_strided",
        "aten::resize_", "aten::resize_as_", "aten::set_"};
    for (const char* n : kNames)
      if (std::strcmp(n, name) == 0) return true;
    return false;
  }

  static void on_end(const at::RecordFunction& fn, at::ObserverContext* /*ctx*/) {
    if (ignored() || stack_.empty()) return;
    stack_.pop_back();
    Recorder* self = active().load();
    if (!self || fn.scope() != at::RecordScope::FUNCTION) return;
    // Only the outermost ops: an op's inner ops may hand on memory the outer one has yet to
    // fill (aten::arange's set_), while the outermost op's outputs are final when it ends.
    for (const Scope& s : stack_)
      if (s.op) return;
    json outputs = json::array();
    const bool unwritten = allocates_only(fn.name());
    inside_ = true;
    try {
      at::RecordFunctionGuard no_callbacks(/*is_enabled=*/false);
      at::NoGradGuard no_grad;
      c10::impl::ExcludeDispatchKeyGuard no_autocast(c10::autocast_dispatch_keyset);
      for (const c10::IValue& v : fn.outputs()) {
        if (!v.isTensor() || !v.toTensor().defined()) continue;
        outputs.push_back(describe_output(v.toTensor(), unwritten));
      }
    } catch (const std::exception& e) {
      outputs.push_back({{"error", e.what()}});
    }
    inside_ = false;
    if (outputs.empty()) return;
    json op = {{"step", self->step_}, {"op", fn.name()}, {"outputs", std::move(outputs)}};
    if (!stack_.empty()) op["within"] = stack_.front().name;
    const std::lock_guard<std::mutex> lock(self->mutex_);
    self->ops.push_back(std::move(op));
  }

  at::CallbackHandle handle_ = 0;
  int64_t step_ = 0;
  std::mutex mutex_;
};

thread_local std::vector<Recorder::Scope> Recorder::stack_;
thread_local bool Recorder::inside_ = false;

class OpTraceHook : public LoopHook {
 public:
  // A window from step 0 starts now: the data and the model are made before the first step.
  explicit OpTraceHook(OpTraceSpec spec) : spec_(std::move(spec)) {
    if (spec_.first_step == 0 && spec_.last_step >= 0) recorder_.start();
  }
  ~OpTraceHook() override {
    try {
      write();
    } catch (...) {
      // A run that ended in an error (out of memory, say) reports that error, not this one.
    }
  }

  std::optional<HookStop> before_step(const LoopView& view) override {
    weights_ = weights_digest(view.net);
    recorder_.set_step(view.step);
    if (view.step >= spec_.first_step && view.step <= spec_.last_step) recorder_.start();
    return std::nullopt;
  }
  at::Tensor after_forward(const LoopView& view, const at::Tensor& /*x*/, at::Tensor loss) override {
    if (view.step != last_loss_step_) {
      last_loss_step_ = view.step;
      at::RecordFunctionGuard no_callbacks(/*is_enabled=*/false);
      losses_.push_back({view.step, exact(loss.detach().to(at::kDouble).item<double>()), weights_});
    }
    return loss;
  }
  void after_optimizer_step(const LoopView& view) override {
    if (view.step >= spec_.last_step) recorder_.stop();
  }
  void at_end(const LoopView& /*view*/, json& /*evidence*/) override { write(); }

 private:
  void write() {
    recorder_.stop();
    if (written_ || spec_.path.empty()) return;
    written_ = true;
    const json out = {
        {"ops_from", spec_.first_step}, {"ops_to", spec_.last_step}, {"losses", losses_}, {"ops", recorder_.ops}};
    std::ofstream f(spec_.path);
    f << out.dump(-1, ' ', false, json::error_handler_t::replace) << "\n";
  }

  OpTraceSpec spec_;
  Recorder recorder_;
  json losses_ = json::array();
  int64_t last_loss_step_ = -1;
  std::string weights_;  // the digest of the weights the current step starts from
  bool written_ = false;
};

}  // namespace

OpTraceSpec OpTraceSpec::from_json(const json& j) {
  OpTraceSpec s;
  if (!j.is_object()) throw std::invalid_argument("trace: must be an object");
  if (!j.contains("path") || !j["path"].is_string() || j["path"].get<std::string>().empty())
    throw std::invalid_argument("trace.path: must be a file path");
  s.path = j["path"].get<std::string>();
  if (!j.contains("ops_from")) return s;  // the losses only
  s.first_step = j.value("ops_from", int64_t{0});
  s.last_step = j.value("ops_to", s.first_step);
  if (s.first_step < 0 || s.last_step < s.first_step)
    throw std::invalid_argument("trace.ops_to: must be at least trace.ops_from, which must not be negative");
  return s;
}

std::shared_ptr<LoopHook> make_op_trace(const OpTraceSpec& spec) { return std::make_shared<OpTraceHook>(spec); }

}  // namespace tw
