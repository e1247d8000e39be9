#pragma once
// The models the recipes describe: a plain MLP (any depth, activation, normalization, skip
// connections) and a two-branch net whose second branch can be cut from the graph.
#include "kernel/recipe.h"
#include "kernel/torch_includes.h"

namespace tw {

struct NetImpl : torch::nn::Module {
  explicit NetImpl(const Recipe& recipe);
  at::Tensor forward(at::Tensor x);
  // The first hidden activation (kept alive by the activation_history leak).
  at::Tensor first_activation(const at::Tensor& x);
  // Fraction of hidden units whose pre-activation is <= 0 on every example of x.
  double dead_unit_fraction(const at::Tensor& x);


  Recipe recipe;
  torch::nn::BatchNorm1d input_bn{nullptr};
  torch::nn::ModuleList layers;       // Linear layers, input to output (mlp)
  torch::nn::ModuleList norms;        // one per hidden Linear when recipe.norm != none
  torch::nn::ModuleList branch_b;     // two_branch: the second branch's Linear layers
  torch::nn::Linear head{nullptr};    // two_branch: merges both branches

 private:
  at::Tensor act(const at::Tensor& x) const;
  at::Tensor branch(torch::nn::ModuleList& list, at::Tensor x);
};
TORCH_MODULE(Net);

// First and last weight tensors, for gradient-norm evidence.
std::pair<at::Tensor, at::Tensor> first_and_last_weights(Net& net);

}  // namespace tw
