#include "kernel/trainer.h"

#include <ATen/autocast_mode.h>
#include <c10/util/Exception.h>

#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <optional>
#include <sstream>

#include "kernel/custom_tanh.h"
#include "kernel/data.h"
#include "kernel/grad_scaler.h"
#include "kernel/graphed_step.h"
#include "kernel/memory.h"
#include "kernel/model.h"
#include "trainwreck/guards.h"

namespace tw {
using nlohmann::json;

namespace {

constexpr double kPi = 3.14159265358979323846;
// Eager steps before a step is captured as a CUDA graph: lazy initialization (cuBLAS handles and
// workspaces, the optimizer's momentum buffers) happens outside the capture.
constexpr int64_t kEagerStepsBeforeCapture = 3;

double scheduled_lr(const Recipe& r, int64_t step) {
  if (r.schedule != "warmup_cosine") return r.lr;
  if (step <= r.warmup_steps) return r.lr * static_cast<double>(step) / static_cast<double>(std::max<int64_t>(1, r.warmup_steps));
  const double t = static_cast<double>(step - r.warmup_steps) / static_cast<double>(std::max<int64_t>(1, r.steps - r.warmup_steps));
  return r.lr * 0.5 * (1 + std::cos(kPi * std::min(1.0, t)));
}

void set_lr(torch::optim::Optimizer& opt, double lr) {
  for (auto& group : opt.param_groups()) group.options().set_lr(lr);
}

struct AutocastScope {
  AutocastScope(const std::string& mode, c10::Device device) : device_type(device.type()) {
    if (mode == "none") return;
    enabled = true;
    previous_dtype = at::autocast::get_autocast_dtype(device_type);
    at::autocast::set_autocast_enabled(device_type, true);
    at::autocast::set_autocast_dtype(device_type, mode == "fp16" ? at::kHalf : at::kBFloat16);
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

json guard_event(const trainwreck::GuardReport& r, const char* action) {
  json e = {{"guard", r.guard}, {"action", action}, {"step", r.step}, {"message", r.message}};
  if (r.symptom_step >= 0) e["symptom_step"] = r.symptom_step;
  if (!r.details.empty()) e["details"] = r.details;
  return e;
}

const char* action_name(const trainwreck::GuardReport& r) {
  return r.stop() ? "stop" : r.skip() ? "skip" : "warn";
}

// The largest batch whose forward and backward fit: halving from the recipe's batch, then
// bisection; 10 % is left for optimizer state and fragmentation.
int64_t find_batch_size(Net& net, const Dataset& data, const Recipe& r, c10::Device device, json& trials) {
  auto fits = [&](int64_t b) {
    bool ok = true;
    try {
      auto [x, y] = data.batch(1, b);
      if (r.cast_inputs) x = x.to(at::kFloat);
      at::mse_loss(net->forward(x).to(at::kFloat), y).backward();
    } catch (const c10::OutOfMemoryError&) {
      ok = false;
    }
    net->zero_grad(/*set_to_none=*/true);
    if (device.is_cuda()) empty_cuda_cache();
    trials.push_back({{"batch", b}, {"fits", ok}});
    return ok;
  };
  int64_t good = r.batch_size;
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
  return std::max<int64_t>(1, good * 9 / 10);
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
    set_lr(*optimizer, lr);
    optimizer->zero_grad();
    auto [x, y] = data.batch(i + 1, r.batch_size);
    if (r.cast_inputs) x = x.to(at::kFloat);
    at::Tensor loss = at::mse_loss(net->forward(x).to(at::kFloat), y);
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

// A data source that stops producing: a pipe nobody writes, read the way a loader waits on
// its workers' queue. With a deadline the wait gives up; without one it blocks for good.
class StalledSource {
 public:
  StalledSource() {
    if (pipe(fds_) != 0) fds_[0] = fds_[1] = -1;
  }
  ~StalledSource() {
    for (int fd : fds_)
      if (fd >= 0) close(fd);
  }
  // True when a batch arrived (never, here); false when the deadline passed.
  bool wait(double timeout_s) const {
    pollfd p{fds_[0], POLLIN, 0};
    const int ms = timeout_s > 0 ? static_cast<int>(timeout_s * 1000) : -1;
    int n;
    do {
      n = poll(&p, 1, ms);
    } while (n < 0 && errno == EINTR);
    return n > 0;
  }

 private:
  int fds_[2];
};

}  // namespace

std::unique_ptr<torch::optim::Optimizer> make_optimizer(const Recipe& r, Net& net) {
  if (r.optimizer == "adam") return std::make_unique<torch::optim::Adam>(net->parameters(), torch::optim::AdamOptions(r.lr));
  return std::make_unique<torch::optim::SGD>(net->parameters(), torch::optim::SGDOptions(r.lr).momentum(r.momentum));
}

bool TargetHold::observe(const Recipe& r, int64_t step, double eval_loss) {
  if (!(std::isfinite(eval_loss) && eval_loss <= r.target_loss)) {
    streak = 0;
    streak_start = -1;
    return false;
  }
  if (streak_start < 0) streak_start = step;
  if (++streak < r.target_hold_evals || reached_step >= 0) return false;
  reached_step = streak_start;
  return true;
}

json end_event(int64_t steps, const Recipe& r, double last_loss, double eval_loss, int64_t reached_step) {
  json end = {{"steps", std::min(steps, r.steps)},
              {"target_loss", r.target_loss},
              {"final_loss", loss_json(last_loss)},
              {"final_eval_loss", loss_json(eval_loss)},
              {"reached_target", reached_step > 0}};
  if (reached_step > 0) end["reached_step"] = reached_step;
  return end;
}

json loss_json(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  return v;
}

Net train(CellEnv& env, Recipe& r) {
  Net trained{nullptr};
  const EventWriter& ev = env.events;
  const c10::Device device = env.device;
  int64_t step = 0;
  try {
    // A step replayed as a CUDA graph: the whole run stays on one side stream.
    const std::string graph_unused = r.cuda_graph && device.is_cuda() ? graph_ineligible_reason(r) : "";
    const bool graph_wanted = r.cuda_graph && device.is_cuda() && graph_unused.empty();
    std::optional<SideStream> side_stream;
    if (graph_wanted) side_stream.emplace(device);
    Dataset data(r, env.seed, device);
    torch::manual_seed(env.seed);
    Net net(r);
    net->to(device);
    trained = net;
    auto optimizer = make_optimizer(r, net);
    trainwreck::GuardSet guards;
    for (auto& g : r.guards) guards.add(g);
    auto [first_w, last_w] = first_and_last_weights(net);
    int64_t params = 0;
    for (const auto& p : net->parameters()) params += p.numel();
    ev.emit("start", {{"device", device.str()}, {"parameters", params}, {"recipe", r.to_json()}});

    if (r.gradcheck && (r.activation == "custom_tanh" || r.activation == "custom_tanh_wrong")) {
      const GradcheckResult check = gradcheck_custom_tanh(r.activation == "custom_tanh_wrong");
      ev.emit("evidence", {{"gradcheck_max_abs_error", check.max_abs_error}});
      if (!check.passed) {
        std::ostringstream msg;
        msg << "gradcheck failed for the custom autograd function CustomTanh (activation " << r.activation
            << "): max |analytic - numeric| = " << check.max_abs_error;
        ev.emit("guard", {{"guard", "gradcheck"}, {"action", "stop"}, {"step", 0}, {"symptom_step", 0},
                          {"message", msg.str()}});
        return trained;
      }
    }
    if (r.lr_range_test) {
      json found = json::object();
      r.lr = lr_range_test(net, data, r, found);
      optimizer = make_optimizer(r, net);
      ev.emit("evidence", found);
    }
    int64_t batch = r.batch_size;
    if (r.auto_batch_size) {
      json trials = json::array();
      batch = find_batch_size(net, data, r, device, trials);
      ev.emit("evidence", {{"auto_batch_size", batch}, {"auto_batch_trials", trials}});
      if (batch == 0) {
        ev.emit("error", {{"kind", "oom"}, {"step", 0}, {"message", "not even a batch of 1 fits the memory budget"}});
        return trained;
      }
    }
    const int64_t accum = r.accumulation_steps;
    std::vector<at::Tensor> kept_tensors;  // what the leak faults keep alive
    std::vector<double> kept_values;
    double last_loss = NAN, eval_loss = NAN;
    TargetHold target;
    const auto t0 = std::chrono::steady_clock::now();

    // fp16 autocast needs dynamic loss scaling; bf16 has fp32's range and does not.
    std::optional<GradScaler> scaler;
    if (r.autocast == "fp16") scaler.emplace();
    at::Tensor carried;  // the running state of carry_state
    bool dtype_stop = false;
    double lr_factor = 1.0;  // a guard that lowers the LR scales the schedule from then on
    double lr_set = NAN;
    std::vector<double> step_seconds;  // each step's wall time, to the loss read that ends it
    step_seconds.reserve(static_cast<std::size_t>(std::max<int64_t>(r.steps, 0)));
    std::unique_ptr<GraphedStep> graphed;
    int64_t graph_from = 0;
    std::string graph_failed;
    // With a constant LR the optimizer step is part of the graph; a schedule steps eagerly.
    const bool step_in_graph = r.schedule == "constant";
    const GraphedStep::Body graph_body = [&](const at::Tensor& x, const at::Tensor& y) {
      optimizer->zero_grad();
      at::Tensor loss = at::mse_loss(net->forward(x).to(at::kFloat), y) / static_cast<double>(accum);
      loss.backward();
      if (step_in_graph) optimizer->step();
      return loss.detach();
    };
    for (step = 1; step <= r.steps; ++step) {
      const auto step_t0 = std::chrono::steady_clock::now();
      const double current = optimizer->param_groups().front().options().get_lr();
      if (std::isfinite(lr_set) && current != lr_set) lr_factor *= current / lr_set;
      const double lr = scheduled_lr(r, step) * lr_factor;
      set_lr(*optimizer, lr);
      lr_set = lr;
      at::Tensor loss_sum;
      bool replayed = false;
      if (graph_wanted && graph_failed.empty() && step > kEagerStepsBeforeCapture) {
        auto [x, y] = data.batch(step, batch, 0, 1);
        if (r.cast_inputs) x = x.to(at::kFloat);
        if (!graphed) {
          try {
            graphed = GraphedStep::capture(graph_body, x, y);
            graph_from = step;
          } catch (const c10::Error& e) {
            graph_failed = first_line(e.what_without_backtrace());
          }
        }
        if (graphed) {
          loss_sum = graphed->run(x, y);
          if (!step_in_graph) optimizer->step();
          replayed = true;
        }
      }
      if (!replayed) optimizer->zero_grad();
      if (r.loader_stall_step > 0 && step >= r.loader_stall_step) {
        StalledSource source;
        if (!source.wait(r.loader_timeout_s)) {
          std::ostringstream msg;
          msg << "no batch from the data source within " << r.loader_timeout_s << " s at step " << step;
          ev.emit("guard", {{"guard", "loader_timeout"}, {"action", "stop"}, {"step", step}, {"symptom_step", step},
                            {"message", msg.str()}});
          break;
        }
      }
      if (!replayed) {
        AutocastScope autocast(r.autocast, device);
        for (int64_t m = 0; m < accum; ++m) {
          auto [x, y] = data.batch(step, batch, m, accum);
          if (r.cast_inputs) x = x.to(at::kFloat);
          if (r.dtype_check && x.scalar_type() != first_w.scalar_type()) {
            std::ostringstream msg;
            msg << "input dtype " << x.scalar_type() << " does not match the model's " << first_w.scalar_type()
                << " (cast the inputs, or the model)";
            ev.emit("guard", {{"guard", "dtype_check"}, {"action", "stop"}, {"step", step}, {"symptom_step", step},
                              {"message", msg.str()}});
            dtype_stop = true;
            break;
          }
          at::Tensor out = net->forward(x);
          at::Tensor loss = at::mse_loss(out.to(at::kFloat), y) / static_cast<double>(accum);
          if (r.carry_state) {
            // A running summary of the hidden activations, penalized lightly; without the
            // detach its graph chains every earlier step to this one.
            at::Tensor summary = net->first_activation(x).mean(0);
            carried = carried.defined() ? 0.5 * carried + summary : summary;
            loss = loss + 1e-3 * carried.pow(2).mean();
          }
          (scaler ? scaler->scale(loss) : loss).backward();
          if (r.carry_state && r.detach_state) carried = carried.detach();
          loss_sum = loss_sum.defined() ? loss_sum + loss.detach() : loss.detach();
        }
      }
      if (dtype_stop) break;
      if (r.leak != "none" && !replayed) {
        // A monitoring pass whose result is kept: with autograd on, it keeps its whole graph.
        std::optional<torch::NoGradGuard> no_grad;
        if (r.no_grad_eval) no_grad.emplace();
        auto [x, y] = data.batch(step + 7919, r.leak_batch);
        if (r.cast_inputs) x = x.to(at::kFloat);
        if (r.leak == "eval_loss_history") {
          at::Tensor monitor = at::mse_loss(net->forward(x), y);
          if (r.keep_items_not_tensors) kept_values.push_back(monitor.item<double>());
          else kept_tensors.push_back(monitor);
        } else if (r.keep_items_not_tensors) {
          // The statistic a monitor logs, as a number: nothing of the batch stays alive.
          kept_values.push_back(net->first_activation(x).mean().item<double>());
        } else {
          kept_tensors.push_back(net->first_activation(x));
        }
      }
      if (scaler) scaler->unscale(*optimizer);  // guards and clipping see true gradients
      trainwreck::StepContext ctx{step, loss_sum, *net, optimizer.get()};
      trainwreck::GuardReport report = guards.after_backward(ctx);
      if (report.stop()) {
        ev.emit("guard", guard_event(report, "stop"));
        break;
      }
      const bool skipped = report.skip();
      if (replayed) {
        // The graph ran the step (and the optimizer's, unless a schedule steps it above).
      } else if (skipped) {
        ev.emit("guard", guard_event(report, action_name(report)));
        optimizer->zero_grad();
        // The scaler unscaled this step's gradients: close its step (backing off when it saw an
        // overflow), or the next step's gradients would not be unscaled.
        if (scaler) scaler->update();
      } else {
        if (r.clip_norm > 0) torch::nn::utils::clip_grad_norm_(net->parameters(), r.clip_norm);
        if (scaler) {
          scaler->step(*optimizer);
          scaler->update();
        } else {
          optimizer->step();
        }
      }
      if (r.empty_cache) {
        kept_tensors.shrink_to_fit();
        empty_cuda_cache();
      }
      report = guards.after_step(ctx);
      if (report.stop()) {
        ev.emit("guard", guard_event(report, "stop"));
        break;
      }

      last_loss = loss_sum.item<double>();  // waits for the step's kernels on CUDA
      step_seconds.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - step_t0).count());
      json se = {{"step", step}, {"loss", loss_json(last_loss)}, {"lr", lr}};
      if (first_w.grad().defined()) se["grad_first"] = loss_json(first_w.grad().norm().item<double>());
      else se["grad_first"] = 0.0;
      if (last_w.grad().defined()) se["grad_last"] = loss_json(last_w.grad().norm().item<double>());
      const MemoryReading mem = read_memory(device);
      se["mem"] = mem.allocated;
      if (device.is_cuda()) se["mem_reserved"] = mem.reserved;
      ev.emit("step", se);
      if (!std::isfinite(last_loss) && !skipped) {
        // On CUDA the non-finite guard reads its flag one step late: let it report this step
        // before the loop calls the run diverged.
        const trainwreck::GuardReport late = guards.finish(ctx);
        if (late.stop()) {
          ev.emit("guard", guard_event(late, "stop"));
          break;
        }
        ev.emit("symptom", {{"kind", "nonfinite"}, {"step", step}, {"message", "loss is " + loss_json(last_loss).dump()}});
        break;
      }

      if (step % r.eval_every == 0 || step == r.steps) {
        torch::NoGradGuard no_grad;
        net->eval();
        auto [ex, ey] = data.eval();
        if (r.cast_inputs) ex = ex.to(at::kFloat);
        eval_loss = at::mse_loss(net->forward(ex).to(at::kFloat), ey).item<double>();
        net->train();
        ev.emit("eval", {{"step", step}, {"eval_loss", loss_json(eval_loss)}});
        report = guards.after_eval(step, eval_loss);
        if (report.stop()) {
          ev.emit("guard", guard_event(report, "stop"));
          break;
        }
        if (target.observe(r, step, eval_loss) && r.stop_at_target) break;
      }
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const MemoryReading mem = read_memory(device);
    json evidence = {{"train_seconds", seconds}, {"batch_size", batch}, {"peak_alloc_bytes", mem.peak}};
    if (!step_seconds.empty()) {
      // The median step: what a speed comparison between builds reads (evaluations, the first
      // step's warm-up and a stray slow step do not move it).
      auto mid = step_seconds.begin() + static_cast<std::ptrdiff_t>(step_seconds.size() / 2);
      std::nth_element(step_seconds.begin(), mid, step_seconds.end());
      evidence["step_seconds_median"] = *mid;
      evidence["steps_timed"] = step_seconds.size();
    }
    if (device.is_cuda()) evidence["peak_reserved_bytes"] = mem.peak_reserved;
    if (graphed) evidence["cuda_graph_from_step"] = graph_from;
    if (!graph_failed.empty()) evidence["cuda_graph_failed"] = graph_failed;
    if (!graph_unused.empty()) evidence["cuda_graph_unused"] = graph_unused;
    if (r.activation == "relu" || r.activation == "relu6" || r.activation == "leaky_relu")
      evidence["dead_unit_fraction"] = net->dead_unit_fraction(data.eval().first.to(first_w.scalar_type()));
    if (!kept_values.empty()) evidence["kept_loss_values"] = kept_values.size();
    if (scaler) {
      evidence["loss_scale"] = scaler->current_scale();
      evidence["scaler_skipped_steps"] = scaler->skipped_steps();
    }
    for (const auto& h : guards.history())
      if (!h.stop() && !h.skip()) ev.emit("guard", guard_event(h, "warn"));
    ev.emit("evidence", evidence);
    // A run that went on after the target (stop_at_target off) must still be there at the end.
    if (!r.stop_at_target && target.streak == 0) target.reached_step = -1;
    ev.emit("end", end_event(step, r, last_loss, eval_loss, target.reached_step));
  } catch (const c10::OutOfMemoryError& e) {
    const MemoryReading mem = read_memory(device);
    ev.emit("evidence", {{"peak_alloc_bytes", mem.peak}});
    ev.emit("error", {{"kind", "oom"}, {"step", step}, {"message", first_line(e.what_without_backtrace())}});
  } catch (const c10::Error& e) {
    ev.emit("error", {{"kind", "exception"}, {"step", step}, {"message", first_line(e.what_without_backtrace())}});
  }
  return trained;
}

}  // namespace tw
