#include "backend/data_parallel.h"

#include <c10/util/Exception.h>
#include <torch/cuda.h>

#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdlib>
#include <exception>
#include <torch/csrc/distributed/c10d/ProcessGroup.hpp>
#include <torch/csrc/distributed/c10d/Store.hpp>
#include <torch/csrc/distributed/c10d/logger.hpp>
#include <torch/csrc/distributed/c10d/reducer.hpp>
#include <type_traits>

#include "backend/collective.h"
#include "backend/data.h"
#include "backend/device_mapping.h"
#include "backend/errors.h"
#include "backend/memory.h"
#include "backend/model.h"
#include "backend/process_group.h"
#include "backend/trainer.h"
#include "backend/workloads.h"

namespace tw {
using nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

std::string env_text(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::string(v) : fallback;
}

// DDP's defaults (torch.nn.parallel.DistributedDataParallel): a first bucket of 1 MiB, then 25 MiB.
constexpr int64_t kFirstBucketBytes = 1 << 20;
constexpr int64_t kBucketBytes = 25 << 20;

// DDP's Reducer over `params`, bucketed as DDP buckets them (in reverse order of registration,
// the order backward produces gradients). The constructor takes a per-bucket size list in LibTorch
// 2.11 and later, not in 2.9; both forms are handled.
template <typename R = c10d::Reducer>
std::shared_ptr<R> make_reducer(const std::vector<at::Tensor>& params, std::unordered_map<size_t, std::string> names,
                                const c10::intrusive_ptr<c10d::ProcessGroup>& group, bool find_unused) {
  const std::vector<bool> sparse(params.size(), false);
  auto [buckets, limits] = c10d::compute_bucket_assignment_by_size(
      params, {static_cast<size_t>(kFirstBucketBytes), static_cast<size_t>(kBucketBytes)}, sparse);
  std::reverse(buckets.begin(), buckets.end());
  std::vector<int64_t> caps(limits.rbegin(), limits.rend());
  using Indices = std::vector<std::vector<size_t>>;
  using Names = std::unordered_map<size_t, std::string>;
  if constexpr (std::is_constructible_v<R, std::vector<at::Tensor>, Indices, c10::intrusive_ptr<c10d::ProcessGroup>,
                                        std::vector<bool>, int64_t, bool, bool, Names, int64_t, bool, bool,
                                        std::vector<int64_t>>) {
    return std::make_shared<R>(params, buckets, group, sparse, kBucketBytes, find_unused,
                               /*gradient_as_bucket_view=*/false, std::move(names), kFirstBucketBytes,
                               /*skip_all_reduce_unused_params=*/false, /*use_python_reducer=*/false, caps);
  } else {
    return std::make_shared<R>(params, buckets, group, sparse, kBucketBytes, find_unused,
                               /*gradient_as_bucket_view=*/false, std::move(names), kFirstBucketBytes,
                               /*skip_all_reduce_unused_params=*/false, /*use_python_reducer=*/false);
  }
}

// Gloo reports a mismatched collective by throwing from its own thread, which ends the process
// (std::terminate). The message is sent as the rank's error event before the abort, so the
// matrix carries Gloo's words and not only the signal.
const EventWriter* g_terminate_events = nullptr;
void report_then_abort() {
  if (g_terminate_events) {
    std::string message = "terminate called without an exception";
    if (std::exception_ptr e = std::current_exception()) {
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& x) {
        message = first_line(x.what());
      } catch (...) {
        message = "terminate called after a non-standard exception";
      }
    }
    g_terminate_events->error(ErrorKind::kAbort, message);
  }
  std::abort();
}

// A rank stuck before its first step (loading its shard, say): it waits on a key nobody writes
// until its peers are gone (rank 0's store closes) or the harness ends the cell.
void stall(c10d::Store& store) {
  try {
    store.wait({"never_written"}, std::chrono::hours(24));
  } catch (const std::exception&) {
  }
}

// One rank's view of the run, for the events it sends.
struct RunState {
  int64_t step = 0;
  double last_loss = NAN, eval_loss = NAN;
};

c10::Device rank_device(const CellEnv& env, const RankDeviation& dev) {
  if (!env.device.is_cuda()) return env.device;
  const int index = dev.device_index >= 0 ? dev.device_index : std::atoi(env_text("LOCAL_RANK", "0").c_str());
  c10::Device device(c10::DeviceType::CUDA, static_cast<c10::DeviceIndex>(index));
  // A mapped ordinal that exists gets the cell's budget; one past the count is left for the
  // first touch to fail on, as it would in a job.
  if (index >= 0 && index < static_cast<int>(torch::cuda::device_count())) {
    limit_cuda_memory(device, env.memory_budget_bytes);
    set_cell_device(device);
  }
  return device;
}

