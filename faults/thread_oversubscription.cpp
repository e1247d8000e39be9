// The cell runs far more intra-op threads than it has cores, while other cells share the same
// cores: every parallel region waits for threads that are not scheduled. The step rate is the
// evidence; it is noisy because the matrix runs cells side by side.
#include <ATen/Parallel.h>

#include <algorithm>
#include <chrono>

#include "backend/registry.h"
#include "backend/run_context.h"
#include "backend/trainer.h"
#include "trainwreck/guards.h"

namespace tw {
namespace {

// Wall time between consecutive optimizer steps.
class StepTimer : public trainwreck::Guard {
 public:
  std::string name() const override { return "step_timer"; }
  trainwreck::GuardReport after_step(const trainwreck::StepContext&) override {
    const auto now = std::chrono::steady_clock::now();
    if (seen_) step_ms_.push_back(std::chrono::duration<double, std::milli>(now - last_).count());
    last_ = now;
    seen_ = true;
    return {};
  }
  nlohmann::json evidence() const {
    if (step_ms_.empty()) return nlohmann::json::object();
    std::vector<double> sorted = step_ms_;
    std::sort(sorted.begin(), sorted.end());
    double total = 0;
    for (double ms : step_ms_) total += ms;
    return {{"median_step_ms", sorted[sorted.size() / 2]},
            {"p90_step_ms", sorted[sorted.size() * 9 / 10]},
            {"steps_per_second", 1000.0 * static_cast<double>(step_ms_.size()) / total}};
  }

 private:
  std::vector<double> step_ms_;
  std::chrono::steady_clock::time_point last_;
  bool seen_ = false;
};

struct ThreadOversubscription : Fault {
  void apply(Recipe& r, const nlohmann::json& p) const override {
    const int64_t threads = param_int(p, "threads", 0);
    r.loop.intra_op_threads = threads > 0 ? threads : param_int(p, "per_core", 4) * usable_cores();
  }
  void run(CellEnv& env, Recipe& recipe) const override {
    auto timer = std::make_shared<StepTimer>();
    recipe.guards.push_back(timer);
    train(env, recipe);
    nlohmann::json e = timer->evidence();
    e["intra_op_threads"] = at::get_num_threads();
    e["usable_cores"] = usable_cores();
    env.events.emit(EventType::kEvidence, e);
  }
};

}  // namespace
TW_REGISTER_FAULT(
    ThreadOversubscription,
    {"thread_oversubscription",
     "intra-op threads far beyond the cores, next to other cells",
     "hardware",
     {{"threads",
       ParamSpec::Type::kInteger,
       0,
       4096,
       false,
       {},
       "intra-op threads of the cell (0: per_core x usable cores)"},
      {"per_core", ParamSpec::Type::kInteger, 1, 256, false, {}, "threads per usable core when threads is 0"}}});
}  // namespace tw
