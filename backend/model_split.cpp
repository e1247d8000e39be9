#include "backend/model_split.h"

#include <c10/util/Exception.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <torch/csrc/distributed/c10d/ProcessGroup.hpp>
#include <torch/csrc/distributed/c10d/Store.hpp>

#include "backend/collective.h"
#include "backend/data.h"
#include "backend/errors.h"
#include "backend/memory.h"
#include "backend/model.h"
#include "backend/process_group.h"
#include "backend/trainer.h"

namespace tw {
using nlohmann::json;

namespace {

// This rank's layers: [0, n/2) on rank 0, [n/2, n) on rank 1.
struct Stage {
  std::vector<torch::nn::Linear> layers;
  bool last = false;  // ends with the output layer (no activation after it)

  at::Tensor forward(at::Tensor h, Net& net) {
    for (std::size_t i = 0; i < layers.size(); ++i) {
      h = layers[i]->forward(h);
      if (!(last && i + 1 == layers.size())) h = net->act(h);
    }
    return h;
  }
};

Stage stage_of(Net& net, int rank) {
  const std::size_t n = net->layers->size(), half = n / 2;
  Stage s;
  s.last = rank == 1;
  for (std::size_t i = rank == 0 ? 0 : half; i < (rank == 0 ? half : n); ++i)
    s.layers.push_back(torch::nn::Linear(std::dynamic_pointer_cast<torch::nn::LinearImpl>(net->layers[i])));
  return s;
}

void send(DistributedGroup& g, at::Tensor t, int peer) {
  std::vector<at::Tensor> v{t.contiguous()};
  g.group->send(v, peer, /*tag=*/0)->wait();
}

at::Tensor recv(DistributedGroup& g, std::vector<int64_t> shape, const at::TensorOptions& options, int peer) {
  std::vector<at::Tensor> v{at::empty(shape, options)};
  g.group->recv(v, peer, /*tag=*/0)->wait();
  return v[0];
}

struct SplitRun {
  CellEnv& env;
  Recipe& r;
  DistributedGroup& g;
  Net& net;
  const Dataset& data;
  Stage stage;
  int64_t step = 0;
  double last_loss = NAN, eval_loss = NAN;

  // One training step. Rank 0: forward its half, send the activation, get its gradient back.
  // Rank 1: receive the activation, finish the forward, the loss and backward, send the
  // activation's gradient. Both step their optimizers; on an evaluation step the evaluation set
  // then goes the same way. Rank 1 sends [loss, eval loss], so both ranks decide alike whether to
  // stop.
  void train_step(torch::optim::Optimizer& optimizer, bool eval_step) {
    const int peer = 1 - env.rank;
    optimizer.zero_grad();
    auto [x, y] = data.batch(step, r.data.batch_size);
    const auto options = x.options().dtype(at::kFloat);
    const std::vector<int64_t> hidden{x.size(0), r.model.width};
    auto [ex, ey] = data.eval();
    at::Tensor stats;
    if (env.rank == 0) {
      at::Tensor h = stage.forward(x, net);
      send(g, h.detach(), peer);
      h.backward(recv(g, hidden, options, peer));
      optimizer.step();  // each rank steps the parameters that got gradients: its own
      if (eval_step) {
        torch::NoGradGuard no_grad;
        send(g, stage.forward(ex, net), peer);
      }
      stats = recv(g, {2}, options, peer);
    } else {
      at::Tensor h = recv(g, hidden, options, peer).requires_grad_();
      at::Tensor loss = at::mse_loss(stage.forward(h, net), y);
      loss.backward();
      send(g, h.grad(), peer);
      optimizer.step();
      double e = NAN;
      if (eval_step) {
        torch::NoGradGuard no_grad;
        e = at::mse_loss(stage.forward(recv(g, {ex.size(0), r.model.width}, options, peer), net), ey).item<double>();
      }
      stats = at::tensor({loss.item<double>(), e}, options);
      send(g, stats, peer);
    }
    last_loss = stats[0].item<double>();
    if (eval_step) eval_loss = stats[1].item<double>();
  }

  void train() {
    const EventWriter& ev = env.events;
    // The other half's parameters never get a gradient here, so the optimizer leaves them be.
    auto optimizer = make_optimizer(r, net);
    for (step = 1; step <= r.loop.steps; ++step) {
      const bool eval_step = step % r.loop.eval_every == 0 || step == r.loop.steps;
      train_step(*optimizer, eval_step);
      if (env.rank == 0)
        ev.emit(EventType::kStep, {{"step", step},
                                   {"loss", loss_json(last_loss)},
                                   {"lr", r.optim.lr},
                                   {"mem", read_memory(env.device).allocated}});
      if (!std::isfinite(last_loss)) break;
      if (eval_step && env.rank == 0) ev.emit(EventType::kEval, {{"step", step}, {"eval_loss", loss_json(eval_loss)}});
    }
  }

