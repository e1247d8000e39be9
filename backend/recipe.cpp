#include "backend/recipe.h"

#include <functional>
#include <iterator>
#include <utility>

namespace tw {
using nlohmann::json;
using Type = ParamSpec::Type;

// The spellings of the closed sets, in enum order: the fields table below offers them as a
// field's choices, parse_choice reads them, to_string writes them.
const std::vector<std::string>& choices(InputTransform) {
  static const std::vector<std::string> names = {"none", "standardize", "minmax"};
  return names;
}

const std::vector<std::string>& choices(InputDtype) {
  static const std::vector<std::string> names = {"float32", "float64", "int64"};
  return names;
}

const std::vector<std::string>& choices(DataSource) {
  static const std::vector<std::string> names = {"memory", "streaming"};
  return names;
}

const std::vector<std::string>& choices(ModelKind) {
  static const std::vector<std::string> names = {"mlp", "two_branch", "cnn", "transformer", "lstm", "scripted"};
  return names;
}

const std::vector<std::string>& choices(Activation) {
  static const std::vector<std::string> names = {"relu",        "sigmoid",           "tanh", "leaky_relu", "relu6",
                                                 "custom_tanh", "custom_tanh_wrong", "gelu"};
  return names;
}

const std::vector<std::string>& choices(Init) {
  static const std::vector<std::string> names = {"default", "he", "xavier"};
  return names;
}

const std::vector<std::string>& choices(Norm) {
  static const std::vector<std::string> names = {"none", "batchnorm", "layernorm"};
  return names;
}

const std::vector<std::string>& choices(OptimizerKind) {
  static const std::vector<std::string> names = {"sgd", "adam", "adamw"};
  return names;
}

const std::vector<std::string>& choices(Schedule) {
  static const std::vector<std::string> names = {"constant", "warmup_cosine"};
  return names;
}

const std::vector<std::string>& choices(Autocast) {
  static const std::vector<std::string> names = {"none", "bf16", "fp16"};
  return names;
}

const std::vector<std::string>& choices(ServingFormat) {
  static const std::vector<std::string> names = {"fp32", "bf16", "int8", "pruned"};
  return names;
}

const std::vector<std::string>& choices(Leak) {
  static const std::vector<std::string> names = {"none", "eval_loss_history", "activation_history"};
  return names;
}

const std::vector<std::string>& choices(LossKind) {
  static const std::vector<std::string> names = {"auto", "mse", "cross_entropy"};
  return names;
}

namespace {

struct Field {
  ParamSpec spec;
  std::function<void(Recipe&, const json&)> set;
  std::function<json(const Recipe&)> get;
};

// Each row: the name a scenario writes, the member of the recipe's part it sets, then its range.
#define TW_INT(key, member, lo, hi, help)                                                                          \
  Field {                                                                                                          \
    {key, Type::kInteger, lo, hi, false, {}, help}, [](Recipe& r, const json& v) { r.member = v.get<int64_t>(); }, \
        [](const Recipe& r) { return json(r.member); }                                                             \
  }
#define TW_NUM(key, member, lo, hi, excl, help)                                                                 \
  Field {                                                                                                       \
    {key, Type::kNumber, lo, hi, excl, {}, help}, [](Recipe& r, const json& v) { r.member = v.get<double>(); }, \
        [](const Recipe& r) { return json(r.member); }                                                          \
  }
#define TW_BOOL(key, member, help)                                                                         \
  Field {                                                                                                  \
    {key, Type::kBool, 0, 1, false, {}, help}, [](Recipe& r, const json& v) { r.member = v.get<bool>(); }, \
        [](const Recipe& r) { return json(r.member); }                                                     \
  }
// A file: the harness resolves it against the scenario's directory and checks that it exists.
#define TW_PATH(key, member, help)                                         \
  Field {                                                                  \
    {key, Type::kString, 0, 0, false, {}, help, /*path=*/true},            \
        [](Recipe& r, const json& v) { r.member = v.get<std::string>(); }, \
        [](const Recipe& r) { return json(r.member); }                     \
  }
// A closed set: its choices are the enum's spellings (choices() above), parsed here once.
#define TW_ENUM(key, member, help)                                                                 \
  Field {                                                                                          \
    {key, Type::kString, 0, 0, false, choices(decltype(std::declval<Recipe&>().member){}), help},  \
        [](Recipe& r, const json& v) {                                                             \
          r.member = parse_choice<decltype(std::declval<Recipe&>().member)>(v.get<std::string>()); \
        },                                                                                         \
        [](const Recipe& r) { return json(to_string(r.member)); }                                  \
  }

// The fields of recipe.data.
void add_data_fields(std::vector<Field>& table) {
  const Field part[] = {
      TW_INT("features", data.features, 1, 4096, "input features"),
      TW_INT("dataset_size", data.dataset_size, 16, 1 << 26, "training examples"),
      TW_INT("batch_size", data.batch_size, 1, 1 << 24, "examples per optimizer step"),
      TW_NUM("input_scale", data.input_scale, 0, 1e12, true, "scale of the raw features"),
      TW_NUM("input_offset", data.input_offset, -1e12, 1e12, false, "offset of the raw features"),
      TW_ENUM("input_transform", data.input_transform, "input preprocessing"),
      TW_NUM("minmax_low", data.minmax_low, -1, 0, false, "minmax: lower end of the scaled range"),
      TW_ENUM("input_dtype", data.input_dtype, "dtype the data arrives in"),
      TW_NUM("int_scale", data.int_scale, 0, 1e9, true, "int64 data: the integers count 1/int_scale of a feature unit"),
      TW_BOOL("cast_inputs", data.cast_inputs, "cast inputs to the model's dtype"),
      TW_ENUM("data_source", data.data_source, "how batches are produced"),
      TW_INT("loader_stall_step", data.loader_stall_step, 0, 1 << 30,
             "the data source stops producing at this step (0: never)"),
      TW_NUM("loader_timeout_s", data.loader_timeout_s, 0, 1e6, false, "deadline for one batch in seconds (0: none)"),
  };
  table.insert(table.end(), std::begin(part), std::end(part));
}

// The fields of recipe.model.
void add_model_fields(std::vector<Field>& table) {
  table.insert(
      table.end(),
      {
          TW_ENUM("model", model.kind, "architecture"),
          TW_INT("depth", model.depth, 1, 10000, "Linear layers"),
          TW_INT("width", model.width, 1, 65536, "hidden width"),
          TW_ENUM("activation", model.activation, "hidden activation"),
          TW_NUM("bias_shift", model.bias_shift, -1e6, 1e6, false, "added to every hidden bias after initialization"),
          TW_ENUM("init", model.init, "weight initialization"),
          TW_ENUM("norm", model.norm, "normalization after each hidden Linear"),
          TW_BOOL("residual", model.residual, "skip connections around hidden layers"),
          TW_BOOL("input_batchnorm", model.input_batchnorm, "BatchNorm on the raw inputs"),
          TW_BOOL("detach_branch", model.detach_branch, "two_branch: detach the second branch"),
          TW_INT("image_size", model.image_size, 3, 256, "cnn: image side in pixels"),
          TW_INT("classes", model.classes, 2, 1000, "cnn: classes"),
          TW_INT("seq_len", model.seq_len, 2, 4096, "transformer and lstm: sequence length"),
          TW_INT("vocab", model.vocab, 2, 65536, "transformer: vocabulary size"),
          TW_INT("heads", model.heads, 1, 256, "transformer: attention heads (must divide width)"),
          TW_PATH("model_file", model.model_file, "scripted: TorchScript module saved with torch.jit.save"),
          TW_PATH("data_file", model.data_file, "scripted: tensors saved with torch.save as a dict with 'x' and 'y'"),
          TW_ENUM("loss", model.loss, "loss: auto (the workload's), mse or cross_entropy"),
      });
}

// The fields of recipe.optim.
void add_optimizer_fields(std::vector<Field>& table) {
  const Field part[] = {
      TW_ENUM("optimizer", optim.kind, "optimizer"),
      TW_NUM("lr", optim.lr, 0, 1e6, true, "learning rate"),
      TW_NUM("momentum", optim.momentum, 0, 1, false, "SGD momentum"),
      TW_NUM("weight_decay", optim.weight_decay, 0, 10, false, "AdamW weight decay"),
      TW_ENUM("schedule", optim.schedule, "learning-rate schedule"),
      TW_INT("warmup_steps", optim.warmup_steps, 0, 1 << 30, "warm-up steps of warmup_cosine"),
      TW_NUM("clip_norm", optim.clip_norm, 0, 1e12, false, "global gradient-norm clip (0: off)"),
      TW_INT("accumulation_steps", optim.accumulation_steps, 1, 4096, "micro-batches per optimizer step"),
      TW_ENUM("autocast", optim.autocast, "mixed precision"),
      TW_BOOL("auto_batch_size", optim.auto_batch_size, "search the largest batch that fits"),
  };
  table.insert(table.end(), std::begin(part), std::end(part));
}

// The fields of recipe.loop.
void add_loop_fields(std::vector<Field>& table) {
  table.insert(
      table.end(),
      {
          TW_INT("steps", loop.steps, 1, 1 << 30, "optimizer steps"),
          TW_NUM("target_loss", loop.target_loss, 0, 1e12, false, "eval loss that counts as converged"),
          TW_INT("eval_every", loop.eval_every, 1, 1 << 30, "steps between evaluations"),
          TW_BOOL("cuda_graph", loop.cuda_graph,
                  "CUDA: replay the training step as a CUDA graph after three eager steps (launch-bound nets)"),
          TW_BOOL("carry_state", loop.carry_state, "carry a running state across steps"),
          TW_BOOL("detach_state", loop.detach_state, "detach the carried state every step"),
          TW_INT("intra_op_threads", loop.intra_op_threads, 1, 4096, "intra-op threads of the cell"),
          TW_INT("checkpoint_keep", loop.checkpoint_keep, 0, 1 << 20, "checkpoints kept on disk (0: every one)"),
          TW_ENUM("leak", loop.leak, "memory leak in the loop"),
          TW_BOOL("keep_items_not_tensors", loop.keep_items_not_tensors, "keep loss.item() in histories"),
          TW_BOOL("no_grad_eval", loop.no_grad_eval, "monitoring passes under NoGradGuard"),
          TW_INT("leak_batch", loop.leak_batch, 1, 1 << 24, "batch of the leaking monitoring pass"),
          TW_BOOL("empty_cache", loop.empty_cache, "empty the CUDA cache after every step"),
      });
}

// The fields of recipe.checks.
void add_checks_fields(std::vector<Field>& table) {
  table.insert(
      table.end(),
      {
          TW_BOOL("lr_range_test", checks.lr_range_test, "sweep the LR first and train with the one found"),
          TW_BOOL("gradcheck", checks.gradcheck, "finite-difference check of custom autograd functions first"),
          TW_BOOL("dtype_check", checks.dtype_check, "fail fast on an input dtype the model does not use"),
          TW_BOOL("disk_preflight", checks.disk_preflight,
                  "check the file-size limit and free space before writing a checkpoint"),
          TW_BOOL("device_preflight", checks.device_preflight,
                  "validate CUDA_VISIBLE_DEVICES against the GPUs present"),
          TW_BOOL("context_check", checks.context_check, "diff the numerics environment against the baseline's"),
          TW_BOOL("pin_environment", checks.pin_environment,
                  "run with the numerics environment recorded with the baseline"),
          TW_BOOL("stack_check", checks.stack_check,
                  "check the running stack's versions against known-bad ones before training"),
      });
}

// The fields of recipe.serving.
void add_serving_fields(std::vector<Field>& table) {
  table.insert(
      table.end(),
      {
          TW_INT("serving_memory_mb", serving.memory_mb, 0, 1 << 24, "memory budget of the serving phase (0: none)"),
          TW_ENUM("serving_format", serving.format, "weight format when serving"),
          TW_NUM("prune_fraction", serving.prune_fraction, 0, 1, false, "share of weights pruned by magnitude"),
      });
}

// The fields of recipe.dist.
void add_distributed_fields(std::vector<Field>& table) {
  const Field part[] = {
      TW_NUM("rendezvous_timeout_s", dist.rendezvous_timeout_s, 0, 1e6, true,
             "seconds rank 0 waits for every rank to join"),
      TW_NUM("collective_timeout_s", dist.collective_timeout_s, 0, 1e6, true,
             "seconds a collective waits for its peers"),
      TW_BOOL("device_mapping_preflight", dist.device_mapping_preflight,
              "validate rank -> GPU before creating the process group"),
      TW_BOOL("collective_fingerprint", dist.collective_fingerprint,
              "ProcessGroupWrapper: ranks compare each collective's fingerprint"),
      TW_NUM("monitored_barrier_s", dist.monitored_barrier_s, 0, 1e6, false,
             "timeout of a monitored barrier before the first step (0: none)"),
      TW_BOOL("find_unused_parameters", dist.find_unused_parameters, "DDP finds parameters the loss did not use"),
      TW_BOOL("model_split", dist.model_split, "split the MLP's layers across two ranks"),
      TW_BOOL("flight_recorder", dist.flight_recorder,
              "record collectives in c10d's flight recorder; summarize it when a rank stops"),
  };
  table.insert(table.end(), std::begin(part), std::end(part));
}

// One table drives validation (recipe_params), application and serialization, part by part.
const std::vector<Field>& fields() {
  static const std::vector<Field> table = [] {
    std::vector<Field> all;
    add_data_fields(all);
    add_model_fields(all);
    add_optimizer_fields(all);
    add_loop_fields(all);
    add_checks_fields(all);
    add_serving_fields(all);
    add_distributed_fields(all);
    return all;
  }();
  return table;
}

}  // namespace

std::vector<ParamSpec> recipe_params() {
  std::vector<ParamSpec> out;
  for (const auto& f : fields()) out.push_back(f.spec);
  return out;
}

void Recipe::apply_json(const json& overrides) {
  for (const auto& [key, value] : overrides.items())
    for (const auto& f : fields())
      if (f.spec.name == key) f.set(*this, value);
}

json Recipe::to_json() const {
  json j = json::object();
  for (const auto& f : fields()) j[f.spec.name] = f.get(*this);
  return j;
}

}  // namespace tw
