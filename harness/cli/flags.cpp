#include "harness/cli/flags.h"

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <system_error>

#include "harness/errors.h"

namespace tw::cli {
namespace fs = std::filesystem;

Flags parse_flags(const std::string& command, int argc, char** argv, int first, const std::set<std::string>& with_value,
                  const std::set<std::string>& switches, std::size_t max_positional) {
  Flags f;
  for (int i = first; i < argc; ++i) {
    std::string a = argv[i];
    std::string value;
    bool inline_value = false;
    if (a.rfind("--", 0) == 0) {
      const auto eq = a.find('=');
      if (eq != std::string::npos) {
        value = a.substr(eq + 1);
        a = a.substr(0, eq);
        inline_value = true;
      }
      if (with_value.count(a)) {
        if (!inline_value) {
          if (i + 1 >= argc) throw InputError("command line", a, "needs a value (see trainwreck --help)");
          value = argv[++i];
        }
        f.values[a].push_back(value);
      } else if (switches.count(a) && !inline_value) {
        f.switches.insert(a);
      } else {
        throw InputError("command line", a, "unknown flag for '" + command + "' (see trainwreck --help)");
      }
    } else if (a.size() > 1 && a[0] == '-') {
      throw InputError("command line", a, "unknown flag for '" + command + "' (see trainwreck --help)");
    } else {
      if (f.positional.size() >= max_positional)
        throw InputError("command line", a, "unexpected argument for '" + command + "'");
      f.positional.push_back(a);
    }
  }
  return f;
}

long long parse_int(const std::string& text, const std::string& flag, long long min, long long max) {
  std::size_t used = 0;
  long long v = 0;
  try {
    v = std::stoll(text, &used);
  } catch (...) {
    used = 0;
  }
  if (used == 0 || used != text.size() || v < min || v > max)
    throw InputError(
        "command line", flag,
        "must be an integer from " + std::to_string(min) + " to " + std::to_string(max) + " (got '" + text + "')");
  return v;
}

double parse_number(const std::string& text) {
  std::size_t used = 0;
  double v = 0;
  try {
    v = std::stod(text, &used);
  } catch (...) {
    used = 0;
  }
  return used == 0 || used != text.size() ? std::nan("") : v;
}

double parse_seconds(const std::string& text, const std::string& flag) {
  const double v = parse_number(text);
  if (!(v > 0) || v > 86400)
    throw InputError("command line", flag, "must be a number of seconds in (0, 86400] (got '" + text + "')");
  return v;
}

double parse_fraction(const std::string& text, const std::string& flag) {
  const double v = parse_number(text);
  if (!(v >= 0) || v > 1e6)
    throw InputError("command line", flag, "must be a relative tolerance >= 0, e.g. 0.05 for 5% (got '" + text + "')");
  return v;
}

double parse_horizon(const std::string& text) {
  char* end = nullptr;
  const double x = std::strtod(text.c_str(), &end);
  if (text.empty() || *end != '\0' || !(x >= 0.1 && x <= 100))
    throw InputError("command line", "--horizon", "must be a number from 0.1 to 100, not '" + text + "'");
  return x;
}

void check_device(const std::string& device) {
  if (device != "auto" && device != "cpu" && device != "cuda" && device != "all")
    throw InputError("command line", "--device", "must be auto, cpu, cuda or all (got '" + device + "')");
}

std::vector<std::string> resolve_devices(const std::string& device, const Capabilities& caps) {
  if (device == "auto") return {caps.gpus > 0 ? "cuda" : "cpu"};
  if (device == "all") return {"cpu", "cuda"};
  return {device};
}

std::vector<std::string> scenario_paths(const Flags& f) {
  auto paths = f.all("--scenarios");
  if (paths.empty()) paths.push_back("scenarios");
  for (const auto& p : paths) {
    std::error_code ec;
    if (!fs::exists(p, ec)) throw InputError(p, "", "no such scenario file or directory (--scenarios)");
  }
  return paths;
}

DiffOptions diff_options(const Flags& f) {
  DiffOptions o;
  if (f.has("--loss-tolerance")) o.loss_tolerance = parse_fraction(f.one("--loss-tolerance"), "--loss-tolerance");
  if (f.has("--memory-tolerance"))
    o.memory_tolerance = parse_fraction(f.one("--memory-tolerance"), "--memory-tolerance");
  return o;
}

std::string word_list(const std::vector<std::string>& words, const std::string& last) {
  std::string out;
  for (std::size_t i = 0; i < words.size(); ++i)
    out += (i == 0 ? "" : i + 1 == words.size() ? " " + last + " " : ", ") + words[i];
  return out;
}

std::string format_flag(const Flags& f, const std::vector<std::string>& allowed) {
  const std::string word = f.one("--format", "text");
  for (const auto& format : allowed)
    if (word == format) return word;
  throw InputError("command line", "--format", "must be " + word_list(allowed) + " (got '" + word + "')");
}

}  // namespace tw::cli
