#include "backend/trainer.h"

#include <ATen/autocast_mode.h>
#include <c10/util/Exception.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <optional>
#include <sstream>
#include <tuple>

#include "backend/custom_tanh.h"
#include "backend/data.h"
#include "backend/errors.h"
#include "backend/grad_scaler.h"
#include "backend/graphed_step.h"
#include "backend/loop_hooks.h"
#include "backend/memory.h"
#include "backend/model.h"
#include "backend/procedures.h"
#include "trainwreck/guards.h"

namespace tw {
using nlohmann::json;

namespace {

constexpr double kPi = 3.14159265358979323846;
// Eager steps before a step is captured as a CUDA graph: lazy initialization (cuBLAS handles and
// workspaces, the optimizer's momentum buffers) happens outside the capture.
constexpr int64_t kEagerStepsBeforeCapture = 3;

double scheduled_lr(const Recipe& r, int64_t step) {
  if (r.optim.schedule != Schedule::kWarmupCosine) return r.optim.lr;
  if (step <= r.optim.warmup_steps)
    return r.optim.lr * static_cast<double>(step) / static_cast<double>(std::max<int64_t>(1, r.optim.warmup_steps));
  const double t = static_cast<double>(step - r.optim.warmup_steps) /
                   static_cast<double>(std::max<int64_t>(1, r.loop.steps - r.optim.warmup_steps));
  return r.optim.lr * 0.5 * (1 + std::cos(kPi * std::min(1.0, t)));
}

void set_lr(torch::optim::Optimizer& opt, double lr) {
  for (auto& group : opt.param_groups()) group.options().set_lr(lr);
}

struct AutocastScope {
  AutocastScope(Autocast mode, c10::Device device) : device_type(device.type()) {
    if (mode == Autocast::kNone) return;
    enabled = true;
    previous_dtype = at::autocast::get_autocast_dtype(device_type);
    at::autocast::set_autocast_enabled(device_type, true);
    at::autocast::set_autocast_dtype(device_type, mode == Autocast::kFp16 ? at::kHalf : at::kBFloat16);
  }
  ~AutocastScope() {
    if (!enabled) return;
    at::autocast::set_autocast_enabled(device_type, false);
    at::autocast::set_autocast_dtype(device_type, previous_dtype);
    at::autocast::clear_cache();
  }
  c10::DeviceType device_type;
  bool enabled = false;
  at::ScalarType previous_dtype = at::kFloat;
};

json guard_event(const trainwreck::GuardReport& r, GuardAction action) {
  json e = {{"guard", r.guard}, {"action", to_string(action)}, {"step", r.step}, {"message", r.message}};
  if (r.symptom_step >= 0) e["symptom_step"] = r.symptom_step;
  if (!r.details.empty()) e["details"] = r.details;
  return e;
}

GuardAction action_of(const trainwreck::GuardReport& r) {
  return r.stop() ? GuardAction::kStop : r.skip() ? GuardAction::kSkip : GuardAction::kWarn;
}

}  // namespace

std::unique_ptr<torch::optim::Optimizer> make_optimizer(const Recipe& r, Net& net) {
  if (r.optim.kind == OptimizerKind::kAdam)
    return std::make_unique<torch::optim::Adam>(net->parameters(), torch::optim::AdamOptions(r.optim.lr));
  if (r.optim.kind == OptimizerKind::kAdamW)
    return std::make_unique<torch::optim::AdamW>(
        net->parameters(), torch::optim::AdamWOptions(r.optim.lr).weight_decay(r.optim.weight_decay));
  return std::make_unique<torch::optim::SGD>(net->parameters(),
                                             torch::optim::SGDOptions(r.optim.lr).momentum(r.optim.momentum));
}

json end_event(int64_t steps, const Recipe& r, double last_loss, double eval_loss) {
  return {{"steps", std::min(steps, r.loop.steps)},
          {"horizon", r.loop.steps},
          {"target_loss", r.loop.target_loss},
          {"final_loss", loss_json(last_loss)},
          {"final_eval_loss", loss_json(eval_loss)}};
}

json loss_json(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  return v;
}

namespace {

// One training run, stage by stage: the setup (data, model, optimizer, guards), the procedures
// around the loop, each step (its work, then its bookkeeping), the evaluations and the end.
class TrainLoop {
 public:
  TrainLoop(CellEnv& env, Recipe& r) : env_(env), r_(r), ev_(env.events), device_(env.device) {}
  Net run();

