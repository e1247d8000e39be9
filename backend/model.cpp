#include "backend/model.h"

#include <cmath>
#include <stdexcept>

#include "backend/custom_tanh.h"

namespace tw {

namespace {
constexpr double kLeakySlope = 0.01;
constexpr int64_t kBranchOutputs = 4;  // two_branch: each branch ends in an embedding this wide

torch::nn::Linear linear(int64_t in, int64_t out) { return torch::nn::Linear(in, out); }

// An explicit scheme re-draws a hidden layer's weights with the gain of the activation that
// follows it and zeroes its biases, as He et al. 2015 and Glorot and Bengio 2010 do (LibTorch's
// default draws biases uniformly). A bias fault (bias_shift) is added afterwards, so it survives.
void init_hidden(torch::nn::LinearImpl& l, Init init, Activation a) {
  torch::NoGradGuard no_grad;
  const double fan_in = static_cast<double>(l.weight.size(1));
  const double fan_out = static_cast<double>(l.weight.size(0));
  if (init == Init::kHe) l.weight.normal_(0, activation_gain(a) / std::sqrt(fan_in));
  if (init == Init::kXavier) l.weight.normal_(0, activation_gain(a) * std::sqrt(2.0 / (fan_in + fan_out)));
  if (init != Init::kDefault) l.bias.zero_();
}
}  // namespace

double activation_gain(Activation a) {
  switch (a) {
    case Activation::kSigmoid: return 1.0;
    case Activation::kTanh:
    case Activation::kCustomTanh:
    case Activation::kCustomTanhWrong: return 5.0 / 3.0;
    case Activation::kLeakyRelu: return std::sqrt(2.0 / (1 + kLeakySlope * kLeakySlope));
    case Activation::kRelu:
    case Activation::kRelu6:
    case Activation::kGelu: return std::sqrt(2.0);
  }
  return 1.0;
}

at::Tensor apply_activation(Activation a, const at::Tensor& x) {
  switch (a) {
    case Activation::kSigmoid: return at::sigmoid(x);
    case Activation::kTanh: return at::tanh(x);
    case Activation::kLeakyRelu: return at::leaky_relu(x, kLeakySlope);
    case Activation::kRelu6: return at::hardtanh(x, 0.0, 6.0);
    case Activation::kCustomTanh: return custom_tanh(x, /*wrong=*/false);
    case Activation::kCustomTanhWrong: return custom_tanh(x, /*wrong=*/true);
    case Activation::kGelu: return at::gelu(x);
    case Activation::kRelu: break;
  }
  return at::relu(x);
}

NetImpl::NetImpl(const Recipe& r) : recipe(r), two_branch(r.model.kind == ModelKind::kTwoBranch) {
  if (!is_mlp_family(r.model.kind)) {
    body = register_module("body", make_workload(r));
    return;
  }
  if (r.model.input_batchnorm) input_bn = register_module("input_bn", torch::nn::BatchNorm1d(r.data.features));
  layers = register_module("layers", torch::nn::ModuleList());
  norms = register_module("norms", torch::nn::ModuleList());
  auto add_hidden = [&](torch::nn::ModuleList& list, int64_t in, int64_t out) {
    torch::nn::Linear l = linear(in, out);
    init_hidden(*l, r.model.init, r.model.activation);
    list->push_back(l);
  };
  if (two_branch) {
    // Each branch sees half of the features and ends in a small embedding; the target is one
    // function of each half, so what one branch reads the other cannot see, and a branch cut
    // from the graph leaves the head kBranchOutputs frozen random features of its half, however
    // wide the branch.
    const int64_t half = r.data.features / 2;
    branch_b = register_module("branch_b", torch::nn::ModuleList());
    for (auto* list : {&layers, &branch_b}) {
      add_hidden(*list, list == &layers ? half : r.data.features - half, r.model.width);
      add_hidden(*list, r.model.width, r.model.width);
      (*list)->push_back(linear(r.model.width, kBranchOutputs));
    }
    head = register_module("head", linear(2 * kBranchOutputs, 1));
    return;
  }
  if (r.model.depth == 1) {
    layers->push_back(linear(r.data.features, 1));
    return;
  }
  add_hidden(layers, r.data.features, r.model.width);
  for (int64_t i = 0; i < r.model.depth - 2; ++i) add_hidden(layers, r.model.width, r.model.width);
  for (int64_t i = 0; i < r.model.depth - 1; ++i) {
    if (r.model.norm == Norm::kBatchNorm) norms->push_back(torch::nn::BatchNorm1d(r.model.width));
    if (r.model.norm == Norm::kLayerNorm)
      norms->push_back(torch::nn::LayerNorm(torch::nn::LayerNormOptions({r.model.width})));
  }
  layers->push_back(linear(r.model.width, 1));
  if (r.model.residual) {
    // The blocks' last layers start at zero (Fixup and SkipInit without normalization; Goyal et
    // al.'s zero-initialized last BatchNorm and torchvision's zero_init_residual with it): every
    // block starts as the identity, so a residual stream of a thousand layers does not start
    // with the variance of all of them added up, and the depth is used as the training needs it.
    torch::NoGradGuard no_grad;
    for (std::size_t i = 2; i + 1 < layers->size(); i += 2) {
      layers[i]->as<torch::nn::Linear>()->weight.zero_();
      layers[i]->as<torch::nn::Linear>()->bias.zero_();
    }
  }
  if (r.model.bias_shift != 0) {
    // A bad bias initialization, whatever scheme drew the weights.
    torch::NoGradGuard no_grad;
    for (std::size_t i = 0; i + 1 < layers->size(); ++i)
      layers[i]->as<torch::nn::Linear>()->bias.add_(r.model.bias_shift);
  }
}

at::Tensor NetImpl::act(const at::Tensor& x) const { return apply_activation(recipe.model.activation, x); }

at::Tensor NetImpl::apply_norm(std::size_t i, const at::Tensor& x) {
  if (recipe.model.norm == Norm::kBatchNorm) return norms[i]->as<torch::nn::BatchNorm1d>()->forward(x);
  if (recipe.model.norm == Norm::kLayerNorm) return norms[i]->as<torch::nn::LayerNorm>()->forward(x);
  return x;
}

at::Tensor NetImpl::hidden(at::Tensor x, std::vector<at::Tensor>* pre) {
  const std::size_t n = layers->size();  // n - 1 hidden Linear layers, then the output
  auto linear_at = [&](std::size_t i) { return layers[i]->as<torch::nn::Linear>(); };
  auto activate = [&](std::size_t i, const at::Tensor& h) {
    at::Tensor z = apply_norm(i, h);
    if (pre) pre->push_back(z);
    return act(z);
  };
  if (!recipe.model.residual) {
    for (std::size_t i = 0; i + 1 < n; ++i) x = activate(i, linear_at(i)->forward(x));
    return x;
  }
  // Pre-activation blocks of two layers (He et al. 2016, "Identity Mappings in Deep Residual
  // Networks"): x + W2 act(norm(W1 act(norm(x)))). The stem is layer 0; an odd layer left over
  // at the end is a one-layer block.
  x = linear_at(0)->forward(x);
  for (std::size_t i = 1; i + 1 < n; i += 2) {
    at::Tensor h = linear_at(i)->forward(activate(i - 1, x));
    if (i + 2 < n) h = linear_at(i + 1)->forward(activate(i, h));
    x = x + h;
  }
  return activate(n - 2, x);
}

double NetImpl::dead_unit_fraction(const at::Tensor& x0) {
  // A hidden unit is dead when its pre-activation is <= 0 for every example.
  torch::NoGradGuard no_grad;
  if (body || two_branch || layers->size() < 2) return 0;
  std::vector<at::Tensor> pre;
  hidden(input_bn ? input_bn->forward(x0) : x0, &pre);
  int64_t dead = 0, total = 0;
  for (const auto& h : pre) {
    dead += (std::get<0>(h.max(0)) <= 0).sum().item<int64_t>();
    total += h.size(1);
  }
  return total ? static_cast<double>(dead) / static_cast<double>(total) : 0;
}

at::Tensor NetImpl::branch(torch::nn::ModuleList& list, at::Tensor x) {
  const std::size_t n = list->size();  // hidden layers, then the embedding (no activation)
  for (std::size_t i = 0; i + 1 < n; ++i) x = act(list[i]->as<torch::nn::Linear>()->forward(x));
  return list[n - 1]->as<torch::nn::Linear>()->forward(x);
}

at::Tensor NetImpl::first_activation(const at::Tensor& x) {
  if (body) return body->first_activation(x);
  at::Tensor h = input_bn ? input_bn->forward(x) : x;
  if (two_branch) return act(layers[0]->as<torch::nn::Linear>()->forward(h.narrow(1, 0, recipe.data.features / 2)));
  h = layers[0]->as<torch::nn::Linear>()->forward(h);
  if (layers->size() < 2) return h;
  return act(apply_norm(0, h));
}

at::Tensor NetImpl::forward(at::Tensor x) {
  if (body) return body->forward(x);
  if (input_bn) x = input_bn->forward(x);
  if (two_branch) {
    const int64_t half = recipe.data.features / 2;
    at::Tensor a = branch(layers, x.narrow(1, 0, half));
    at::Tensor b = branch(branch_b, x.narrow(1, half, recipe.data.features - half));
    if (recipe.model.detach_branch) b = b.detach();
    return head->forward(at::cat({a, b}, 1));
  }
  if (layers->size() == 1) return layers[0]->as<torch::nn::Linear>()->forward(x);
  return layers[layers->size() - 1]->as<torch::nn::Linear>()->forward(hidden(x, nullptr));
}

std::pair<at::Tensor, at::Tensor> first_and_last_weights(NetImpl& net) {
  if (net.body) {
    // The first and the last weight matrix (or convolution, or embedding) of the workload.
    at::Tensor first, last;
    for (const auto& p : net.parameters())
      if (p.dim() >= 2) {
        if (!first.defined()) first = p;
        last = p;
      }
    if (!first.defined()) first = last = net.parameters().front();
    return {first, last};
  }
  at::Tensor first = net.layers[0]->as<torch::nn::Linear>()->weight;
  at::Tensor last = net.head ? net.head->weight : net.layers[net.layers->size() - 1]->as<torch::nn::Linear>()->weight;
  return {first, last};
}

}  // namespace tw
