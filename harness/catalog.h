#pragma once
// What the training side offers, described as plain data so the harness can validate scenarios
// and list components without knowing LibTorch.
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace tw {

struct ParamSpec {
  enum class Type { kNumber, kInteger, kBool, kString, kVersion };  // kVersion: "2.28.9"
  std::string name;
  Type type = Type::kNumber;
  double min = -1e300;  // inclusive bounds for numbers
  double max = 1e300;
  bool min_exclusive = false;
  std::vector<std::string> choices;  // allowed values for strings (empty: any)
  std::string help;
  bool path = false;  // a file: resolved against the scenario's directory, which must hold it
};

// What is wrong with a scenario's recipe or a component's parameters beyond their fields' types
// and ranges.
struct RecipeProblem {
  std::string field;  // "recipe.model_file", or a parameter's name
  std::string message;
};

struct ComponentInfo {
  std::string name;
  std::string summary;
  std::string article_row;                // which row of the source article it belongs to
  std::vector<ParamSpec> params;          // accepted parameters (anything else is an error)
  std::vector<std::string> requirements;  // "cuda", "gpus>=2", ...
  int ranks = 1;                          // processes per cell (distributed faults)
  // Checks the parameters together (one bound below another, ...); unset: none beyond each field's.
  std::function<std::optional<RecipeProblem>(const nlohmann::json& params)> check_params;
};

struct Catalog {
  std::vector<ComponentInfo> faults;
  std::vector<ComponentInfo> mitigations;
  std::vector<ParamSpec> recipe;  // fields accepted in a scenario's "recipe"
  // The backend's check of a recipe whose paths are resolved (it loads the model and data files
  // a recipe names); unset: no check beyond the fields.
  std::function<std::optional<RecipeProblem>(const nlohmann::json& recipe)> check_recipe;

  const ComponentInfo* fault(const std::string& name) const;
  const ComponentInfo* mitigation(const std::string& name) const;
  void add(const Catalog& other);  // union; later duplicates are an internal error
};

const char* to_string(ParamSpec::Type type);

// Validates `value` (an object) against `specs`. Throws InputError naming `where` and the
// dotted field path `prefix.name` on the first problem.
void validate_params(const nlohmann::json& value, const std::vector<ParamSpec>& specs, const std::string& where,
                     const std::string& prefix);
// validate_params against a component's specs, then its check_params on the whole object.
void validate_component_params(const nlohmann::json& value, const ComponentInfo& info, const std::string& where,
                               const std::string& prefix);

}  // namespace tw
