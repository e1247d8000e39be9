#pragma once
// Guards for a plain LibTorch training loop: each watches one symptom and reports a diagnosis.
// Attach them to your own loop:
//
//   trainwreck::GuardSet guards;
//   guards.add(std::make_shared<trainwreck::NonFiniteGuard>());
//   guards.add(std::make_shared<trainwreck::GradientFlowMonitor>(/*every=*/50));
//   for (int64_t step = 1; ...; ++step) {
//     auto loss = ...; loss.backward();
//     trainwreck::StepContext ctx{step, loss, *model, &optimizer};
//     auto report = guards.after_backward(ctx);      // before optimizer.step()
//     if (report.stop()) break;
//     if (report.skip()) optimizer.zero_grad(); else optimizer.step();
//     if (guards.after_step(ctx).stop()) break;
//   }
//   guards.finish(ctx);                               // reads what is still in flight
//
// Link the CMake target trainwreck::guards (find_package(trainwreck) or add_subdirectory).
//
// No guard synchronizes the host with the device on the hot path. On CUDA the non-finite flag
// and the gradient statistics are copied to pinned host memory behind the step's own work and
// read at the next call, so they arrive one step late: the guard reports the step where the
// symptom appeared (symptom_step) and the step where it saw it (step).
#include <ATen/core/Tensor.h>
#include <torch/nn/module.h>
#include <torch/optim/optimizer.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace trainwreck {

struct GuardReport {
  enum class Action { kContinue, kSkipStep, kStop };
  Action action = Action::kContinue;
  std::string guard;
  std::string message;
  int64_t step = -1;          // when it was detected
  int64_t symptom_step = -1;  // when the symptom appeared (may be earlier than step)
  nlohmann::json details;     // null unless the guard has evidence to add
  bool stop() const { return action == Action::kStop; }
  bool skip() const { return action == Action::kSkipStep; }
};

struct StepContext {
  int64_t step;
  const at::Tensor& loss;
  torch::nn::Module& model;
  torch::optim::Optimizer* optimizer = nullptr;
};

class Guard {
 public:
  virtual ~Guard() = default;
  virtual std::string name() const = 0;
  // Gradients are ready; the optimizer has not stepped yet.
  virtual GuardReport after_backward(const StepContext&) { return {}; }
  // The optimizer has stepped.
  virtual GuardReport after_step(const StepContext&) { return {}; }
  // An evaluation loss was measured (host value).
  virtual GuardReport after_eval(int64_t /*step*/, double /*eval_loss*/) { return {}; }
  // Training ended: report what is still in flight (the last step's flag on CUDA). Waits.
  virtual GuardReport finish(const StepContext&) { return {}; }
};

// NaN or Inf in the loss or any gradient (and, with check_weights, any parameter), found by
// one fused max-abs reduction per step.
//
// CPU: checked in the same step, before the optimizer steps.
// CUDA: the per-tensor maxima are copied to pinned memory without blocking and read at the
// next step, so the bad step's update has already been applied when it is seen. The policies
// account for that:
//   kStop      stops; the report names the bad step and says its update was applied.
//   kSkipStep  CPU: the step is skipped. CUDA: the weights from before the bad update are
//              restored (a snapshot on the device every step) and the step being checked,
//              whose gradients came from the bad weights, is skipped.
//   kRollback  restores the last snapshot of weights whose step was finite (one every
//              `snapshot_every` steps, and the first), lowers the LR by `rollback_lr_factor`
//              and skips the step. A snapshot a few steps back escapes a divergence that
//              built up over several steps; the previous step's weights often do not.
// Restoring weights also clears the optimizer state: momentum took in the bad gradients.
class NonFiniteGuard : public Guard {
 public:
  enum class Policy { kStop, kSkipStep, kRollback };
  struct Options {
    Policy policy = Policy::kStop;
    double rollback_lr_factor = 0.1;
    int64_t snapshot_every = 10;
    bool check_weights = false;
  };
  explicit NonFiniteGuard(Policy policy = Policy::kStop, double rollback_lr_factor = 0.1);
  explicit NonFiniteGuard(const Options& options);
  ~NonFiniteGuard() override;
  std::string name() const override { return "nonfinite_guard"; }
  GuardReport after_backward(const StepContext& ctx) override;
  GuardReport finish(const StepContext& ctx) override;
  int64_t rollbacks() const { return rollbacks_; }
  // Steps whose flag was read on the host (all steps checked, less at most one on CUDA).
  int64_t checked_steps() const { return checked_; }

 private:
  struct State;
  GuardReport on_nonfinite(int64_t symptom_step, const std::string& tensor, bool late, const StepContext& ctx);
  Options options_;
  std::unique_ptr<State> state_;
  int64_t rollbacks_ = 0;
  int64_t checked_ = 0;
};

