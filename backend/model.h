#pragma once
// The models the recipes describe: a plain MLP (any depth, activation, normalization), its
// pre-activation residual form, and a two-branch net whose second branch can be cut from the graph.
// The other workloads (CNN, Transformer, LSTM, scripted) are its `body` (backend/workloads.h).
#include <vector>

#include "backend/recipe.h"
#include "backend/torch_includes.h"
#include "backend/workloads.h"

namespace tw {

// The gain an initialization scheme uses for this activation (torch.nn.init.calculate_gain).
double activation_gain(Activation a);
at::Tensor apply_activation(Activation a, const at::Tensor& x);

struct NetImpl : torch::nn::Module {
  explicit NetImpl(const Recipe& recipe);
  at::Tensor forward(at::Tensor x);
  // The first hidden activation (kept alive by the activation_history leak).
  at::Tensor first_activation(const at::Tensor& x);
  // Fraction of hidden units whose pre-activation is <= 0 on every example of x.
  double dead_unit_fraction(const at::Tensor& x);
  // The recipe's activation (a model split across ranks applies it between its halves' layers).
  at::Tensor act(const at::Tensor& x) const;

  Recipe recipe;
  bool two_branch = false;
  std::shared_ptr<WorkloadImpl> body;  // every model but the MLP and the two-branch net
  torch::nn::BatchNorm1d input_bn{nullptr};
  // mlp: Linear layers, input to output. Plain: every hidden Linear is followed by its norm and
  // the activation. Residual (pre-activation, He et al. 2016): layers[0] is the stem, each later
  // hidden Linear is a block x + W(act(norm(x))), and a final norm and activation precede the
  // output Linear.
  torch::nn::ModuleList layers;
  torch::nn::ModuleList norms;        // depth - 1 of them when recipe.model.norm != kNone
  torch::nn::ModuleList branch_b;     // two_branch: the second branch's Linear layers
  torch::nn::Linear head{nullptr};    // two_branch: merges both branches

 private:
  at::Tensor apply_norm(std::size_t i, const at::Tensor& x);
  at::Tensor branch(torch::nn::ModuleList& list, at::Tensor x);
  // The hidden stack of the mlp; every pre-activation goes to `pre` when it is given.
  at::Tensor hidden(at::Tensor x, std::vector<at::Tensor>* pre);
};
TORCH_MODULE(Net);

// First and last weight tensors, for gradient-norm evidence.
std::pair<at::Tensor, at::Tensor> first_and_last_weights(NetImpl& net);
inline std::pair<at::Tensor, at::Tensor> first_and_last_weights(Net& net) { return first_and_last_weights(*net); }

}  // namespace tw
