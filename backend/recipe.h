#pragma once
// The training recipe: plain values a fault bends and a mitigation repairs. The healthy
// defaults train the synthetic regression task under its target by about step 300 and hold it
// to the horizon.
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <vector>

#include "harness/catalog.h"

namespace trainwreck {
class Guard;
}

namespace tw {

class LoopHook;

// The recipe's closed sets. Each value's spelling is listed once, in enum order, by choices() in
// recipe.cpp; that list validates scenarios, parses them and writes recipes back out.
enum class InputTransform { kNone, kStandardize, kMinmax };
enum class InputDtype { kFloat32, kFloat64, kInt64 };
enum class DataSource { kMemory, kStreaming };
enum class ModelKind { kMlp, kTwoBranch, kCnn, kTransformer, kLstm, kScripted };
enum class Activation { kRelu, kSigmoid, kTanh, kLeakyRelu, kRelu6, kCustomTanh, kCustomTanhWrong, kGelu };
enum class Init { kDefault, kHe, kXavier };
enum class Norm { kNone, kBatchNorm, kLayerNorm };
enum class OptimizerKind { kSgd, kAdam, kAdamW };
enum class Schedule { kConstant, kWarmupCosine };
enum class Autocast { kNone, kBf16, kFp16 };
enum class ServingFormat { kFp32, kBf16, kInt8, kPruned };
enum class Leak { kNone, kEvalLossHistory, kActivationHistory };
enum class LossKind { kAuto, kMse, kCrossEntropy };

const std::vector<std::string>& choices(InputTransform);
const std::vector<std::string>& choices(InputDtype);
const std::vector<std::string>& choices(DataSource);
const std::vector<std::string>& choices(ModelKind);
const std::vector<std::string>& choices(Activation);
const std::vector<std::string>& choices(Init);
const std::vector<std::string>& choices(Norm);
const std::vector<std::string>& choices(OptimizerKind);
const std::vector<std::string>& choices(Schedule);
const std::vector<std::string>& choices(Autocast);
const std::vector<std::string>& choices(ServingFormat);
const std::vector<std::string>& choices(Leak);
const std::vector<std::string>& choices(LossKind);

// The spelling of a value, as scenarios write it.
template <class E>
const std::string& to_string(E value) {
  return choices(E{})[static_cast<std::size_t>(value)];
}

// The value a spelling names; std::invalid_argument naming the choices when it names none.
template <class E>
E parse_choice(const std::string& name) {
  const std::vector<std::string>& names = choices(E{});
  for (std::size_t i = 0; i < names.size(); ++i)
    if (names[i] == name) return static_cast<E>(i);
  std::string known;
  for (const auto& n : names) known += (known.empty() ? "" : ", ") + n;
  throw std::invalid_argument("'" + name + "' is not one of " + known);
}

// The recipe in its parts. A scenario's "recipe" object stays flat (recipe_params() names every
// field once); the parts are how the backend reads it: what the data is, which model, how it is
// optimized, how the loop runs, what is checked around it, the serving phase, the distributed
// side.

// Data: a deterministic regression task (teacher network on Gaussian features).
struct DataRecipe {
  int64_t features = 16;
  int64_t dataset_size = 4096;
  int64_t batch_size = 64;
  double input_scale = 1.0;             // raw feature j = x_j * scale_j + offset_j
  double input_offset = 0.0;
  InputTransform input_transform = InputTransform::kNone;
  double minmax_low = 0;                 // minmax: features scaled to [minmax_low, 1]
  InputDtype input_dtype = InputDtype::kFloat32;  // dtype the data arrives in
  double int_scale = 100;                // int64 data: integer counts of 1/int_scale of a feature unit
  bool cast_inputs = false;              // cast to the model's dtype before the forward pass
  DataSource data_source = DataSource::kMemory;   // streaming: lazily generated batches
  int64_t loader_stall_step = 0;                  // the data source stops producing at this step (0: never)
  double loader_timeout_s = 0;                    // deadline for one batch (0: wait forever)
};

// Model. The other workloads (backend/workloads.h). cnn: image_size x image_size one-channel
// images, `classes` stripe orientations; depth - 1 convolutions of `width` channels, then a
// Linear. transformer: next token of sequences of `seq_len` tokens from `vocab`, `depth`
// pre-LayerNorm blocks of width `width` and `heads` heads. lstm: `seq_len` steps of `features`
// values, `depth` stacked layers. scripted: a TorchScript module and its data, from files.
struct ModelRecipe {
  ModelKind kind = ModelKind::kMlp;
  int64_t depth = 4;                     // Linear layers
  int64_t width = 64;
  Activation activation = Activation::kRelu;
  Init init = Init::kDefault;
  Norm norm = Norm::kNone;              // after each hidden Linear
  bool residual = false;
  bool input_batchnorm = false;
  bool detach_branch = false;            // two_branch: the second branch is cut from the graph
  double bias_shift = 0;                 // added to every hidden bias after initialization
  int64_t image_size = 8;
  int64_t classes = 4;
  int64_t seq_len = 16;
  int64_t vocab = 16;
  int64_t heads = 2;
  std::string model_file;                // scripted: torch.jit.save'd module (absolute; scenarios resolve it)
  std::string data_file;                 // scripted: torch.save'd {"x": inputs, "y": targets}
  LossKind loss = LossKind::kAuto;       // auto: cross-entropy for cnn and transformer, else MSE
};

// Optimizer, schedule and the step's numerics.
struct OptimizerRecipe {
  OptimizerKind kind = OptimizerKind::kSgd;
  double lr = 0.05;
  double momentum = 0.9;
  double weight_decay = 0.01;            // AdamW's decoupled weight decay
  Schedule schedule = Schedule::kConstant;
  int64_t warmup_steps = 20;
  double clip_norm = 0;                  // 0: no clipping
  int64_t accumulation_steps = 1;        // micro-batches per optimizer step
  Autocast autocast = Autocast::kNone;
  bool auto_batch_size = false;          // search the largest batch that fits, then train
};

// The loop, and the faults that live in it.
struct LoopRecipe {
  int64_t steps = 600;                   // the horizon: every run trains to it (no early stop)
  double target_loss = 0.15;             // eval MSE (unit-variance targets: 85 % of the variance explained)
  int64_t eval_every = 10;
  bool cuda_graph = false;               // CUDA: replay the step as a CUDA graph after three eager steps
  bool carry_state = false;              // a running state carried from step to step (truncated BPTT)
  bool detach_state = false;             // cut the carried state's graph at every step
  int64_t intra_op_threads = 1;          // at::set_num_threads in the cell (cells run side by side)
  int64_t checkpoint_keep = 0;           // checkpoints the checkpoint writer keeps on disk (0: every one)
  Leak leak = Leak::kNone;
  bool keep_items_not_tensors = false;  // remedy of eval_loss_history
  bool no_grad_eval = false;            // monitoring forward passes under NoGradGuard
  int64_t leak_batch = 512;
  bool empty_cache = false;  // empty the CUDA caching allocator after every step
};

// What is checked before or around the loop.
struct ChecksRecipe {
  bool lr_range_test = false;            // sweep the LR on a copy of the model first, then train with it
  bool gradcheck = false;                // compare custom autograd functions with finite differences first
  bool dtype_check = false;              // fail fast when the inputs' dtype is not the model's
  bool disk_preflight = false;           // check the file-size limit and free space before each checkpoint write
  bool device_preflight = false;         // validate CUDA_VISIBLE_DEVICES against the GPUs present, before CUDA starts
  bool context_check = false;            // record the numerics environment and diff it against the baseline's
  bool pin_environment = false;          // run with the numerics environment recorded with the baseline
  bool stack_check = false;              // check the running stack's versions against known-bad ones before training
};

// Serving: after training, the weights are deployed under a tighter memory budget.
struct ServingRecipe {
  int64_t memory_mb = 0;  // 0: no serving phase
  ServingFormat format = ServingFormat::kFp32;
  double prune_fraction = 0.9;  // magnitude pruning: share of weights set to zero
};

// Distributed cells (collective_* scenarios).
struct DistributedRecipe {
  double rendezvous_timeout_s = 300;     // TCPStore's default: how long rank 0 waits for every rank to join
  double collective_timeout_s = 600;     // ProcessGroupNCCL's default: how long a collective waits for its peers
  bool device_mapping_preflight = false; // check rank -> GPU before the process group exists
  bool collective_fingerprint = false;   // ProcessGroupWrapper (TORCH_DISTRIBUTED_DEBUG=DETAIL) around the backend
  double monitored_barrier_s = 0;        // timeout of a Gloo monitoredBarrier before the first step (0: none)
  bool find_unused_parameters = false;   // DDP's find_unused_parameters=True
  bool model_split = false;              // the MLP's layers split across two ranks (training and serving)
  bool flight_recorder = false;          // c10d's flight recorder, dumped and summarized when a rank stops
};

// The training recipe: plain values a fault bends and a mitigation repairs.
struct Recipe {
  DataRecipe data;
  ModelRecipe model;
  OptimizerRecipe optim;
  LoopRecipe loop;
  ChecksRecipe checks;
  ServingRecipe serving;
  DistributedRecipe dist;

  std::vector<std::shared_ptr<trainwreck::Guard>> guards;
  // What faults and remedies do inside the loop (backend/loop_hooks.h), in the order they were added.
  std::vector<std::shared_ptr<LoopHook>> hooks;

  // Applies a scenario's "recipe" object (validated against recipe_params()).
  void apply_json(const nlohmann::json& overrides);
  nlohmann::json to_json() const;
};

// The fields a scenario may set in "recipe", with their types and ranges.
std::vector<ParamSpec> recipe_params();

}  // namespace tw