 private:
  enum class Next { kGoOn, kStop };
  void report_error(const std::exception& e);
  void build();
  bool procedures();  // false: one of them ended the run
  void start_loop();
  Next step_once();
  double next_lr();
  at::Tensor graph_body(const at::Tensor& x, const at::Tensor& y);
  bool replay(at::Tensor& loss_sum);
  LoopView view() { return LoopView{step_, r_, *net_, *data_}; }
  Next before_step_hooks();
  Next forward_backward(at::Tensor& loss_sum);
  Next update(const trainwreck::StepContext& ctx, bool replayed, bool& skipped);
  Next record(const trainwreck::StepContext& ctx, bool skipped, double lr,
              std::chrono::steady_clock::time_point step_t0);
  Next evaluate();
  Next stop_on(const trainwreck::GuardReport& report);
  void finish();

  CellEnv& env_;
  Recipe& r_;
  const EventWriter& ev_;
  const c10::Device device_;
  int64_t step_ = 0;
  // A step replayed as a CUDA graph: the whole run stays on one side stream.
  std::string graph_unused_;
  bool graph_wanted_ = false;
  std::optional<SideStream> side_stream_;
  std::optional<Dataset> data_;
  Net net_{nullptr};
  std::unique_ptr<torch::optim::Optimizer> optimizer_;
  trainwreck::GuardSet guards_;
  at::Tensor first_w_, last_w_;
  int64_t batch_ = 0;
  double last_loss_ = NAN, eval_loss_ = NAN;
  std::chrono::steady_clock::time_point t0_;
  std::optional<GradScaler> scaler_;  // fp16 autocast needs dynamic loss scaling; bf16 does not
  double lr_factor_ = 1.0;            // a guard that lowers the LR scales the schedule from then on
  double lr_set_ = NAN;
  std::vector<double> step_seconds_;  // each step's wall time, to the reads that end it
  std::unique_ptr<GraphedStep> graphed_;
  int64_t graph_from_ = 0;
  std::string graph_failed_;
  bool step_in_graph_ = false;  // with a constant LR the optimizer step is part of the graph
};

Net TrainLoop::run() {
  try {
    build();
    if (!procedures()) return net_;
    start_loop();
    for (step_ = 1; step_ <= r_.loop.steps; ++step_)
      if (step_once() == Next::kStop) break;
    finish();
  } catch (const c10::Error& e) {
    report_error(e);
  } catch (const std::runtime_error& e) {
    if (!from_torchscript(e)) throw;
    report_error(e);
  }
  return net_;
}

// LibTorch's errors and a scripted module's end the run as an error event; a failed allocation is
// an out-of-memory one. (Other exceptions, such as a checkpoint writer's, go to the fault.)
void TrainLoop::report_error(const std::exception& e) {
  if (is_out_of_memory(e)) ev_.emit(EventType::kEvidence, {{"peak_alloc_bytes", read_memory(device_).peak}});
  emit_error(ev_, e, {{"step", step_}});
}

void TrainLoop::build() {
  graph_unused_ = r_.loop.cuda_graph && device_.is_cuda() ? graph_ineligible_reason(r_) : "";
  graph_wanted_ = r_.loop.cuda_graph && device_.is_cuda() && graph_unused_.empty();
  if (graph_wanted_) side_stream_.emplace(device_);
  data_.emplace(r_, env_.seed, device_);
  torch::manual_seed(env_.seed);
  Net net(r_);
  net->to(device_);
  net_ = net;
  optimizer_ = make_optimizer(r_, net_);
  for (auto& g : r_.guards) guards_.add(g);
  std::tie(first_w_, last_w_) = first_and_last_weights(net_);
  int64_t params = 0;
  for (const auto& p : net_->parameters()) params += p.numel();
  json start = {{"device", device_.str()}, {"parameters", params}, {"recipe", r_.to_json()}};
  if (!is_mlp_family(r_.model.kind)) start["workload"] = to_string(r_.model.kind);
  ev_.emit(EventType::kStart, start);
}

bool TrainLoop::procedures() {
  if (r_.checks.gradcheck &&
      (r_.model.activation == Activation::kCustomTanh || r_.model.activation == Activation::kCustomTanhWrong)) {
    const GradcheckResult check = gradcheck_custom_tanh(r_.model.activation == Activation::kCustomTanhWrong);
    ev_.emit(EventType::kEvidence, {{"gradcheck_max_abs_error", check.max_abs_error}});
    if (!check.passed) {
      std::ostringstream msg;
      msg << "gradcheck failed for the custom autograd function CustomTanh (activation "
          << to_string(r_.model.activation) << "): max |analytic - numeric| = " << check.max_abs_error;
      ev_.emit(EventType::kGuard, {{"guard", "gradcheck"},
                                   {"action", to_string(GuardAction::kStop)},
                                   {"step", 0},
                                   {"symptom_step", 0},
                                   {"message", msg.str()}});
      return false;
    }
  }
  if (r_.checks.lr_range_test) {
    json found = json::object();
    r_.optim.lr = lr_range_test(net_, *data_, r_, found);
    optimizer_ = make_optimizer(r_, net_);
    ev_.emit(EventType::kEvidence, found);
  }
  batch_ = r_.data.batch_size;
  if (r_.optim.auto_batch_size) {
    json trials = json::array();
    batch_ = find_batch_size(net_, *data_, r_, device_, trials);
    ev_.emit(EventType::kEvidence, {{"auto_batch_size", batch_}, {"auto_batch_trials", trials}});
    if (batch_ == 0) {
      ev_.error(ErrorKind::kOom, "not even a batch of 1 fits the memory budget", {{"step", 0}});
      return false;
    }
  }
  return true;
}

void TrainLoop::start_loop() {
  t0_ = std::chrono::steady_clock::now();
  if (r_.optim.autocast == Autocast::kFp16) scaler_.emplace();
  step_seconds_.reserve(static_cast<std::size_t>(std::max<int64_t>(r_.loop.steps, 0)));
  step_in_graph_ = r_.optim.schedule == Schedule::kConstant;
}

TrainLoop::Next TrainLoop::step_once() {
  const auto step_t0 = std::chrono::steady_clock::now();
  const double lr = next_lr();
  at::Tensor loss_sum;
  const bool replayed = replay(loss_sum);
  if (!replayed) optimizer_->zero_grad();
  if (before_step_hooks() == Next::kStop) return Next::kStop;
  if (!replayed && forward_backward(loss_sum) == Next::kStop) return Next::kStop;
  if (!replayed)
    for (const auto& h : r_.hooks) h->before_update(view());
  if (scaler_) scaler_->unscale(*optimizer_);  // guards and clipping see true gradients
  const trainwreck::StepContext ctx{step_, loss_sum, *net_, optimizer_.get()};
  bool skipped = false;
  if (update(ctx, replayed, skipped) == Next::kStop) return Next::kStop;
  if (record(ctx, skipped, lr, step_t0) == Next::kStop) return Next::kStop;
  if (step_ % r_.loop.eval_every == 0 || step_ == r_.loop.steps) return evaluate();
  return Next::kGoOn;
}

double TrainLoop::next_lr() {
  const double current = optimizer_->param_groups().front().options().get_lr();
  if (std::isfinite(lr_set_) && current != lr_set_) lr_factor_ *= current / lr_set_;
  const double lr = scheduled_lr(r_, step_) * lr_factor_;
  set_lr(*optimizer_, lr);
  lr_set_ = lr;
  return lr;
}

at::Tensor TrainLoop::graph_body(const at::Tensor& x, const at::Tensor& y) {
  optimizer_->zero_grad();
  at::Tensor loss = workload_loss(r_, net_->forward(x), y) / static_cast<double>(r_.optim.accumulation_steps);
  loss.backward();
  if (step_in_graph_) optimizer_->step();
  return loss.detach();
}

// From step kEagerStepsBeforeCapture + 1 on, the step is captured once and replayed; a capture
// that fails leaves every step eager and says why in the evidence.
bool TrainLoop::replay(at::Tensor& loss_sum) {
  if (!graph_wanted_ || !graph_failed_.empty() || step_ <= kEagerStepsBeforeCapture) return false;
  auto [x, y] = data_->batch(step_, batch_, 0, 1);
  if (r_.data.cast_inputs) x = x.to(at::kFloat);
  if (!graphed_) {
    try {
      graphed_ = GraphedStep::capture([this](const at::Tensor& a, const at::Tensor& b) { return graph_body(a, b); },
                                      x, y);
      graph_from_ = step_;
    } catch (const c10::Error& e) {
      graph_failed_ = first_line(e.what_without_backtrace());
    }
  }
  if (!graphed_) return false;
  loss_sum = graphed_->run(x, y);
  if (!step_in_graph_) optimizer_->step();
  return true;
}

TrainLoop::Next TrainLoop::before_step_hooks() {
  for (const auto& h : r_.hooks) {
    const std::optional<HookStop> stop = h->before_step(view());
    if (!stop) continue;
    ev_.emit(EventType::kGuard, {{"guard", stop->guard},
                                 {"action", to_string(GuardAction::kStop)},
                                 {"step", step_},
                                 {"symptom_step", step_},
                                 {"message", stop->message}});
    return Next::kStop;
  }
  return Next::kGoOn;
}

TrainLoop::Next TrainLoop::forward_backward(at::Tensor& loss_sum) {
  AutocastScope autocast(r_.optim.autocast, device_);
  const int64_t accum = r_.optim.accumulation_steps;
  for (int64_t m = 0; m < accum; ++m) {
    auto [x, y] = data_->batch(step_, batch_, m, accum);
    if (r_.data.cast_inputs) x = x.to(at::kFloat);
    if (r_.checks.dtype_check && x.scalar_type() != first_w_.scalar_type()) {
      std::ostringstream msg;
      msg << "input dtype " << x.scalar_type() << " does not match the model's " << first_w_.scalar_type()
          << " (cast the inputs, or the model)";
      ev_.emit(EventType::kGuard, {{"guard", "dtype_check"},
                                   {"action", to_string(GuardAction::kStop)},
                                   {"step", step_},
                                   {"symptom_step", step_},
                                   {"message", msg.str()}});
      return Next::kStop;
    }
    at::Tensor out = net_->forward(x);
    at::Tensor loss = workload_loss(r_, out, y) / static_cast<double>(accum);
    for (const auto& h : r_.hooks) loss = h->after_forward(view(), x, loss);
    (scaler_ ? scaler_->scale(loss) : loss).backward();
    for (const auto& h : r_.hooks) h->after_backward(view());
    loss_sum = loss_sum.defined() ? loss_sum + loss.detach() : loss.detach();
  }
  return Next::kGoOn;
}

TrainLoop::Next TrainLoop::stop_on(const trainwreck::GuardReport& report) {
  if (!report.stop()) return Next::kGoOn;
  ev_.emit(EventType::kGuard, guard_event(report, GuardAction::kStop));
  return Next::kStop;
}

TrainLoop::Next TrainLoop::update(const trainwreck::StepContext& ctx, bool replayed, bool& skipped) {
  trainwreck::GuardReport report = guards_.after_backward(ctx);
  if (stop_on(report) == Next::kStop) return Next::kStop;
  skipped = report.skip();
  if (replayed) {
    // The graph ran the step (and the optimizer's, unless a schedule steps it in replay()).
  } else if (skipped) {
    ev_.emit(EventType::kGuard, guard_event(report, action_of(report)));
    optimizer_->zero_grad();
    // The scaler unscaled this step's gradients: close its step (backing off when it saw an
    // overflow), or the next step's gradients would not be unscaled.
    if (scaler_) scaler_->update();
  } else {
    if (r_.optim.clip_norm > 0) torch::nn::utils::clip_grad_norm_(net_->parameters(), r_.optim.clip_norm);
    if (scaler_) {
      scaler_->step(*optimizer_);
      scaler_->update();
    } else {
      optimizer_->step();
    }
  }
  if (!replayed)
    for (const auto& h : r_.hooks) h->after_optimizer_step(view());
  if (r_.loop.empty_cache) empty_cuda_cache();
  return stop_on(guards_.after_step(ctx));
}

// The step's bookkeeping. The loss and the first and last weights' gradient norms come back in
// one read (on CUDA, one wait for the device instead of three).
TrainLoop::Next TrainLoop::record(const trainwreck::StepContext& ctx, bool skipped, double lr,
                                  std::chrono::steady_clock::time_point step_t0) {
  std::vector<at::Tensor> reads{ctx.loss.reshape({1}).to(at::kDouble)};
  const bool first = first_w_.grad().defined(), last = last_w_.grad().defined();
  if (first) reads.push_back(first_w_.grad().norm().reshape({1}).to(at::kDouble));
  if (last) reads.push_back(last_w_.grad().norm().reshape({1}).to(at::kDouble));
  const at::Tensor host = at::cat(reads).cpu();  // waits for the step's kernels on CUDA
  const double* v = host.data_ptr<double>();
  last_loss_ = v[0];
  step_seconds_.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - step_t0).count());
  json se = {{"step", step_}, {"loss", loss_json(last_loss_)}, {"lr", lr}};
  se["grad_first"] = first ? loss_json(v[1]) : json(0.0);
  if (last) se["grad_last"] = loss_json(v[first ? 2 : 1]);
  const MemoryReading mem = read_memory(device_);
  se["mem"] = mem.allocated;
  if (device_.is_cuda()) se["mem_reserved"] = mem.reserved;
  ev_.emit(EventType::kStep, se);
  if (std::isfinite(last_loss_) || skipped) return Next::kGoOn;
  // On CUDA the non-finite guard reads its flag one step late: let it report this step before
  // the loop calls the run diverged.
  if (stop_on(guards_.finish(ctx)) == Next::kStop) return Next::kStop;
  ev_.emit(EventType::kSymptom, {{"kind", to_string(SymptomKind::kNonfinite)},
                                 {"step", step_},
                                 {"message", "loss is " + loss_json(last_loss_).dump()}});
  return Next::kStop;
}