  // Each rank keeps copies of its own layers only and serves them within its serving budget;
  // the activations between the halves go over the group.
  void serve() {
    const EventWriter& ev = env.events;
    const int peer = 1 - env.rank;
    torch::NoGradGuard no_grad;
    std::vector<std::pair<at::Tensor, at::Tensor>> weights;
    int64_t bytes = 0;
    for (const auto& l : stage.layers) {
      weights.emplace_back(l->weight.detach().clone(), l->bias.detach().clone());
      bytes += static_cast<int64_t>(weights.back().first.nbytes() + weights.back().second.nbytes());
    }
    auto [ex, ey] = data.eval();
    const int64_t outside = read_memory(env.device).allocated - bytes;
    set_cpu_budget(outside + (r.serving.memory_mb << 20));
    auto run = [&](at::Tensor h) {
      for (std::size_t i = 0; i < weights.size(); ++i) {
        h = at::linear(h, weights[i].first, weights[i].second);
        if (!(stage.last && i + 1 == weights.size())) h = net->act(h);
      }
      return h;
    };
    const auto options = ex.options().dtype(at::kFloat);
    if (env.rank == 0) {
      send(g, run(ex), peer);
      const double loss = recv(g, {1}, options, peer)[0].item<double>();
      ev.emit(EventType::kEvidence, {{"serving_format", "fp32, split across 2 ranks"},
                                     {"serving_weight_bytes_rank0", bytes},
                                     {"serving_eval_loss", loss_json(loss)}});
      ev.emit(EventType::kEnd, {{"target_loss", r.loop.target_loss},
                                {"final_eval_loss", loss_json(loss)},
                                {"reached_target", std::isfinite(loss) && loss <= r.loop.target_loss},
                                {"phase", "serving"}});
    } else {
      const double loss = at::mse_loss(run(recv(g, {ex.size(0), r.model.width}, options, peer)), ey).item<double>();
      send(g, at::tensor({loss}, options), peer);
      ev.emit(EventType::kEvidence, {{"serving_weight_bytes_rank1", bytes}});
      ev.emit(EventType::kEnd, {{"phase", "serving"}, {"final_eval_loss", loss_json(loss)}});
    }
  }
};

}  // namespace

void train_and_serve_split(CellEnv& env, Recipe& r) {
  const EventWriter& ev = env.events;
  if (env.world_size != 2 || r.model.kind != ModelKind::kMlp || r.model.depth < 2 || r.model.residual ||
      r.model.norm != Norm::kNone || r.model.input_batchnorm || r.serving.format != ServingFormat::kFp32 ||
      !r.hooks.empty() || !r.guards.empty()) {
    ev.error(ErrorKind::kUnsupported,
             "the model split takes a plain MLP of at least two layers on two ranks, served in fp32, "
             "without loop hooks or guards");
    return;
  }
  DistributedGroup g;
  bool failed = true;
  int64_t step = 0;
  try {
    const auto [host, port] = rendezvous_address();
    ev.emit(EventType::kStart,
            {{"device", env.device.str()}, {"world_size", env.world_size}, {"split", "layers by halves"}});
    auto store = rendezvous(host, port, env.rank, env.world_size, to_ms(r.dist.rendezvous_timeout_s));
    GroupSettings settings;
    settings.timeout = to_ms(r.dist.collective_timeout_s);
    settings.host = host;
    g = make_group(store, env.rank, env.world_size, env.device, settings);
    Dataset data(r, env.seed, env.device);
    torch::manual_seed(env.seed);  // the weights the single-process model starts from
    Net net(r);
    net->to(env.device);
    SplitRun run{env, r, g, net, data, stage_of(net, env.rank)};
    ev.emit(EventType::kEvidence,
            {{"backend", g.name}, {"layers_on_rank" + std::to_string(env.rank), run.stage.layers.size()}});
    run.train();
    step = run.step;
    if (r.serving.memory_mb > 0) run.serve();
    else if (env.rank == 0) ev.emit(EventType::kEnd, end_event(run.step, r, run.last_loss, run.eval_loss));
    group_barrier(g);
    failed = false;
  } catch (const std::exception& e) {
    emit_error(ev, e, {{"step", step}});
  }
  close_group(g, failed);
}

}  // namespace tw
