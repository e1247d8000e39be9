#pragma once
// Internal to scenario.cpp and scenario_fields.cpp: the readers of a scenario's fields. Each
// checks what it reads and throws InputError naming the file (`where`) and the field.
#include <initializer_list>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "harness/catalog.h"
#include "harness/scenario.h"

namespace tw::scenario_detail {

// 1-64 characters of a-z, 0-9, '_' or '-': a scenario's name, a cell's label.
bool valid_name(const std::string& s);
// obj[key], or null when obj lacks it.
const nlohmann::json* member_of(const nlohmann::json& obj, const char* key);
// obj[key] as a string; "" when absent and not `required`.
std::string get_string(const nlohmann::json& obj, const char* key, const std::string& where, const std::string& field,
                       bool required);
// Every key of `obj` is one of `allowed` (`prefix` names the object in the message).
void check_keys(const nlohmann::json& obj, std::initializer_list<const char*> allowed, const std::string& where,
                const std::string& prefix);
// An array of strings.
std::vector<std::string> string_list(const nlohmann::json& v, const std::string& where, const std::string& field);

// "limits": the wall-clock and heartbeat limits, the memory budget, whether the cell runs alone.
Limits parse_limits(const nlohmann::json& v, const std::string& where);
// "devices": device classes ("cpu", "cuda"), at least one, each once.
std::vector<std::string> parse_devices(const nlohmann::json& v, const std::string& where);
// One entry of "mitigations" (`prefix` is "mitigations[i]"): a mitigation with its parameters,
// or a stack ("apply"), with its label and expectations.
MitigationEntry parse_mitigation(const nlohmann::json& m, const std::string& where, const std::string& prefix,
                                 const Catalog& catalog);
// The files a recipe names, resolved against the scenario file's directory (each must be a
// regular file), then the backend's check of the whole recipe (catalog.check_recipe).
void resolve_recipe_files(nlohmann::json& recipe, const Catalog& catalog, const std::string& where);

}  // namespace tw::scenario_detail
