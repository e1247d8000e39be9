#pragma once
// Small helpers the renderers and the diff share for reading matrix.json values (internal to the
// harness): a member or null, the cells, leaves by dotted path, values and numbers as text.
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

namespace tw {

// obj[key] by reference, or a null value when obj is not an object or lacks the key (json's
// value() would copy, operator[] would insert).
const nlohmann::json& member(const nlohmann::json& obj, const char* key);

// The matrix's "cells" array by reference; an empty array when there is none.
const nlohmann::json& cells_of(const nlohmann::json& matrix);

// The leaves of nested objects by dotted path ("probe.libtorch"), in the objects' order; an
// empty object has no leaf. `prefix` names the value itself.
std::vector<std::pair<std::string, nlohmann::json>> flatten(const nlohmann::json& v, const std::string& prefix = "");

// A value as text: a string as it is, null as "(none)", a float to 6 significant digits,
// anything else as compact JSON (invalid UTF-8 replaced).
std::string show(const nlohmann::json& v);

// A number to `precision` significant digits ("0.1", "1.5e+06").
std::string format_number(double v, int precision);
// A byte count in MiB, the number only, to `precision` significant digits.
std::string in_mib(double bytes, int precision);

// A recorded value that may be non-finite: a number, or the words "nan", "inf"/"+inf", "-inf"
// (any other string reads as NaN). False for null and anything else.
bool recorded_number(const nlohmann::json& v, double& out);
// A finite number (a JSON number that is neither NaN nor infinite).
bool finite_number(const nlohmann::json& v, double& out);

}  // namespace tw
