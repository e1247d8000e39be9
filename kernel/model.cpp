#include "kernel/model.h"

#include "kernel/custom_tanh.h"

namespace tw {

namespace {
void init_linear(torch::nn::LinearImpl& l, const std::string& init, const std::string& activation) {
  torch::NoGradGuard no_grad;
  if (init == "he") {
    torch::nn::init::kaiming_normal_(l.weight, /*a=*/activation == "leaky_relu" ? 0.01 : 0.0, torch::kFanIn,
                                     torch::kReLU);
    torch::nn::init::zeros_(l.bias);
  } else if (init == "xavier") {
    const double gain = activation == "tanh" ? 5.0 / 3.0 : activation == "sigmoid" ? 1.0 : std::sqrt(2.0);
    torch::nn::init::xavier_normal_(l.weight, gain);
    torch::nn::init::zeros_(l.bias);
  }
}
}  // namespace

NetImpl::NetImpl(const Recipe& r) : recipe(r) {
  if (r.input_batchnorm) input_bn = register_module("input_bn", torch::nn::BatchNorm1d(r.features));
  layers = register_module("layers", torch::nn::ModuleList());
  norms = register_module("norms", torch::nn::ModuleList());
  auto add_linear = [&](torch::nn::ModuleList& list, int64_t in, int64_t out) {
    torch::nn::Linear l(in, out);
    init_linear(*l, r.init, r.activation);
    list->push_back(l);
  };
  if (r.model == "two_branch") {
    // Each branch sees half of the features; the target depends on all of them.
    const int64_t half = r.features / 2;
    branch_b = register_module("branch_b", torch::nn::ModuleList());
    add_linear(layers, half, r.width);
    add_linear(layers, r.width, r.width);
    add_linear(branch_b, r.features - half, r.width);
    add_linear(branch_b, r.width, r.width);
    head = register_module("head", torch::nn::Linear(2 * r.width, 1));
    return;
  }
  if (r.depth == 1) {
    add_linear(layers, r.features, 1);
    return;
  }
  add_linear(layers, r.features, r.width);
  for (int64_t i = 0; i < r.depth - 2; ++i) {
    add_linear(layers, r.width, r.width);
    if (r.norm == "batchnorm") norms->push_back(torch::nn::BatchNorm1d(r.width));
    if (r.norm == "layernorm") norms->push_back(torch::nn::LayerNorm(torch::nn::LayerNormOptions({r.width})));
  }
  add_linear(layers, r.width, 1);
  // A bad bias initialization; an explicit init scheme (he, xavier) re-initializes biases.
  if (r.bias_shift != 0 && r.init == "default") {
    torch::NoGradGuard no_grad;
    for (std::size_t i = 0; i + 1 < layers->size(); ++i) layers[i]->as<torch::nn::Linear>()->bias.add_(r.bias_shift);
  }
}

double NetImpl::dead_unit_fraction(const at::Tensor& x0) {
  // A hidden unit is dead when its pre-activation is <= 0 for every example.
  torch::NoGradGuard no_grad;
  if (recipe.model != "mlp" || layers->size() < 2) return 0;
  at::Tensor x = input_bn ? input_bn->forward(x0) : x0;
  int64_t dead = 0, total = 0;
  for (std::size_t i = 0; i + 1 < layers->size(); ++i) {
    at::Tensor h = layers[i]->as<torch::nn::Linear>()->forward(x);
    if (i > 0 && recipe.norm == "batchnorm") h = norms[i - 1]->as<torch::nn::BatchNorm1d>()->forward(h);
    if (i > 0 && recipe.norm == "layernorm") h = norms[i - 1]->as<torch::nn::LayerNorm>()->forward(h);
    dead += (std::get<0>(h.max(0)) <= 0).sum().item<int64_t>();
    total += h.size(1);
    at::Tensor a = act(h);
    x = (i > 0 && recipe.residual) ? x + a : a;
  }
  return total ? static_cast<double>(dead) / static_cast<double>(total) : 0;
}

at::Tensor NetImpl::act(const at::Tensor& x) const {
  const std::string& a = recipe.activation;
  if (a == "sigmoid") return at::sigmoid(x);
  if (a == "tanh") return at::tanh(x);
  if (a == "leaky_relu") return at::leaky_relu(x, 0.01);
  if (a == "relu6") return at::hardtanh(x, 0.0, 6.0);
  if (a == "custom_tanh" || a == "custom_tanh_wrong") return custom_tanh(x, a == "custom_tanh_wrong");
  return at::relu(x);
}

at::Tensor NetImpl::branch(torch::nn::ModuleList& list, at::Tensor x) {
  for (std::size_t i = 0; i < list->size(); ++i) x = act(list[i]->as<torch::nn::Linear>()->forward(x));
  return x;
}

at::Tensor NetImpl::first_activation(const at::Tensor& x) {
  at::Tensor h = input_bn ? input_bn->forward(x) : x;
  if (recipe.model == "two_branch") h = h.narrow(1, 0, recipe.features / 2);
  return act(layers[0]->as<torch::nn::Linear>()->forward(h));
}

at::Tensor NetImpl::forward(at::Tensor x) {
  if (input_bn) x = input_bn->forward(x);
  if (recipe.model == "two_branch") {
    const int64_t half = recipe.features / 2;
    at::Tensor a = branch(layers, x.narrow(1, 0, half));
    at::Tensor b = branch(branch_b, x.narrow(1, half, recipe.features - half));
    if (recipe.detach_branch) b = b.detach();
    return head->forward(at::cat({a, b}, 1));
  }
  const std::size_t n = layers->size();
  if (n == 1) return layers[0]->as<torch::nn::Linear>()->forward(x);
  x = act(layers[0]->as<torch::nn::Linear>()->forward(x));
  for (std::size_t i = 1; i + 1 < n; ++i) {
    at::Tensor h = layers[i]->as<torch::nn::Linear>()->forward(x);
    if (recipe.norm == "batchnorm") h = norms[i - 1]->as<torch::nn::BatchNorm1d>()->forward(h);
    if (recipe.norm == "layernorm") h = norms[i - 1]->as<torch::nn::LayerNorm>()->forward(h);
    h = act(h);
    x = recipe.residual ? x + h : h;
  }
  return layers[n - 1]->as<torch::nn::Linear>()->forward(x);
}

std::pair<at::Tensor, at::Tensor> first_and_last_weights(Net& net) {
  at::Tensor first = net->layers[0]->as<torch::nn::Linear>()->weight;
  at::Tensor last = net->head ? net->head->weight : net->layers[net->layers->size() - 1]->as<torch::nn::Linear>()->weight;
  return {first, last};
}

}  // namespace tw
