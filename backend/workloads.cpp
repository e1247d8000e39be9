#include "backend/workloads.h"

#include <ATen/SDPBackend.h>
#include <ATen/detail/CUDAHooksInterface.h>
#include <torch/csrc/jit/api/module.h>
#include <torch/csrc/jit/serialization/import.h>
#include <torch/csrc/jit/serialization/pickle.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/embedding.h>
#include <torch/nn/modules/rnn.h>

#include <cmath>
#include <fstream>
#include <iterator>
#include <set>

#include "backend/model.h"
#include "backend/registry.h"

namespace tw {
using nlohmann::json;

namespace {

constexpr int64_t kIgnoredTarget = -100;  // cross_entropy's ignore_index

// He or Xavier on a weight of any rank (fan = channels x receptive field), with the gain of the
// activation that follows it, and a zero bias; "default" keeps LibTorch's draw.
void init_weight(const at::Tensor& w, const at::Tensor& bias, Init init, Activation a) {
  torch::NoGradGuard no_grad;
  const double receptive = w.dim() > 2 ? static_cast<double>(w[0][0].numel()) : 1.0;
  const double fan_in = static_cast<double>(w.size(1)) * receptive;
  const double fan_out = static_cast<double>(w.size(0)) * receptive;
  if (init == Init::kHe) w.normal_(0, activation_gain(a) / std::sqrt(fan_in));
  if (init == Init::kXavier) w.normal_(0, activation_gain(a) * std::sqrt(2.0 / (fan_in + fan_out)));
  if (init != Init::kDefault && bias.defined()) bias.zero_();
}

std::string cudnn_or(const at::Tensor& x, const char* otherwise) {
  const bool cudnn = x.is_cuda() && at::globalContext().userEnabledCuDNN() && at::detail::getCUDAHooks().compiledWithCuDNN();
  return cudnn ? "cudnn" : otherwise;
}

// ResNet-style or plain: a 3x3 stem convolution, depth - 2 more 3x3 convolutions of `width`
// channels (each followed by its norm and the activation; residual: pre-activation blocks of two
// convolutions, x + conv(act(norm(conv(act(norm(x)))))), the second convolution zero-initialized
// as the MLP's blocks are), global average pooling and a Linear to the classes.
class CnnImpl : public WorkloadImpl {
 public:
  explicit CnnImpl(const Recipe& r)
      : residual_(r.model.residual), norm_(r.model.norm), activation_(r.model.activation) {
    auto conv = [](int64_t in, int64_t out) { return torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, 3).padding(1)); };
    stem_ = register_module("stem", conv(1, r.model.width));
    convs_ = register_module("convs", torch::nn::ModuleList());
    norms_ = register_module("norms", torch::nn::ModuleList());
    init_weight(stem_->weight, stem_->bias, r.model.init, r.model.activation);
    for (int64_t i = 0; i + 2 < r.model.depth; ++i) {
      torch::nn::Conv2d c = conv(r.model.width, r.model.width);
      init_weight(c->weight, c->bias, r.model.init, r.model.activation);
      if (r.model.residual && i % 2 == 1) {
        torch::NoGradGuard no_grad;
        c->weight.zero_();
        c->bias.zero_();
      }
      convs_->push_back(c);
    }
    for (int64_t i = 0; i + 1 < r.model.depth; ++i) {
      if (r.model.norm == Norm::kBatchNorm) norms_->push_back(torch::nn::BatchNorm2d(r.model.width));
      // LayerNorm over channels and pixels: GroupNorm with one group.
      if (r.model.norm == Norm::kLayerNorm) norms_->push_back(torch::nn::GroupNorm(1, r.model.width));
    }
    head_ = register_module("head", torch::nn::Linear(r.model.width, r.model.classes));
  }
  at::Tensor forward(const at::Tensor& x) override {
    if (conv_backend_.empty()) conv_backend_ = cudnn_or(x, "native");
    at::Tensor h = stem_->forward(x);
    const std::size_t n = convs_->size();
    if (!residual_) {
      h = activate(0, h);
      for (std::size_t i = 0; i < n; ++i) h = activate(i + 1, convs_[i]->as<torch::nn::Conv2d>()->forward(h));
    } else {
      for (std::size_t i = 0; i < n; i += 2) {
        at::Tensor b = convs_[i]->as<torch::nn::Conv2d>()->forward(activate(i, h));
        if (i + 1 < n) b = convs_[i + 1]->as<torch::nn::Conv2d>()->forward(activate(i + 1, b));
        h = h + b;
      }
      h = activate(n, h);
    }
    return head_->forward(h.mean({2, 3}));
  }
  at::Tensor first_activation(const at::Tensor& x) override { return activate(0, stem_->forward(x)); }
  json kernels() const override { return {{"conv_backend", conv_backend_}}; }

