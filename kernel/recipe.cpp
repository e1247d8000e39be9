#include "kernel/recipe.h"

#include <functional>

namespace tw {
using nlohmann::json;
using Type = ParamSpec::Type;

namespace {

// One table drives validation (recipe_params), application and serialization.
struct Field {
  ParamSpec spec;
  std::function<void(Recipe&, const json&)> set;
  std::function<json(const Recipe&)> get;
};

#define TW_INT(name, lo, hi, help) \
  Field{{#name, Type::kInteger, lo, hi, false, {}, help}, [](Recipe& r, const json& v) { r.name = v.get<int64_t>(); }, \
        [](const Recipe& r) { return json(r.name); }}
#define TW_NUM(name, lo, hi, excl, help) \
  Field{{#name, Type::kNumber, lo, hi, excl, {}, help}, [](Recipe& r, const json& v) { r.name = v.get<double>(); }, \
        [](const Recipe& r) { return json(r.name); }}
#define TW_BOOL(name, help) \
  Field{{#name, Type::kBool, 0, 1, false, {}, help}, [](Recipe& r, const json& v) { r.name = v.get<bool>(); }, \
        [](const Recipe& r) { return json(r.name); }}
#define TW_STR(name, help, ...) \
  Field{{#name, Type::kString, 0, 0, false, {__VA_ARGS__}, help}, \
        [](Recipe& r, const json& v) { r.name = v.get<std::string>(); }, [](const Recipe& r) { return json(r.name); }}

const std::vector<Field>& fields() {
  static const std::vector<Field> table = {
      TW_INT(features, 1, 4096, "input features"),
      TW_INT(dataset_size, 16, 1 << 26, "training examples"),
      TW_INT(batch_size, 1, 1 << 24, "examples per optimizer step"),
      TW_NUM(input_scale, 0, 1e12, true, "scale of the raw features"),
      TW_NUM(input_offset, -1e12, 1e12, false, "offset of the raw features"),
      TW_STR(input_transform, "input preprocessing", "none", "standardize", "minmax"),
      TW_STR(input_dtype, "dtype the data arrives in", "float32", "float64", "int64"),
      TW_BOOL(cast_inputs, "cast inputs to the model's dtype"),
      TW_STR(data_source, "how batches are produced", "memory", "streaming"),
      TW_STR(model, "architecture", "mlp", "two_branch"),
      TW_INT(depth, 1, 10000, "Linear layers"),
      TW_INT(width, 1, 65536, "hidden width"),
      TW_STR(activation, "hidden activation", "relu", "sigmoid", "tanh", "leaky_relu", "relu6"),
      TW_STR(init, "weight initialization", "default", "he", "xavier"),
      TW_STR(norm, "normalization after each hidden Linear", "none", "batchnorm", "layernorm"),
      TW_BOOL(residual, "skip connections around hidden layers"),
      TW_BOOL(input_batchnorm, "BatchNorm on the raw inputs"),
      TW_BOOL(detach_branch, "two_branch: detach the second branch"),
      TW_STR(optimizer, "optimizer", "sgd", "adam"),
      TW_NUM(lr, 0, 1e6, true, "learning rate"),
      TW_NUM(momentum, 0, 1, false, "SGD momentum"),
      TW_STR(schedule, "learning-rate schedule", "constant", "warmup_cosine"),
      TW_INT(warmup_steps, 0, 1 << 30, "warm-up steps of warmup_cosine"),
      TW_NUM(clip_norm, 0, 1e12, false, "global gradient-norm clip (0: off)"),
      TW_INT(accumulation_steps, 1, 4096, "micro-batches per optimizer step"),
      TW_STR(autocast, "mixed precision", "none", "bf16", "fp16"),
      TW_BOOL(auto_batch_size, "search the largest batch that fits"),
      TW_INT(steps, 1, 1 << 30, "optimizer steps"),
      TW_NUM(target_loss, 0, 1e12, false, "eval loss that counts as converged"),
      TW_INT(eval_every, 1, 1 << 30, "steps between evaluations"),
      TW_BOOL(stop_at_target, "stop once the target is reached"),
      TW_STR(leak, "memory leak in the loop", "none", "eval_loss_history", "activation_history"),
      TW_BOOL(keep_items_not_tensors, "keep loss.item() in histories"),
      TW_BOOL(no_grad_eval, "monitoring passes under NoGradGuard"),
      TW_INT(leak_batch, 1, 1 << 24, "batch of the leaking monitoring pass"),
      TW_BOOL(empty_cache, "empty the CUDA cache after every step"),
  };
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
