#pragma once
// The training recipe: plain values a fault bends and a mitigation repairs. The healthy
// defaults train the synthetic regression task to its target in a few hundred steps.
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "harness/catalog.h"

namespace trainwreck {
class Guard;
}

namespace tw {

struct Recipe {
  // Data: a deterministic regression task (teacher network on Gaussian features).
  int64_t features = 16;
  int64_t dataset_size = 4096;
  int64_t batch_size = 64;
  double input_scale = 1.0;             // raw feature j = x_j * scale_j + offset_j
  double input_offset = 0.0;
  std::string input_transform = "none";  // none | standardize | minmax
  std::string input_dtype = "float32";   // dtype the data arrives in: float32 | float64 | int64
  bool cast_inputs = false;              // cast to the model's dtype before the forward pass
  std::string data_source = "memory";    // memory | streaming (lazily generated batches)

  // Model.
  std::string model = "mlp";             // mlp | two_branch
  int64_t depth = 4;                     // Linear layers
  int64_t width = 64;
  std::string activation = "relu";       // relu | sigmoid | tanh | leaky_relu | relu6
  std::string init = "default";          // default | he | xavier
  std::string norm = "none";             // none | batchnorm | layernorm
  bool residual = false;
  bool input_batchnorm = false;
  bool detach_branch = false;            // two_branch: the second branch is cut from the graph

  // Optimizer and schedule.
  std::string optimizer = "sgd";         // sgd | adam
  double lr = 0.05;
  double momentum = 0.9;
  std::string schedule = "constant";     // constant | warmup_cosine
  int64_t warmup_steps = 20;
  double clip_norm = 0;                  // 0: no clipping
  int64_t accumulation_steps = 1;        // micro-batches per optimizer step
  std::string autocast = "none";         // none | bf16 | fp16
  bool auto_batch_size = false;          // search the largest batch that fits, then train

  // Loop.
  int64_t steps = 300;
  double target_loss = 0.05;             // eval MSE (targets have unit variance)
  int64_t eval_every = 10;
  bool stop_at_target = true;

  // Faults that live in the loop.
  std::string leak = "none";             // none | eval_loss_history | activation_history
  bool keep_items_not_tensors = false;   // remedy of eval_loss_history
  bool no_grad_eval = false;             // monitoring forward passes under NoGradGuard
  int64_t leak_batch = 512;
  bool empty_cache = false;              // empty the CUDA caching allocator after every step

  std::vector<std::shared_ptr<trainwreck::Guard>> guards;

  // Applies a scenario's "recipe" object (validated against recipe_params()).
  void apply_json(const nlohmann::json& overrides);
  nlohmann::json to_json() const;
};

// The fields a scenario may set in "recipe", with their types and ranges.
std::vector<ParamSpec> recipe_params();

}  // namespace tw