 private:
  at::Tensor activate(std::size_t i, const at::Tensor& h) {
    at::Tensor z = h;
    if (norm_ == Norm::kBatchNorm) z = norms_[i]->as<torch::nn::BatchNorm2d>()->forward(h);
    if (norm_ == Norm::kLayerNorm) z = norms_[i]->as<torch::nn::GroupNorm>()->forward(h);
    return apply_activation(activation_, z);
  }
  bool residual_;
  Norm norm_;
  Activation activation_;
  torch::nn::Conv2d stem_{nullptr};
  torch::nn::ModuleList convs_, norms_;
  torch::nn::Linear head_{nullptr};
  std::string conv_backend_;
};

const char* sdpa_name(int64_t choice) {
  switch (static_cast<at::SDPBackend>(choice)) {
    case at::SDPBackend::math: return "math";
    case at::SDPBackend::flash_attention: return "flash";
    case at::SDPBackend::efficient_attention: return "memory_efficient";
    case at::SDPBackend::cudnn_attention: return "cudnn";
    default: return "other";
  }
}

// A pre-LayerNorm block: x + proj(attention(LN(x))), then x + fc2(act(fc1(LN(x)))).
class BlockImpl : public torch::nn::Module {
 public:
  explicit BlockImpl(const Recipe& r) : width_(r.model.width), heads_(r.model.heads), activation_(r.model.activation) {
    const int64_t d = r.model.width;
    ln1_ = register_module("ln1", torch::nn::LayerNorm(torch::nn::LayerNormOptions({d})));
    qkv_ = register_module("qkv", torch::nn::Linear(d, 3 * d));
    proj_ = register_module("proj", torch::nn::Linear(d, d));
    ln2_ = register_module("ln2", torch::nn::LayerNorm(torch::nn::LayerNormOptions({d})));
    fc1_ = register_module("fc1", torch::nn::Linear(d, 4 * d));
    fc2_ = register_module("fc2", torch::nn::Linear(4 * d, d));
  }
  at::Tensor forward(at::Tensor x, std::string& backend) {
    const int64_t n = x.size(0), t = x.size(1), d = width_, h = heads_;
    // [n, t, 3, h, d/h] -> three [n, h, t, d/h]
    at::Tensor qkv = qkv_->forward(ln1_->forward(x)).view({n, t, 3, h, d / h}).permute({2, 0, 3, 1, 4});
    at::Tensor q = qkv[0], k = qkv[1], v = qkv[2];
    // The backend SDPA picks for these inputs (dtype, device, shapes), once, in training.
    if (backend.empty() && at::GradMode::is_enabled())
      backend = sdpa_name(at::_fused_sdp_choice(q, k, v, {}, 0.0, /*is_causal=*/true));
    at::Tensor a = at::scaled_dot_product_attention(q, k, v, {}, 0.0, /*is_causal=*/true);
    x = x + proj_->forward(a.transpose(1, 2).reshape({n, t, d}));
    return x + fc2_->forward(apply_activation(activation_, fc1_->forward(ln2_->forward(x))));
  }

 private:
  int64_t width_, heads_;
  Activation activation_;
  torch::nn::LayerNorm ln1_{nullptr}, ln2_{nullptr};
  torch::nn::Linear qkv_{nullptr}, proj_{nullptr}, fc1_{nullptr}, fc2_{nullptr};
};
TORCH_MODULE(Block);

// Token and position embeddings, `depth` blocks, a final LayerNorm and the next-token head.
class TransformerImpl : public WorkloadImpl {
 public:
  explicit TransformerImpl(const Recipe& r) {
    tok_ = register_module("tok", torch::nn::Embedding(r.model.vocab, r.model.width));
    pos_ = register_module("pos", torch::nn::Embedding(r.model.seq_len, r.model.width));
    blocks_ = register_module("blocks", torch::nn::ModuleList());
    for (int64_t i = 0; i < r.model.depth; ++i) blocks_->push_back(Block(r));
    ln_ = register_module("ln", torch::nn::LayerNorm(torch::nn::LayerNormOptions({r.model.width})));
    head_ = register_module("head", torch::nn::Linear(r.model.width, r.model.vocab));
  }
  at::Tensor forward(const at::Tensor& x) override {
    at::Tensor h = embed(x);
    for (std::size_t i = 0; i < blocks_->size(); ++i) h = blocks_[i]->as<Block>()->forward(h, backend_);
    return head_->forward(ln_->forward(h));
  }
  at::Tensor first_activation(const at::Tensor& x) override {
    return blocks_->size() ? blocks_[0]->as<Block>()->forward(embed(x), backend_) : embed(x);
  }
  json kernels() const override { return {{"sdpa_backend", backend_}}; }

