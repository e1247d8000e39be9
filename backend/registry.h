#pragma once
// Faults and mitigations: small interfaces registered by name. Adding one touches one file
// under faults/ or mitigations/ and one scenario file; nothing else changes.
#include <c10/core/Device.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "harness/catalog.h"
#include "harness/event_writer.h"
#include "backend/recipe.h"

namespace tw {

// Where and how a cell runs; handed to a fault that runs its own procedure.
struct CellEnv {
  const nlohmann::json& cell;
  const EventWriter& events;
  c10::Device device;
  uint64_t seed = 0;
  int rank = 0;
  int world_size = 1;
  int64_t memory_budget_bytes = 0;
  std::string mitigation;              // registered name ("none" for the bare fault)
  nlohmann::json mitigation_params;
};

class Fault {
 public:
  virtual ~Fault() = default;
  // Bends the healthy recipe.
  virtual void apply(Recipe& /*recipe*/, const nlohmann::json& /*params*/) const {}
  // Runs in the cell process before anything touches CUDA (environment variables that CUDA
  // reads at initialization are set here). Returns false when the cell is already decided
  // (it reported through `events`).
  virtual bool before_device(Recipe& /*recipe*/, const nlohmann::json& /*params*/,
                             const EventWriter& /*events*/) const {
    return true;
  }
  // Most faults train with the kernel's loop; others (collectives, disks, devices) run
  // their own procedure and report through env.events.
  virtual void run(CellEnv& env, Recipe& recipe) const;
};

class Mitigation {
 public:
  virtual ~Mitigation() = default;
  virtual void apply(Recipe& /*recipe*/, const nlohmann::json& /*params*/) const {}
};

bool register_fault(ComponentInfo info, std::unique_ptr<Fault> fault);
bool register_mitigation(ComponentInfo info, std::unique_ptr<Mitigation> mitigation);
const Fault* find_fault(const std::string& name);
const Mitigation* find_mitigation(const std::string& name);
Catalog registered_catalog();

// Parameter access with defaults (values were validated against the ParamSpecs).
double param(const nlohmann::json& params, const char* key, double fallback);
int64_t param_int(const nlohmann::json& params, const char* key, int64_t fallback);
std::string param_str(const nlohmann::json& params, const char* key, const std::string& fallback);

// The first line of a LibTorch message (the rest is a C++ backtrace).
std::string first_line(const std::string& message);
bool param_bool(const nlohmann::json& params, const char* key, bool fallback);

}  // namespace tw

#define TW_CONCAT_INNER(a, b) a##b
#define TW_CONCAT(a, b) TW_CONCAT_INNER(a, b)
// TW_REGISTER_FAULT(LrTooHigh, {"lr_too_high", "summary", "article row", {params}, {requires}, ranks});
#define TW_REGISTER_FAULT(Class, ...) \
  static const bool TW_CONCAT(kRegistered, Class) = ::tw::register_fault(::tw::ComponentInfo __VA_ARGS__, std::make_unique<Class>())
#define TW_REGISTER_MITIGATION(Class, ...)                \
  static const bool TW_CONCAT(kRegistered, Class) =       \
      ::tw::register_mitigation(::tw::ComponentInfo __VA_ARGS__, std::make_unique<Class>())
