// Helpers shared by the scenario tests: a catalog of components with typed parameters, and a
// scenario with every field set that a test patches in one place.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "harness/catalog.h"

namespace tw_test::scenario_util {
using nlohmann::json;

inline tw::ParamSpec number(const std::string& name, double min, bool exclusive, double max = 1e300) {
  tw::ParamSpec p;
  p.name = name;
  p.type = tw::ParamSpec::Type::kNumber;
  p.min = min;
  p.min_exclusive = exclusive;
  p.max = max;
  return p;
}

inline tw::ParamSpec integer(const std::string& name, double min, double max) {
  tw::ParamSpec p = number(name, min, false, max);
  p.type = tw::ParamSpec::Type::kInteger;
  return p;
}

inline tw::ParamSpec text(const std::string& name, std::vector<std::string> choices) {
  tw::ParamSpec p;
  p.name = name;
  p.type = tw::ParamSpec::Type::kString;
  p.choices = std::move(choices);
  return p;
}

inline tw::ParamSpec boolean(const std::string& name) {
  tw::ParamSpec p;
  p.name = name;
  p.type = tw::ParamSpec::Type::kBool;
  return p;
}

inline tw::Catalog test_catalog() {
  tw::Catalog c;
  tw::ComponentInfo lr;
  lr.name = "lr_too_high";
  lr.params = {number("lr", 0, /*exclusive=*/true), integer("steps", 1, 100000), text("optimizer", {"sgd", "adam"}),
               boolean("verbose")};
  tw::ComponentInfo mismatch;
  mismatch.name = "collective_mismatch";
  mismatch.requirements = {"nccl", "gpus>=2"};
  mismatch.ranks = 2;
  c.faults = {lr, mismatch};

  tw::ComponentInfo none;
  none.name = "none";
  tw::ComponentInfo clip;
  clip.name = "gradient_clipping";
  clip.params = {number("max_norm", 0, /*exclusive=*/true)};
  tw::ComponentInfo lower;
  lower.name = "lower_lr";
  lower.params = {number("lr", 0, /*exclusive=*/true, /*max=*/10)};
  // Remedies that practice applies together (a residual net: blocks, BatchNorm, He init).
  tw::ComponentInfo residual, batchnorm, he_init;
  residual.name = "residual";
  residual.params = {integer("every", 1, 100)};
  batchnorm.name = "batchnorm";
  he_init.name = "he_init";
  he_init.params = {number("gain", 0, /*exclusive=*/true)};
  c.mitigations = {none, clip, lower, residual, batchnorm, he_init};

  c.recipe = {number("lr", 0, /*exclusive=*/true), integer("batch_size", 1, 1 << 20),
              text("optimizer", {"sgd", "adam"})};
  return c;
}

// Every field set, so that each malformed case below differs from it in one place.
inline json base_scenario() {
  return json::parse(R"({
    "name": "lr_one",
    "fault": "lr_too_high",
    "description": "SGD with LR 1.0 diverges within a few steps",
    "params": {"lr": 1.0, "steps": 50, "optimizer": "sgd", "verbose": false},
    "recipe": {"batch_size": 64, "optimizer": "sgd"},
    "limits": {"wall_seconds": 60, "heartbeat_seconds": 10, "memory_mb": 512},
    "devices": ["cpu", "cuda"],
    "mitigations": [
      {"name": "none", "expect": {"cpu": "diverged", "cuda": "diverged"}},
      {"name": "lower_lr", "label": "lr_0_01", "params": {"lr": 0.01}, "expect": {"cpu": "healthy"},
       "note": "the article's first remedy"},
      {"name": "gradient_clipping", "params": {"max_norm": 1.0}, "expect": {"cpu": "healthy", "cuda": "healthy"}}
    ]
  })");
}

inline std::string with(const char* patch) {
  json s = base_scenario();
  s.merge_patch(json::parse(patch));
  return s.dump(2);
}

}  // namespace tw_test::scenario_util