 private:
  at::Tensor embed(const at::Tensor& x) {
    return tok_->forward(x) + pos_->forward(at::arange(x.size(1), x.options().dtype(at::kLong)));
  }
  torch::nn::Embedding tok_{nullptr}, pos_{nullptr};
  torch::nn::ModuleList blocks_;
  torch::nn::LayerNorm ln_{nullptr};
  torch::nn::Linear head_{nullptr};
  std::string backend_;
};

// `depth` stacked LSTM layers of hidden size `width` over [n, seq_len, features]; a Linear reads
// the last step's output.
// Turns oneDNN off while it lives (when asked to), and back to what it was.
struct NoOneDnn {
  explicit NoOneDnn(bool on) : on_(on), was_(at::globalContext().userEnabledMkldnn()) {
    if (on_) at::globalContext().setUserEnabledMkldnn(false);
  }
  ~NoOneDnn() {
    if (on_) at::globalContext().setUserEnabledMkldnn(was_);
  }
  NoOneDnn(const NoOneDnn&) = delete;
  NoOneDnn& operator=(const NoOneDnn&) = delete;
  bool on_, was_;
};

class LstmImpl : public WorkloadImpl {
 public:
  explicit LstmImpl(const Recipe& r) {
    rnn_ = register_module(
        "rnn", torch::nn::LSTM(
                   torch::nn::LSTMOptions(r.data.features, r.model.width).num_layers(r.model.depth).batch_first(true)));
    head_ = register_module("head", torch::nn::Linear(r.model.width, 1));
  }
  at::Tensor forward(const at::Tensor& x) override {
    if (rnn_backend_.empty()) rnn_backend_ = cudnn_or(x, "native");
    // On the CPU, LibTorch's own LSTM kernel rather than oneDNN's: oneDNN's takes bfloat16 only on
    // CPUs with bf16 instructions (an AMD EPYC without them fails to create the primitive), so the
    // outcome would be the CPU's, not the model's.
    NoOneDnn native(!x.is_cuda());
    at::Tensor out = std::get<0>(rnn_->forward(x));
    return head_->forward(out.select(1, out.size(1) - 1));
  }
  at::Tensor first_activation(const at::Tensor& x) override { return std::get<0>(rnn_->forward(x)); }
  json kernels() const override { return {{"rnn_backend", rnn_backend_}}; }

 private:
  torch::nn::LSTM rnn_{nullptr};
  torch::nn::Linear head_{nullptr};
  std::string rnn_backend_;
};

// A TorchScript module from its file. Its parameters and buffers are registered here under their
// dotted names with '_' for '.' (and a number where that makes two alike), each tensor once (a
// tied weight is one parameter), so the optimizer, the guards and the evidence see them.
class ScriptedImpl : public WorkloadImpl {
 public:
  explicit ScriptedImpl(const Recipe& r) : module_(torch::jit::load(r.model.model_file, c10::Device(c10::kCPU))) {
    std::set<const c10::TensorImpl*> seen;
    std::set<std::string> names;
    auto unique_name = [&](std::string name) {
      for (char& c : name)
        if (c == '.') c = '_';
      const std::string stem = name;
      for (int i = 1; !names.insert(name).second; ++i) name = stem + "_" + std::to_string(i);
      return name;
    };
    for (const auto& p : module_.named_parameters())
      if (seen.insert(p.value.unsafeGetTensorImpl()).second)
        register_parameter(unique_name(p.name), p.value, p.value.requires_grad());
    for (const auto& b : module_.named_buffers())
      if (seen.insert(b.value.unsafeGetTensorImpl()).second) register_buffer(unique_name(b.name), b.value);
    module_.train(true);
  }
  // An error inside the module (forward, or its backward graph) arrives as a std::runtime_error
  // carrying the TorchScript traceback (the loop reads its cause and whether it was an OOM).
  at::Tensor forward(const at::Tensor& x) override { return module_.forward({x}).toTensor(); }
  at::Tensor first_activation(const at::Tensor&) override {
    TORCH_CHECK(false, "a scripted model's blocks are not known to the harness");
  }
  // The module moves its own tensors in place (set_data), so the registered ones move with them.
  void to(torch::Device device, bool non_blocking) override { module_.to(device, non_blocking); }
  void train(bool on) override {
    WorkloadImpl::train(on);
    module_.train(on);
  }

