// The run is compared with a baseline recorded in another environment. Here the baseline is
// trained first, in the same cell, with the pinned numerics settings (1 intra-op thread,
// deterministic algorithms, no TF32, float32 matmuls); the run itself then trains in the drifted
// environment (matmuls in bfloat16, as a stack that lowered a default precision runs them; more
// threads; TF32 on CUDA; deterministic algorithms off) and its loss trace is compared with the
// baseline's, step by step, within a relative tolerance: other reduction orders move a loss by a
// few units in the last place, which depends on the host (AMD and Intel CPUs differ); bfloat16
// matmuls move it by about 1e-3 to 1e-2 on every host, which is a change of behaviour.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <sstream>

#include "backend/registry.h"
#include "backend/run_context.h"
#include "backend/trainer.h"
#include "trainwreck/guards.h"

namespace tw {
namespace {
using nlohmann::json;

class LossTrace : public trainwreck::Guard {
 public:
  std::string name() const override { return "loss_trace"; }
  trainwreck::GuardReport after_step(const trainwreck::StepContext& ctx) override {
    losses.push_back(ctx.loss.item<double>());
    return {};
  }
  std::vector<double> losses;
};

std::vector<double> trained_trace(CellEnv& env, Recipe recipe, const EventWriter& events,
                                  std::vector<std::shared_ptr<trainwreck::Guard>> guards) {
  auto trace = std::make_shared<LossTrace>();
  recipe.guards = std::move(guards);
  recipe.guards.push_back(trace);
  CellEnv run_env{env.cell, events, env.device};
  run_env.seed = env.seed;
  run_env.rank = env.rank;
  run_env.world_size = env.world_size;
  run_env.memory_budget_bytes = env.memory_budget_bytes;
  run_env.mitigation = env.mitigation;
  run_env.mitigation_params = env.mitigation_params;
  train(run_env, recipe);
  return trace->losses;
}

// Relative loss difference that still counts as the same behaviour: far above a reordered sum
// (about 1e-7) and far below a bfloat16 matmul's (1e-3 to 1e-2 from the first step).
constexpr double kTolerance = 1e-4;

std::string number(double v) {
  std::ostringstream s;
  s.precision(9);
  s << v;
  return s.str();
}

struct VersionDrift : Fault {
  void apply(Recipe& r, const json& p) const override { r.loop.intra_op_threads = param_int(p, "threads", 4); }

  void run(CellEnv& env, Recipe& recipe) const override {
    apply_run_context({{"device", env.device.str()},
                       {"intra_op_threads", 1},
                       {"deterministic_algorithms", true},
                       {"allow_tf32_cublas", false},
                       {"matmul_dtype", "Float"}});
    const json baseline_context = record_run_context(env.device);
    std::vector<double> baseline;
    {
      const int null_fd = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
      const EventWriter quiet(null_fd);
      baseline = trained_trace(env, recipe, quiet, {});
      if (null_fd >= 0) ::close(null_fd);
    }
    if (baseline.empty()) {
      env.events.error(ErrorKind::kException, "the baseline run produced no step");
      return;
    }

    const json& p = env.cell.value("fault_params", json::object());
    apply_run_context(
        {{"device", env.device.str()},
         {"intra_op_threads", recipe.loop.intra_op_threads},
         {"deterministic_algorithms", param_bool(p, "deterministic", false)},
         {"allow_tf32_cublas", param_bool(p, "tf32", true)},
         {"matmul_dtype", param_str(p, "matmul_dtype", "bfloat16") == "bfloat16" ? "BFloat16" : "Float"}});
    const json drifted_context = record_run_context(env.device);
    json evidence = {{"injected_changes", diff_run_context(baseline_context, drifted_context)}};
    if (recipe.checks.pin_environment) apply_run_context(baseline_context);
    const json run_context = record_run_context(env.device);
    if (recipe.checks.context_check || recipe.checks.pin_environment) {
      evidence["baseline_context"] = baseline_context;
      evidence["run_context"] = run_context;
    }
    env.events.emit(EventType::kEvidence, evidence);
    if (recipe.checks.context_check) {
      const auto changes = diff_run_context(baseline_context, run_context);
      if (!changes.empty()) {
        std::string message = "the run's environment differs from the baseline's:";
        for (std::size_t i = 0; i < changes.size(); ++i) message += (i ? "; " : " ") + changes[i];
        env.events.emit(EventType::kGuard, {{"guard", "context_check"},
                                            {"action", to_string(GuardAction::kStop)},
                                            {"step", 0},
                                            {"message", message},
                                            {"details", {{"changed", changes}}}});
        return;
      }
    }

    const std::vector<double> run = trained_trace(env, recipe, env.events, recipe.guards);
    const double tolerance = param(p, "tolerance", kTolerance);
    const std::size_t n = std::min(baseline.size(), run.size());
    int64_t first = -1;
    double max_diff = 0;
    for (std::size_t i = 0; i < n; ++i) {
      const double d = std::fabs(run[i] - baseline[i]);
      max_diff = std::max(max_diff, d);
      if (first < 0 && !(d <= tolerance * std::max(std::fabs(run[i]), std::fabs(baseline[i]))))
        first = static_cast<int64_t>(i);
    }
    json cmp = {{"baseline_steps", baseline.size()},
                {"run_steps", run.size()},
                {"steps_compared", n},
                {"max_abs_loss_diff", max_diff},
                {"tolerance", tolerance}};
    const bool same_length = baseline.size() == run.size();
    cmp["loss_trace_matches_baseline"] = first < 0 && same_length;
    if (first >= 0) cmp["first_differing_step"] = first + 1;
    env.events.emit(EventType::kEvidence, cmp);
    if (first < 0 && same_length) return;
    std::string message;
    if (first >= 0)
      message = "loss differs from the baseline's from step " + std::to_string(first + 1) + " (" + number(run[first]) +
                " vs " + number(baseline[first]) + ", max |diff| " + number(max_diff) + " over " + std::to_string(n) +
                " steps)";
    else
      message =
          "the run took " + std::to_string(run.size()) + " steps, the baseline " + std::to_string(baseline.size());
    message += "; nothing recorded with the run says what changed";
    env.events.error(ErrorKind::kException, message, {{"step", first >= 0 ? first + 1 : static_cast<int64_t>(n)}});
  }
};

}  // namespace
TW_REGISTER_FAULT(
    VersionDrift,
    {"version_drift",
     "the run's numerics environment differs from its baseline's",
     "framework / environment",
     {{"threads", ParamSpec::Type::kInteger, 1, 4096, false, {}, "intra-op threads of the run (the baseline used 1)"},
      {"deterministic", ParamSpec::Type::kBool, 0, 1, false, {}, "deterministic algorithms in the run"},
      {"tf32", ParamSpec::Type::kBool, 0, 1, false, {}, "TF32 matmuls (cuBLAS) in the run"},
      {"matmul_dtype", ParamSpec::Type::kString, 0, 0, false, {"float32", "bfloat16"}, "precision of the run's matmuls"},
      {"tolerance", ParamSpec::Type::kNumber, 0, 1, false, {}, "relative loss difference that still matches (default 1e-4)"}}});
}  // namespace tw