// What the ranks log at each logging step (the eval cadence), all-reduced as a training script
// does it: the loss and a histogram of the model's outputs, for the mean over ranks. The
// deviating rank may log more bins than its peers.
constexpr int64_t kLoggedBins = 64;
double logged_loss(DistributedGroup& g, const at::Tensor& loss, const at::Tensor& output, int64_t extra) {
  at::Tensor histogram = at::histc(output.detach().flatten().to(at::kFloat), kLoggedBins + extra, -4, 4);
  at::Tensor metric = at::cat({loss.detach().reshape({1}).to(at::kFloat), histogram});
  allreduce_sum(g, metric);
  return metric[0].item<double>() / g.world;
}

void train_steps(CellEnv& env, Recipe& r, const RankDeviation& dev, DistributedGroup& g, Net& net,
                 const Dataset& data, c10d::Reducer& reducer, RunState& st, c10::Device device) {
  const EventWriter& ev = env.events;
  auto optimizer = make_optimizer(r, net);
  for (st.step = 1; st.step <= r.loop.steps; ++st.step) {
    const bool deviating = env.rank == env.world_size - 1 && dev.from_step > 0 && st.step >= dev.from_step;
    if (dev.dies_at_step > 0 && st.step == dev.dies_at_step && env.rank == env.world_size - 1) std::raise(SIGKILL);
    optimizer->zero_grad();
    auto [x, y] = data.batch(st.step, r.data.batch_size, /*micro=*/env.rank, /*micro_count=*/env.world_size);
    // DistributedDataParallel.forward: the Reducer is told a forward begins, and the previous
    // iteration's reduction must have finished (this is where DDP names unused parameters).
    reducer.prepare_for_forward();
    reducer.rebuild_buckets();
    net->recipe.model.detach_branch = r.model.detach_branch || (deviating && dev.skips_branch);
    at::Tensor output = net->forward(x);
    at::Tensor loss = at::mse_loss(output, y);
    reducer.prepare_for_backward(r.dist.find_unused_parameters ? std::vector<at::Tensor>{loss}
                                                               : std::vector<at::Tensor>{});
    const bool logging = st.step % r.loop.eval_every == 0 || st.step == r.loop.steps;
    const int64_t extra = deviating ? dev.metric_extra : 0;
    const bool early = deviating && dev.metric_before_backward;
    double mean_loss = NAN;
    if (logging && early) mean_loss = logged_loss(g, loss, output, extra);
    loss.backward();  // DDP's hooks all-reduce the gradient buckets as they fill
    optimizer->step();
    if (logging && !early) mean_loss = logged_loss(g, loss, output, extra);
    st.last_loss = loss.item<double>();

    if (env.rank == 0) {
      json step = {{"step", st.step},
                   {"loss", loss_json(st.last_loss)},
                   {"lr", r.optim.lr},
                   {"mem", read_memory(device).allocated}};
      if (logging) step["mean_loss_over_ranks"] = loss_json(mean_loss);
      ev.emit(EventType::kStep, step);
    }
    if (!std::isfinite(st.last_loss)) {
      if (env.rank == 0)
        ev.emit(EventType::kSymptom, {{"kind", to_string(SymptomKind::kNonfinite)},
                                      {"step", st.step},
                                      {"message", "loss is " + loss_json(st.last_loss).dump()}});
      break;
    }
    if (st.step % r.loop.eval_every == 0 || st.step == r.loop.steps) {
      // Every rank holds the same weights, so every rank takes the same decision here.
      torch::NoGradGuard no_grad;
      auto [ex, ey] = data.eval();
      st.eval_loss = at::mse_loss(net->forward(ex), ey).item<double>();
      if (env.rank == 0) ev.emit(EventType::kEval, {{"step", st.step}, {"eval_loss", loss_json(st.eval_loss)}});
    }
  }
}

// What the data-parallel loop does not implement; a stack that asks for it is refused by name
// rather than silently trained without it.
std::string unsupported_in_data_parallel(const Recipe& r) {
  if (!is_mlp_family(r.model.kind)) return "the " + to_string(r.model.kind) + " workload";
  if (r.optim.accumulation_steps != 1) return "gradient accumulation";
  if (r.optim.autocast != Autocast::kNone) return "autocast";
  if (r.optim.schedule != Schedule::kConstant) return "learning-rate schedules";
  if (!r.guards.empty()) return "training guards";
  if (!r.hooks.empty()) return "loop hooks (backend/loop_hooks.h)";
  return "";
}