 private:
  torch::jit::Module module_;
};

// Fields a workload does not have: a fault or remedy that changes one cannot run on it.
const std::vector<std::string>& absent_fields(ModelKind kind) {
  static const std::vector<std::string> mlp_only = {"input_batchnorm", "detach_branch", "bias_shift", "model_split",
                                                    "serving_memory_mb", "data_source"};
  static const std::vector<std::string> inputs = {"input_scale", "input_offset", "input_transform", "minmax_low",
                                                  "input_dtype", "int_scale", "cast_inputs", "dtype_check"};
  static const std::vector<std::string> structure = {"depth", "width", "activation", "init", "norm", "residual",
                                                     "image_size", "classes", "seq_len", "vocab",
                                                     "heads", "features", "carry_state", "dataset_size"};
  static const auto join = [](std::initializer_list<const std::vector<std::string>*> lists,
                              std::initializer_list<const char*> more) {
    std::vector<std::string> out;
    for (const auto* l : lists) out.insert(out.end(), l->begin(), l->end());
    out.insert(out.end(), more.begin(), more.end());
    return out;
  };
  static const std::vector<std::string> none;
  static const std::vector<std::string> cnn = join({&mlp_only}, {"seq_len", "vocab", "heads", "features"});
  static const std::vector<std::string> transformer =
      join({&mlp_only, &inputs}, {"image_size", "classes", "features", "residual", "norm", "init"});
  static const std::vector<std::string> lstm =
      join({&mlp_only}, {"image_size", "classes", "vocab", "heads", "residual", "norm", "init", "activation"});
  static const std::vector<std::string> scripted = join({&mlp_only, &structure}, {});
  switch (kind) {
    case ModelKind::kCnn: return cnn;
    case ModelKind::kTransformer: return transformer;
    case ModelKind::kLstm: return lstm;
    case ModelKind::kScripted: return scripted;
    case ModelKind::kMlp:
    case ModelKind::kTwoBranch: break;
  }
  return none;
}

std::vector<char> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + path);
  return std::vector<char>(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

}  // namespace

std::shared_ptr<WorkloadImpl> make_workload(const Recipe& r) {
  switch (r.model.kind) {
    case ModelKind::kCnn: return std::make_shared<CnnImpl>(r);
    case ModelKind::kTransformer: return std::make_shared<TransformerImpl>(r);
    case ModelKind::kLstm: return std::make_shared<LstmImpl>(r);
    case ModelKind::kScripted: return std::make_shared<ScriptedImpl>(r);
    case ModelKind::kMlp:
    case ModelKind::kTwoBranch: break;
  }
  return nullptr;
}

bool is_mlp_family(ModelKind kind) { return kind == ModelKind::kMlp || kind == ModelKind::kTwoBranch; }

LossKind resolved_loss(const Recipe& r) {
  if (r.model.loss != LossKind::kAuto) return r.model.loss;
  return r.model.kind == ModelKind::kCnn || r.model.kind == ModelKind::kTransformer ? LossKind::kCrossEntropy
                                                                                    : LossKind::kMse;
}

at::Tensor workload_loss(const Recipe& r, const at::Tensor& out, const at::Tensor& y) {
  at::Tensor o = out.to(at::kFloat);
  if (resolved_loss(r) == LossKind::kCrossEntropy)
    return at::cross_entropy_loss(o.reshape({-1, o.size(-1)}), y.reshape({-1}).to(at::kLong), {}, at::Reduction::Mean,
                                  kIgnoredTarget);
  // A model with one output per example may return [n] for targets of [n, 1], or the reverse.
  if (o.sizes() != y.sizes() && o.numel() == y.numel()) o = o.reshape(y.sizes());
  return at::mse_loss(o, y.to(at::kFloat));
}

