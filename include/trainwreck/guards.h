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
//     if (guards.after_backward(ctx).stop()) break;   // before optimizer.step()
//     optimizer.step();
//     if (guards.after_step(ctx).stop()) break;
//   }
//
// No guard synchronizes the host with the device on the hot path unless its report interval
// asks it to (gradient statistics every N steps); the non-finite check reads its flag
// asynchronously on CUDA, with at most one step of latency.
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
  nlohmann::json details = nlohmann::json::object();
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
};

// NaN or Inf in the loss or any gradient. CPU: checked in the same step. CUDA: a device-side
// flag is copied to pinned memory without blocking and read at the next step.
class NonFiniteGuard : public Guard {
 public:
  enum class Policy { kStop, kSkipStep, kRollback };
  explicit NonFiniteGuard(Policy policy = Policy::kStop, double rollback_lr_factor = 0.1);
  std::string name() const override { return "nonfinite_guard"; }
  GuardReport after_backward(const StepContext& ctx) override;
  GuardReport after_step(const StepContext& ctx) override;
  int64_t rollbacks() const { return rollbacks_; }

 private:
  GuardReport check(bool finite, int64_t symptom_step, const StepContext& ctx);
  Policy policy_;
  double lr_factor_;
  at::Tensor pending_;        // pinned host flag of the previous CUDA step
  int64_t pending_step_ = -1;
  std::vector<at::Tensor> good_weights_;
  int64_t rollbacks_ = 0;
};

// Per-layer gradient norms every `every` steps (one fused norm and one sync per report).
// Stops when the first layers' gradients vanish (norm below `vanishing` while the last
// layer's is not) and names them.
class GradientFlowMonitor : public Guard {
 public:
  explicit GradientFlowMonitor(int64_t every = 10, double vanishing = 1e-7, bool stop = true);
  std::string name() const override { return "gradient_flow_monitor"; }
  GuardReport after_backward(const StepContext& ctx) override;
  const nlohmann::json& last_norms() const { return last_; }

 private:
  int64_t every_;
  double vanishing_;
  bool stop_;
  nlohmann::json last_;
};

// After the first backward, every trainable parameter must have a non-zero gradient;
// otherwise the graph is broken (a detach, a branch never used) and the parameters are named.
class GradientFlowAudit : public Guard {
 public:
  std::string name() const override { return "gradient_flow_audit"; }
  GuardReport after_backward(const StepContext& ctx) override;

 private:
  bool done_ = false;
};

// Memory growth per step, estimated robustly (median of pairwise slopes) over a window.
// `memory_bytes` defaults to the CUDA caching allocator's allocated bytes on CUDA and the
// process's resident memory on the CPU.
class LeakGuard : public Guard {
 public:
  explicit LeakGuard(int64_t window = 12, double bytes_per_step = 1 << 20,
                     std::function<int64_t()> memory_bytes = {});
  std::string name() const override { return "leak_guard"; }
  GuardReport after_step(const StepContext& ctx) override;

 private:
  int64_t window_;
  double threshold_;
  std::function<int64_t()> memory_;
  std::vector<std::pair<int64_t, int64_t>> samples_;
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

// Runs guards in order; the first that stops or skips wins.
class GuardSet {
 public:
  void add(std::shared_ptr<Guard> guard) { guards_.push_back(std::move(guard)); }
  bool empty() const { return guards_.empty(); }
  GuardReport after_backward(const StepContext& ctx);
  GuardReport after_step(const StepContext& ctx);
  GuardReport after_eval(int64_t step, double eval_loss);
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