// Per-layer gradient norms every `every` steps (one fused multi-tensor norm per report; on
// CUDA read one step later without blocking). Stops when the first layers' gradients vanish
// (norm below `vanishing` while the last layer's is not) and names them.
class GradientFlowMonitor : public Guard {
 public:
  explicit GradientFlowMonitor(int64_t every = 10, double vanishing = 1e-7, bool stop = true);
  ~GradientFlowMonitor() override;
  std::string name() const override { return "gradient_flow_monitor"; }
  GuardReport after_backward(const StepContext& ctx) override;
  GuardReport finish(const StepContext& ctx) override;
  // Norms of the last report, by parameter name.
  const nlohmann::json& last_norms() const { return last_; }

 private:
  struct State;
  GuardReport evaluate(const std::vector<std::string>& names, const std::vector<double>& norms, int64_t symptom_step,
                       int64_t step);
  GuardReport read_pending(int64_t step);
  int64_t every_;
  double vanishing_;
  bool stop_;
  nlohmann::json last_;
  std::unique_ptr<State> state_;
};

// After the first backward, every trainable parameter must have a non-zero gradient;
// otherwise the graph is broken (a detach, a branch never used) and the parameters are named.
// Runs once, so its one synchronization is off the hot path.
class GradientFlowAudit : public Guard {
 public:
  std::string name() const override { return "gradient_flow_audit"; }
  GuardReport after_backward(const StepContext& ctx) override;

 private:
  bool done_ = false;
};

// Memory growth per step, estimated robustly (median of pairwise slopes) over a window, projected
// against a memory budget: it stops when memory grows steadily at a rate that would exhaust
// `budget_bytes` within a million steps (tw::kLeakProjectionSteps, the rule the harness's leak
// verdict uses), so one setting serves every model: 1 MiB a step and 2 KiB a step are both leaks
// against 1 GiB, a constant footprint of any size is not. `budget_bytes` 0 means the host's
// physical memory (pass the GPU's memory for a CUDA run). `memory_bytes` defaults to the device
// caching allocator's allocated bytes when the loss is on CUDA and to the process's resident
// memory otherwise; resident memory is sampled from the end of a warm-up of one window (it climbs
// while a process warms up), an allocator's count from the first step.
class LeakGuard : public Guard {
 public:
  explicit LeakGuard(int64_t budget_bytes = 0, int64_t window = 12, std::function<int64_t()> memory_bytes = {});
  // The budget read when the guard first runs (a budget set up after the guard was made).
  LeakGuard(std::function<int64_t()> budget_bytes, int64_t window, std::function<int64_t()> memory_bytes);
  std::string name() const override { return "leak_guard"; }
  GuardReport after_step(const StepContext& ctx) override;

 private:
  int64_t window_;
  std::function<int64_t()> budget_fn_;
  double budget_ = -1;
  std::function<int64_t()> memory_;
  std::vector<std::pair<int64_t, int64_t>> samples_;  // ring buffer of (step, bytes)
  std::size_t next_ = 0;
  int64_t warmup_ = 0;  // steps still to skip before sampling
};

// The training loss exceeds `factor` times its first value (or is not finite): a blow-up,
// caught whether or not the values ever overflow. A loose clipping threshold, for one, keeps a
// divergence finite, and a non-finite check never fires. Reads the loss on the host each step
// (one sync on CUDA).
class LossSpikeGuard : public Guard {
 public:
  explicit LossSpikeGuard(double factor = 10.0);
  std::string name() const override { return "loss_spike_guard"; }
  GuardReport after_backward(const StepContext& ctx) override;

 private:
  double factor_;
  double first_ = -1;  // the first finite loss seen
};

// The evaluation loss has not improved by `min_relative` over `window` evaluations.
class StallDetector : public Guard {
 public:
  explicit StallDetector(int64_t window = 5, double min_relative = 0.01);
  std::string name() const override { return "stall_detector"; }
  GuardReport after_eval(int64_t step, double eval_loss) override;

 private:
  int64_t window_;
  double min_relative_;
  std::vector<double> history_;
};

// Runs guards in order; the first that stops wins, otherwise the last that skips.
class GuardSet {
 public:
  void add(std::shared_ptr<Guard> guard) { guards_.push_back(std::move(guard)); }
  bool empty() const { return guards_.empty(); }
  GuardReport after_backward(const StepContext& ctx);
  GuardReport after_step(const StepContext& ctx);
  GuardReport after_eval(int64_t step, double eval_loss);
  GuardReport finish(const StepContext& ctx);
  // Every report a guard made that was not kContinue, in order (warnings included).
  const std::vector<GuardReport>& history() const { return history_; }

 private:
  template <typename F>
  GuardReport each(F&& f);
  std::vector<std::shared_ptr<Guard>> guards_;
  std::vector<GuardReport> history_;
};

// Resident memory of this process (bytes), from /proc/self/statm.
int64_t resident_memory_bytes();

}  // namespace trainwreck
