// A model with more parameters than its deployment budget holds: it trains (on the training
// budget, on the cell's device), then its weights are loaded into a serving process on the CPU
// whose budget is smaller than their fp32 size. Remedies shrink the model or its weights; each
// cell reports the bytes the served weights take and the evaluation loss the served model reaches.
#include <sstream>

#include "backend/data.h"
#include "backend/errors.h"
#include "backend/memory.h"
#include "backend/model_split.h"
#include "backend/registry.h"
#include "backend/trainer.h"

namespace tw {
namespace {

// One served Linear layer in the chosen format.
struct ServedLayer {
  ServingFormat format = ServingFormat::kFp32;
  at::Tensor weight;  // fp32 / bf16 dense, int8 codes, or a sparse CSR tensor
  at::Tensor scale;   // int8: one scale per output row
  at::Tensor bias;

  static ServedLayer from(const torch::nn::Linear& l, ServingFormat format, double prune_fraction) {
    torch::NoGradGuard no_grad;
    ServedLayer s;
    s.format = format;
    const at::Tensor w = l->weight.detach();
    s.bias = l->bias.detach().clone();
    if (format == ServingFormat::kBf16) {
      s.weight = w.to(at::kBFloat16);
    } else if (format == ServingFormat::kInt8) {
      s.scale = w.abs().amax(1, /*keepdim=*/true).clamp_min(1e-12) / 127.0;
      s.weight = (w / s.scale).round().clamp(-127, 127).to(at::kChar);
    } else if (format == ServingFormat::kPruned) {
      const int64_t keep = std::max<int64_t>(1, static_cast<int64_t>(w.numel() * (1.0 - prune_fraction)));
      const at::Tensor threshold = std::get<0>(w.abs().view(-1).topk(keep)).min();
      // CSR with 32-bit indices, as sparse inference stores it: 8 bytes per kept weight.
      const at::Tensor csr = (w * (w.abs() >= threshold)).to_sparse_csr();
      s.weight = at::sparse_csr_tensor(csr.crow_indices().to(at::kInt), csr.col_indices().to(at::kInt),
                                       csr.values(), csr.sizes(), csr.options());
    } else {
      s.weight = w.clone();
    }
    return s;
  }

  int64_t bytes() const {
    auto b = [](const at::Tensor& t) -> int64_t {
      if (!t.defined()) return 0;
      if (t.layout() == at::kSparseCsr)
        return static_cast<int64_t>(t.crow_indices().nbytes() + t.col_indices().nbytes() + t.values().nbytes());
      return static_cast<int64_t>(t.nbytes());
    };
    return b(weight) + b(scale) + b(bias);
  }

  at::Tensor forward(const at::Tensor& x) const {
    if (format == ServingFormat::kBf16) return at::linear(x.to(at::kBFloat16), weight, bias.to(at::kBFloat16)).to(at::kFloat);
    if (format == ServingFormat::kInt8) return at::linear(x, weight.to(at::kFloat).mul_(scale), bias);  // dequantized per layer
    if (format == ServingFormat::kPruned) return at::addmm(bias.unsqueeze(1), weight, x.t()).t();  // sparse x dense
    return at::linear(x, weight, bias);
  }
};

struct TooManyParameters : Fault {
  void apply(Recipe& r, const nlohmann::json& p) const override {
    r.model.width = param_int(p, "width", 1024);
    r.serving.memory_mb = param_int(p, "serving_memory_mb", 12);
  }

  void run(CellEnv& env, Recipe& recipe) const override {
    if (recipe.dist.model_split) {
      train_and_serve_split(env, recipe);
      return;
    }
    Net net = train(env, recipe);
    if (!net || recipe.serving.memory_mb <= 0) return;
    const EventWriter& ev = env.events;
    try {
      // The serving side is a CPU process on every device class: its budget is the budgeted CPU
      // allocator's (a CUDA caching allocator rounds small budgets to whole segments).
      const c10::Device cpu(c10::DeviceType::CPU);
      net->to(cpu);
      Dataset data(recipe, env.seed, cpu);
      at::Tensor x = data.eval().first;
      at::Tensor y = data.eval().second;
      // Conversion happens offline, from the checkpoint; the serving process then holds the
      // converted weights and the inference activations within its budget.
      torch::NoGradGuard no_grad;
      std::vector<ServedLayer> served;
      int64_t bytes = 0, fp32_bytes = 0;
      for (std::size_t i = 0; i < net->layers->size(); ++i) {
        auto l = std::dynamic_pointer_cast<torch::nn::LinearImpl>(net->layers[i]);
        served.push_back(ServedLayer::from(torch::nn::Linear(l), recipe.serving.format, recipe.serving.prune_fraction));
        bytes += served.back().bytes();
        fp32_bytes += static_cast<int64_t>(l->weight.nbytes() + l->bias.nbytes());
      }
      const int64_t outside = read_memory(cpu).allocated - bytes;
      set_cpu_budget(outside + (recipe.serving.memory_mb << 20));
      at::Tensor h = x;
      for (std::size_t i = 0; i < served.size(); ++i) {
        h = served[i].forward(h);
        if (i + 1 < served.size()) h = at::relu(h);
      }
      const double loss = at::mse_loss(h, y).item<double>();
      ev.emit(EventType::kEvidence,
              {{"serving_format", to_string(recipe.serving.format)},
               {"serving_weight_bytes", bytes},
               {"fp32_weight_bytes", fp32_bytes},
               {"serving_memory_saved", 1.0 - static_cast<double>(bytes) / static_cast<double>(fp32_bytes)},
               {"serving_eval_loss", loss_json(loss)}});
      // The served model decides the cell: healthy only if it still meets the target.
      ev.emit(EventType::kEnd, {{"target_loss", recipe.loop.target_loss},
                                {"final_eval_loss", loss_json(loss)},
                                {"reached_target", std::isfinite(loss) && loss <= recipe.loop.target_loss},
                                {"phase", "serving"}});
    } catch (const c10::OutOfMemoryError& e) {
      emit_error(ev, e, nlohmann::json::object(), "serving: ");
    }
  }
};

}  // namespace
TW_REGISTER_FAULT(TooManyParameters,
                  {"too_many_parameters", "more parameters than the serving budget holds", "model too complex",
                   {{"width", ParamSpec::Type::kInteger, 1, 65536, false, {}, "hidden width"},
                    {"serving_memory_mb", ParamSpec::Type::kInteger, 1, 1 << 20, false, {}, "serving budget"}}});
}  // namespace tw
