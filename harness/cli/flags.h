#pragma once
// The command line's flags: what each command accepts, read into one value, and the parsers of
// the values that several commands share (numbers, seconds, tolerances, --scenarios, --format).
#include <cstddef>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "harness/diff.h"
#include "harness/plan.h"

namespace tw::cli {

struct Flags {
  std::map<std::string, std::vector<std::string>> values;
  std::set<std::string> switches;
  std::vector<std::string> positional;
  bool has(const std::string& f) const { return values.count(f) || switches.count(f); }
  std::string one(const std::string& f, const std::string& fallback = "") const {
    auto it = values.find(f);
    return it == values.end() ? fallback : it->second.back();
  }
  std::vector<std::string> all(const std::string& f) const {
    auto it = values.find(f);
    return it == values.end() ? std::vector<std::string>{} : it->second;
  }
};

// argv[first..] of `command`: flags that take a value (--flag V or --flag=V), switches, and at
// most `max_positional` other arguments. Throws InputError on anything else.
Flags parse_flags(const std::string& command, int argc, char** argv, int first, const std::set<std::string>& with_value,
                  const std::set<std::string>& switches, std::size_t max_positional);

// An integer from min to max; throws InputError naming `flag`.
long long parse_int(const std::string& text, const std::string& flag, long long min, long long max);
// The whole of `text` as a number; NaN when it is not one.
double parse_number(const std::string& text);
// A number of seconds in (0, 86400].
double parse_seconds(const std::string& text, const std::string& flag);
// A relative tolerance >= 0 (0.05 for 5%).
double parse_fraction(const std::string& text, const std::string& flag);
// --horizon X: from 0.1 to 100 times the scenarios' steps.
double parse_horizon(const std::string& text);

// --device: auto, cpu, cuda or all; throws InputError on anything else.
void check_device(const std::string& device);
// The device classes --device names on a machine with `caps`: auto is CUDA when there is a GPU.
std::vector<std::string> resolve_devices(const std::string& device, const Capabilities& caps);

// --scenarios (repeatable; default ./scenarios), each of which must exist.
std::vector<std::string> scenario_paths(const Flags& f);
// --loss-tolerance and --memory-tolerance over the defaults.
DiffOptions diff_options(const Flags& f);

// "a", "a or b", "a, b or c": a list of choices as an error message says it; `last` joins the
// last two ("or", "and").
std::string word_list(const std::vector<std::string>& words, const std::string& last = "or");
// --format (default text), one of `allowed`; throws InputError listing them.
std::string format_flag(const Flags& f, const std::vector<std::string>& allowed);

}  // namespace tw::cli
