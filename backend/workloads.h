#pragma once
// The workloads besides the MLP: a CNN (plain or ResNet-style), a decoder-only Transformer, a
// recurrent net (LSTM), and a TorchScript module a team brings with its own data. Each takes the
// batch its data set (backend/data.h) delivers in its natural shape, so the loop, the faults and the
// remedies treat every workload alike.
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "harness/catalog.h"
#include "backend/recipe.h"
#include "backend/torch_includes.h"

namespace tw {

struct WorkloadImpl : torch::nn::Module {
  virtual at::Tensor forward(const at::Tensor& x) = 0;
  // The first block's output (what the activation_history leak and the carried state keep).
  virtual at::Tensor first_activation(const at::Tensor& x) = 0;
  // What the last forward pass ran that an upgrade could change ("sdpa_backend": "flash", ...).
  virtual nlohmann::json kernels() const { return nlohmann::json::object(); }
};

// The recipe's model when it is not the MLP or the two-branch net.
std::shared_ptr<WorkloadImpl> make_workload(const Recipe& r);

// The MLP and the two-branch net (backend/model.h) as opposed to the workloads above.
bool is_mlp_family(ModelKind kind);

// The loss the recipe trains with: "auto" is cross-entropy for the cnn and the transformer (class
// and token targets), MSE for the others.
LossKind resolved_loss(const Recipe& r);
// MSE on float32 outputs, or cross-entropy over the last dimension (targets of -100 are ignored).
at::Tensor workload_loss(const Recipe& r, const at::Tensor& out, const at::Tensor& y);

// Why the recipe a fault and its remedies made cannot run on the workload, or "": they changed a
// field the workload does not have (the scripted model's structure is fixed by its file; tokens
// have no scale). `base` is the scenario's recipe before the fault and the remedies.
std::string workload_unsupported(const Recipe& base, const Recipe& applied);

// The scripted model's inputs and targets, from its data file: {"x": tensor, "y": tensor}.
struct ScriptedData {
  at::Tensor x, y;
};
ScriptedData load_scripted_data(const std::string& path);

// A scenario's recipe (paths resolved), beyond its fields' ranges: the transformer's heads divide
// its width, the cnn has a convolution; a scripted model needs both files, the module must load
// with torch::jit::load, the data with torch::pickle_load, and two examples must run through the
// model and its loss. The problem names the field (and the file).
std::optional<RecipeProblem> check_recipe_files(const nlohmann::json& recipe);

}  // namespace tw
