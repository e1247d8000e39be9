#include "backend/registry.h"

#include "backend/workloads.h"

#include <map>

#include "harness/errors.h"
#include "backend/data_parallel.h"
#include "backend/trainer.h"

namespace tw {
using nlohmann::json;

namespace {
template <typename T>
struct Entry {
  ComponentInfo info;
  std::unique_ptr<T> impl;
};
// Function-local statics: registration runs from static initializers in any order.
std::vector<Entry<Fault>>& faults() {
  static std::vector<Entry<Fault>> v;
  return v;
}
std::vector<Entry<Mitigation>>& mitigations() {
  static std::vector<Entry<Mitigation>> v;
  return v;
}
}  // namespace

// A cell a remedy made multi-rank (data_parallel) trains as DistributedDataParallel does.
void Fault::run(CellEnv& env, Recipe& recipe) const {
  if (env.world_size > 1) {
    train_data_parallel(env, recipe, RankDeviation{});
    return;
  }
  train(env, recipe);
}

bool register_fault(ComponentInfo info, std::unique_ptr<Fault> fault) {
  faults().push_back({std::move(info), std::move(fault)});
  return true;
}

bool register_mitigation(ComponentInfo info, std::unique_ptr<Mitigation> mitigation) {
  mitigations().push_back({std::move(info), std::move(mitigation)});
  return true;
}

const Fault* find_fault(const std::string& name) {
  for (const auto& e : faults())
    if (e.info.name == name) return e.impl.get();
  return nullptr;
}

const Mitigation* find_mitigation(const std::string& name) {
  for (const auto& e : mitigations())
    if (e.info.name == name) return e.impl.get();
  return nullptr;
}

Catalog registered_catalog() {
  Catalog c;
  for (const auto& e : faults()) c.faults.push_back(e.info);
  for (const auto& e : mitigations()) c.mitigations.push_back(e.info);
  std::sort(c.faults.begin(), c.faults.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  std::sort(c.mitigations.begin(), c.mitigations.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  c.recipe = recipe_params();
  c.check_recipe = check_recipe_files;
  return c;
}

double param(const json& params, const char* key, double fallback) {
  auto it = params.find(key);
  return it != params.end() && it->is_number() ? it->get<double>() : fallback;
}
int64_t param_int(const json& params, const char* key, int64_t fallback) {
  auto it = params.find(key);
  return it != params.end() && it->is_number() ? static_cast<int64_t>(it->get<double>()) : fallback;
}
std::string param_str(const json& params, const char* key, const std::string& fallback) {
  auto it = params.find(key);
  return it != params.end() && it->is_string() ? it->get<std::string>() : fallback;
}
bool param_bool(const json& params, const char* key, bool fallback) {
  auto it = params.find(key);
  return it != params.end() && it->is_boolean() ? it->get<bool>() : fallback;
}

std::string first_line(const std::string& message) { return message.substr(0, message.find('\n')); }

}  // namespace tw