TrainLoop::Next TrainLoop::evaluate() {
  torch::NoGradGuard no_grad;
  net_->eval();
  auto [ex, ey] = data_->eval();
  if (r_.data.cast_inputs) ex = ex.to(at::kFloat);
  eval_loss_ = workload_loss(r_, net_->forward(ex), ey).item<double>();
  net_->train();
  ev_.emit(EventType::kEval, {{"step", step_}, {"eval_loss", loss_json(eval_loss_)}});
  for (const auto& h : r_.hooks) h->on_eval(view(), eval_loss_);
  if (stop_on(guards_.after_eval(step_, eval_loss_)) == Next::kStop) return Next::kStop;
  return Next::kGoOn;
}

void TrainLoop::finish() {
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count();
  const MemoryReading mem = read_memory(device_);
  json evidence = {{"train_seconds", seconds}, {"batch_size", batch_}, {"peak_alloc_bytes", mem.peak}};
  if (!step_seconds_.empty()) {
    // The median step: what a speed comparison between builds reads (evaluations, the first
    // step's warm-up and a stray slow step do not move it).
    auto mid = step_seconds_.begin() + static_cast<std::ptrdiff_t>(step_seconds_.size() / 2);
    std::nth_element(step_seconds_.begin(), mid, step_seconds_.end());
    evidence["step_seconds_median"] = *mid;
    evidence["steps_timed"] = step_seconds_.size();
  }
  if (device_.is_cuda()) evidence["peak_reserved_bytes"] = mem.peak_reserved;
  if (graphed_) evidence["cuda_graph_from_step"] = graph_from_;
  if (!graph_failed_.empty()) evidence["cuda_graph_failed"] = graph_failed_;
  if (!graph_unused_.empty()) evidence["cuda_graph_unused"] = graph_unused_;
  if (net_->body) evidence.update(net_->body->kernels());
  if (!net_->body && (r_.model.activation == Activation::kRelu || r_.model.activation == Activation::kRelu6 ||
                      r_.model.activation == Activation::kLeakyRelu))
    evidence["dead_unit_fraction"] = net_->dead_unit_fraction(data_->eval().first.to(first_w_.scalar_type()));
  for (const auto& h : r_.hooks) h->at_end(view(), evidence);
  if (scaler_) {
    evidence["loss_scale"] = scaler_->current_scale();
    evidence["scaler_skipped_steps"] = scaler_->skipped_steps();
  }
  for (const auto& h : guards_.history())
    if (!h.stop() && !h.skip()) ev_.emit(EventType::kGuard, guard_event(h, GuardAction::kWarn));
  ev_.emit(EventType::kEvidence, evidence);
  ev_.emit(EventType::kEnd, end_event(step_, r_, last_loss_, eval_loss_));
}

}  // namespace

Net train(CellEnv& env, Recipe& r) { return TrainLoop(env, r).run(); }

}  // namespace tw
