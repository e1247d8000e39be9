#include "kernel/data_parallel.h"

#include <c10/util/Exception.h>
#include <torch/csrc/distributed/c10d/Store.hpp>
#include <torch/cuda.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>

#include "kernel/collective.h"
#include "kernel/data.h"
#include "kernel/device_mapping.h"
#include "kernel/memory.h"
#include "kernel/model.h"
#include "kernel/trainer.h"

namespace tw {
using nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

std::chrono::milliseconds to_ms(double seconds) {
  return std::chrono::milliseconds(static_cast<int64_t>(std::llround(seconds * 1000.0)));
}

std::string env_text(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::string(v) : fallback;
}

// The buffer one rank hands to the all-reduce for `grad`: the gradient itself, or a wider copy
// when the fault makes this rank disagree on its shape.
at::Tensor reduce_buffer(const at::Tensor& grad, int64_t extra_columns) {
  if (extra_columns <= 0) return grad;
  const int64_t last = grad.dim() - 1;
  std::vector<int64_t> pad_shape = grad.sizes().vec();
  pad_shape[static_cast<std::size_t>(last)] = extra_columns;
  return at::cat({grad, at::zeros(pad_shape, grad.options())}, last);
}

}  // namespace

void train_data_parallel(CellEnv& env, Recipe& r, const RankDeviation& dev) {
  const EventWriter& ev = env.events;
  const int rank = env.rank, world = env.world_size;
  if (!dev.joins) {
    const std::string message = "rank " + std::to_string(rank) + " did not join the rendezvous (" + dev.note + ")";
    ev.emit("start", {{"device", env.device.str()}, {"world_size", world}, {"joined", false}, {"note", dev.note}});
    ev.emit("end", {{"steps", 0}, {"reached_target", false}, {"joined", false}, {"message", message}});
    return;
  }
  int64_t step = 0;
  try {
    c10::Device device = env.device;
    if (device.is_cuda()) {
      const int index = dev.device_index >= 0 ? dev.device_index : std::atoi(env_text("LOCAL_RANK", "0").c_str());
      device = c10::Device(c10::DeviceType::CUDA, static_cast<c10::DeviceIndex>(index));
      // A mapped ordinal that exists gets the cell's budget; one past the count is left for the
      // first touch below to fail on, as it would in a job.
      if (index >= 0 && index < static_cast<int>(torch::cuda::device_count())) {
        limit_cuda_memory(device, env.memory_budget_bytes);
        set_cell_device(device);
      }
    }
    const std::string host = env_text("MASTER_ADDR", "127.0.0.1");
    const std::string port = env_text("MASTER_PORT", "");
    if (port.empty())
      throw std::runtime_error("MASTER_PORT is not set: distributed cells need the harness's (or torchrun's) environment");
    json start = {{"device", device.str()}, {"world_size", world}, {"store", host + ":" + port}};
    if (!dev.note.empty()) start["note"] = dev.note;
    ev.emit("start", start);

    // NCCL's bootstrap and proxy listen on the interface NCCL_SOCKET_IFNAME names, by default the
    // first one that is not loopback, reachable from other machines: a single-host cell keeps
    // them on lo ("=": that name exactly). A user's setting wins.
    if (device.is_cuda() && is_loopback_host(host)) setenv("NCCL_SOCKET_IFNAME", "=lo", /*overwrite=*/0);
    const auto rendezvous_start = Clock::now();
    c10::intrusive_ptr<c10d::Store> store = rendezvous(host, std::stoi(port), rank, world, to_ms(r.rendezvous_timeout_s));
    const double rendezvous_seconds = std::chrono::duration<double>(Clock::now() - rendezvous_start).count();
    const auto timeout = to_ms(r.collective_timeout_s);
    if (device.is_cuda() && r.device_mapping_preflight)
      device_mapping_preflight(*store, rank, world, device.index(), timeout);
    std::unique_ptr<Collective> collective = device.is_cuda()
                                                 ? make_nccl_collective(store, rank, world, device, timeout)
                                                 : make_store_collective(store, rank, world, timeout);
    if (r.collective_fingerprint) collective = with_fingerprint_check(std::move(collective), store, rank, world, timeout);

    Dataset data(r, env.seed, device);
    torch::manual_seed(env.seed);  // same initial weights on every rank
    Net net(r);
    net->to(device);
    auto optimizer = make_optimizer(r, net);
    const auto params = net->named_parameters();
    int64_t param_count = 0;
    for (const auto& p : params) param_count += p.value().numel();
    ev.emit("evidence", {{"backend", collective->backend()}, {"parameters", param_count}});
    if (rank == 0) ev.emit("evidence", {{"rendezvous_seconds", rendezvous_seconds}});

    double last_loss = NAN, eval_loss = NAN;
    int64_t reached_step = -1;
    const auto t0 = Clock::now();
    for (step = 1; step <= r.steps; ++step) {
      optimizer->zero_grad();
      auto [x, y] = data.batch(step, r.batch_size, /*micro=*/rank, /*micro_count=*/world);
      at::Tensor loss = at::mse_loss(net->forward(x), y);
      loss.backward();

      const bool deviating = dev.from_step > 0 && step >= dev.from_step;
      std::vector<std::size_t> order(params.size());
      for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
      if (deviating && dev.reverse_order) std::reverse(order.begin(), order.end());
      for (std::size_t i : order) {
        at::Tensor grad = params[i].value().grad();
        at::Tensor buffer = reduce_buffer(grad, deviating && i == 0 ? dev.extra_columns : 0);
        collective->allreduce_sum(buffer, params[i].key());
        if (!buffer.is_same(grad)) grad.copy_(buffer.narrow(grad.dim() - 1, 0, grad.size(-1)));
        grad.div_(world);
      }
      optimizer->step();

      last_loss = loss.item<double>();
      if (rank == 0) {
        ev.emit("step", {{"step", step}, {"loss", loss_json(last_loss)}, {"lr", r.lr},
                         {"mem", read_memory(device).allocated}});
      }
      if (!std::isfinite(last_loss)) {
        if (rank == 0) ev.emit("symptom", {{"kind", "nonfinite"}, {"step", step}, {"message", "loss is " + loss_json(last_loss).dump()}});
        break;
      }
      if (step % r.eval_every == 0 || step == r.steps) {
        // Every rank holds the same weights, so every rank takes the same decision here.
        torch::NoGradGuard no_grad;
        auto [ex, ey] = data.eval();
        eval_loss = at::mse_loss(net->forward(ex), ey).item<double>();
        if (rank == 0) ev.emit("eval", {{"step", step}, {"eval_loss", loss_json(eval_loss)}});
        if (std::isfinite(eval_loss) && eval_loss <= r.target_loss && reached_step < 0) {
          reached_step = step;
          if (r.stop_at_target) break;
        }
      }
    }
    const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    store_barrier(*store, "end", rank, world, timeout);
    if (rank == 0) ev.emit("evidence", {{"train_seconds", seconds}});
    ev.emit("end", end_event(step, r, last_loss, eval_loss, reached_step));
  } catch (const DistributedStop& e) {
    ev.emit("guard", {{"guard", e.guard()}, {"action", "stop"}, {"step", step}, {"message", e.what()},
                      {"details", e.details()}});
  } catch (const c10::OutOfMemoryError& e) {
    ev.emit("error", {{"kind", "oom"}, {"step", step}, {"message", first_line(e.what_without_backtrace())}});
  } catch (const c10::Error& e) {
    ev.emit("error", {{"kind", "exception"}, {"step", step}, {"message", first_line(e.what_without_backtrace())}});
  } catch (const std::exception& e) {
    ev.emit("error", {{"kind", "exception"}, {"step", step}, {"message", first_line(e.what())}});
  }
}

}  // namespace tw