std::string workload_unsupported(const Recipe& base, const Recipe& applied) {
  if (!is_mlp_family(base.model.kind) && applied.model.kind != base.model.kind)
    return "the fault or a remedy replaces the " + to_string(base.model.kind) + " workload with the " +
           to_string(applied.model.kind) + " model";
  const json before = base.to_json(), after = applied.to_json();
  for (const auto& field : absent_fields(applied.model.kind))
    if (before.at(field) != after.at(field))
      return "the " + to_string(applied.model.kind) + " workload has no recipe." + field + " (set to " +
             after.at(field).dump() + " by the fault or a remedy)" +
             (applied.model.kind == ModelKind::kScripted ? ": a scripted model's structure is fixed by its file" : "");
  if (applied.model.kind == ModelKind::kScripted && before != after && !applied.model.data_file.empty()) {
    // Integer inputs (token ids) are passed to a scripted model as they are.
    for (const char* field : {"input_scale", "input_offset", "input_transform", "input_dtype", "cast_inputs"})
      if (before.at(field) != after.at(field) &&
          !at::isFloatingType(load_scripted_data(applied.model.data_file).x.scalar_type()))
        return std::string("the scripted model's inputs are integers (token ids): recipe.") + field +
               " does not apply to them";
  }
  if (applied.model.kind == ModelKind::kScripted && applied.loop.leak == Leak::kActivationHistory)
    return "the scripted workload has no known first block whose activations a leak could keep";
  if (!is_mlp_family(applied.model.kind) && applied.checks.gradcheck)
    return "the gradient check covers the MLP's custom activation only";
  return "";
}

ScriptedData load_scripted_data(const std::string& path) {
  const c10::IValue v = torch::jit::pickle_load(read_file(path));
  if (!v.isGenericDict()) throw std::runtime_error(path + ": not a dict saved with torch.save");
  ScriptedData d;
  for (const auto& item : v.toGenericDict()) {
    if (!item.key().isString() || !item.value().isTensor()) continue;
    if (item.key().toStringRef() == "x") d.x = item.value().toTensor();
    if (item.key().toStringRef() == "y") d.y = item.value().toTensor();
  }
  if (!d.x.defined() || !d.y.defined()) throw std::runtime_error(path + ": needs tensors under the keys 'x' and 'y'");
  if (d.x.dim() < 1 || d.y.dim() < 1 || d.x.size(0) != d.y.size(0))
    throw std::runtime_error(path + ": 'x' and 'y' must have the same number of examples in their first dimension");
  if (d.x.size(0) < 16) throw std::runtime_error(path + ": at least 16 examples are needed (a share is held out)");
  return d;
}

std::optional<RecipeProblem> check_recipe_files(const json& recipe) {
  Recipe r;
  r.apply_json(recipe);
  if (r.model.kind == ModelKind::kTransformer && r.model.width % r.model.heads != 0)
    return RecipeProblem{"recipe.heads",
                         "must divide recipe.width (" + std::to_string(r.model.width) + ") for the transformer"};
  if (r.model.kind == ModelKind::kCnn && r.model.depth < 2)
    return RecipeProblem{"recipe.depth", "must be at least 2 for the cnn (a convolution and the head)"};
  const bool scripted = r.model.kind == ModelKind::kScripted;
  for (const char* field : {"model_file", "data_file"}) {
    const bool named = !recipe.value(field, std::string()).empty();
    if (scripted && !named)
      return RecipeProblem{std::string("recipe.") + field, "is required when recipe.model is scripted"};
    if (!scripted && named)
      return RecipeProblem{std::string("recipe.") + field, "applies only when recipe.model is scripted"};
  }
  if (!scripted) return std::nullopt;
  ScriptedData d;
  try {
    d = load_scripted_data(r.model.data_file);
  } catch (const std::exception& e) {
    return RecipeProblem{"recipe.data_file",
                         r.model.data_file + ": cannot read the data: " + first_line(e.what())};
  }
  std::shared_ptr<WorkloadImpl> model;
  try {
    model = make_workload(r);
  } catch (const std::exception& e) {
    return RecipeProblem{"recipe.model_file",
                         r.model.model_file + ": not a TorchScript module: " + first_line(e.what())};
  }
  try {
    model->eval();
    torch::NoGradGuard no_grad;
    workload_loss(r, model->forward(d.x.narrow(0, 0, 2)), d.y.narrow(0, 0, 2));
  } catch (const std::exception& e) {
    return RecipeProblem{"recipe.model_file", r.model.model_file + ": two examples of " + r.model.data_file +
                                                        " do not run through the model and its " +
                                                        to_string(resolved_loss(r)) + " loss: " + first_line(e.what())};
  }
  return std::nullopt;
}

}  // namespace tw
