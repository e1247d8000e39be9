#pragma once
// Built-in cells that need no LibTorch: each misbehaves in one way a real cell can (segfault,
// abort, hang, spin, flood, leak, ...), to prove that the harness isolates and classifies it.
#include <nlohmann/json.hpp>

#include "harness/catalog.h"
#include "harness/event_writer.h"
#include "harness/scenario.h"

namespace tw {

Catalog selftest_catalog();  // the selftest_* faults and the built-in "none" mitigation
bool is_selftest_fault(const std::string& fault);
void run_selftest_cell(const nlohmann::json& cell, const EventWriter& events);

// One scenario per self-test fault, with the outcome the harness must classify it as.
std::vector<Scenario> selftest_scenarios();

// Lowers RLIMIT_DATA to what the process uses now plus `budget_bytes`.
void limit_data_growth(long long budget_bytes);

}  // namespace tw