void run_rank(CellEnv& env, Recipe& r, const RankDeviation& dev, DistributedGroup& g, RunState& st) {
  const EventWriter& ev = env.events;
  const int rank = env.rank, world = env.world_size;
  const c10::Device device = rank_device(env, dev);
  const auto [host, port] = rendezvous_address();
  json start = {{"device", device.str()}, {"world_size", world}, {"store", host + ":" + std::to_string(port)}};
  if (!dev.note.empty()) start["note"] = dev.note;
  ev.emit(EventType::kStart, start);

  const auto rendezvous_start = Clock::now();
  c10::intrusive_ptr<c10d::Store> store = rendezvous(host, port, rank, world, to_ms(r.dist.rendezvous_timeout_s));
  const double rendezvous_seconds = std::chrono::duration<double>(Clock::now() - rendezvous_start).count();
  const auto timeout = to_ms(r.dist.collective_timeout_s);
  if (device.is_cuda() && r.dist.device_mapping_preflight)
    device_mapping_preflight(*store, rank, world, device.index(), timeout);
  GroupSettings settings;
  settings.timeout = timeout;
  settings.detail = r.dist.collective_fingerprint;
  settings.monitored_barrier = r.dist.monitored_barrier_s > 0;
  settings.host = host;
  g = make_group(store, rank, world, device, settings);

  Recipe mine = r;
  if (rank == world - 1) mine.model.width += dev.width_delta;
  Dataset data(r, env.seed, device);
  torch::manual_seed(env.seed);  // the same initial weights on every rank
  Net net(mine);
  net->to(device);
  std::vector<at::Tensor> params;
  std::unordered_map<size_t, std::string> names;
  int64_t param_count = 0;
  for (const auto& p : net->named_parameters()) {
    names[params.size()] = p.key();
    params.push_back(p.value());
    param_count += p.value().numel();
  }
  // DistributedDataParallel's constructor: every rank must hold the same parameters.
  c10d::verify_params_across_processes(g.group, params, std::nullopt);
  auto reducer = make_reducer(params, names, g.group, r.dist.find_unused_parameters);
  // DDP's logger: the Reducer reports to it (and dereferences it when it searches for unused
  // parameters).
  auto logger = std::make_shared<c10d::Logger>(reducer);
  reducer->set_logger(logger);
  ev.emit(EventType::kEvidence, {{"backend", g.name}, {"parameters", param_count}, {"ddp_buckets", "reducer"}});
  if (rank == 0) ev.emit(EventType::kEvidence, {{"rendezvous_seconds", rendezvous_seconds}});
  if (dev.stalls_after_join) {
    ev.emit(EventType::kEvidence, {{"stalled_rank", rank}});
    stall(*store);
    ev.emit(EventType::kEnd, {{"steps", 0}, {"reached_target", false}, {"message", "stalled before its first step"}});
    return;
  }
  if (settings.monitored_barrier) monitored_barrier(g, "before the first step", to_ms(r.dist.monitored_barrier_s));

  const auto t0 = Clock::now();
  train_steps(env, r, dev, g, net, data, *reducer, st, device);
  const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  group_barrier(g);  // rank 0 hosts the store: nobody leaves before everyone is done
  if (rank == 0) ev.emit(EventType::kEvidence, {{"train_seconds", seconds}});
  ev.emit(EventType::kEnd, end_event(st.step, r, st.last_loss, st.eval_loss));
}

}  // namespace

void train_data_parallel(CellEnv& env, Recipe& r, const RankDeviation& dev) {
  const EventWriter& ev = env.events;
  if (!dev.joins) {
    const std::string message =
        "rank " + std::to_string(env.rank) + " did not join the rendezvous (" + dev.note + ")";
    ev.emit(EventType::kStart,
            {{"device", env.device.str()}, {"world_size", env.world_size}, {"joined", false}, {"note", dev.note}});
    ev.emit(EventType::kEnd, {{"steps", 0}, {"reached_target", false}, {"joined", false}, {"message", message}});
    return;
  }
  if (const std::string what = unsupported_in_data_parallel(r); !what.empty()) {
    ev.error(ErrorKind::kUnsupported, "the data-parallel loop does not implement " + what);
    return;
  }
  if (!env.device.is_cuda() && !gloo_available()) {
    ev.error(ErrorKind::kUnsupported, gloo_unavailable_reason());
    return;
  }
  if (r.dist.flight_recorder) enable_flight_recorder();
  g_terminate_events = &ev;
  std::set_terminate(report_then_abort);
  DistributedGroup g;
  RunState st;
  bool failed = true;
  try {
    try {
      run_rank(env, r, dev, g, st);
      failed = false;
    } catch (...) {
      rethrow_as_diagnosis(g);
    }
  } catch (const DistributedStop& e) {
    ev.emit(EventType::kGuard, {{"guard", e.guard()},
                                {"action", to_string(GuardAction::kStop)},
                                {"step", st.step},
                                {"message", e.what()},
                                {"details", e.details()}});
  } catch (const std::exception& e) {
    emit_error(ev, e, {{"step", st.step}});
  }
  if (failed && r.dist.flight_recorder) {
    // What c10d's flight recorder saw, read back in-process (torch.distributed's
    // _dump_nccl_trace / the dump TORCH_NCCL_DUMP_ON_TIMEOUT writes).
    try {
      const json summary = flight_recorder_summary(env.device);
      ev.emit(EventType::kEvidence, {{"flight_recorder_rank" + std::to_string(env.rank), summary}});
    } catch (const std::exception& e) {
      ev.emit(EventType::kEvidence,
              {{"flight_recorder_rank" + std::to_string(env.rank), std::string("no dump: ") + e.what()}});
    }
  }
  close_group(g, failed);
}

}  // namespace tw
