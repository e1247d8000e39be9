#pragma once
// The commands of the trainwreck command line, one file each under harness/cli/; main.cpp
// dispatches to them. Each returns the process exit code (errors.h) or throws InputError or
// ResultsError, which trainwreck_main reports.
#include <cstdint>

#include "harness/backend.h"
#include "harness/catalog.h"

namespace tw::cli {

constexpr uint64_t kDefaultSeed = 20240611;
constexpr int kMaxSeeds = 100;  // --seeds N

int cmd_run(int argc, char** argv, const Backend& backend, bool selftest);  // run, selftest
int cmd_list(int argc, char** argv, const Backend& backend);
int cmd_diff(int argc, char** argv);
int cmd_merge(int argc, char** argv);
int cmd_report(int argc, char** argv);
int cmd_pin(int argc, char** argv, const Backend& backend);
int cmd_speed(int argc, char** argv, const Backend& backend);
int cmd_bisect(int argc, char** argv, const Backend& backend);
// The internal entries: one rank of a cell, and the probe of versions and devices.
int cmd_cell(int argc, char** argv, const Backend& backend);
int cmd_probe(const Backend& backend);

// The self-test faults and the backend's components.
Catalog full_catalog(const Backend& backend);

}  // namespace tw::cli
