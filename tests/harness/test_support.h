// Helpers shared by the harness tests: a temporary directory, file I/O, running the harness host
// through the shell with its output captured, and matrix cells for the reporter tests.
#pragma once

#include <stdlib.h>
#include <sys/wait.h>

#include <cstddef>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>
#include <string>
#include <system_error>

namespace tw_test {

// A fresh directory under the system temporary directory, removed with everything in it.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "tw_test_XXXXXX").string();
    if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }
  // Writes a file in the directory and returns its path.
  std::string write(const std::string& name, const std::string& content) const {
    const std::string p = *this / name;
    std::ofstream(p, std::ios::binary) << content;
    return p;
  }

 private:
  std::string path_;
};

inline std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream buf;
  buf << in.rdbuf();
  return buf.str();
}

inline void write(const std::string& path, const std::string& content) {
  std::ofstream(path, std::ios::binary) << content;
}

inline nlohmann::json read_json(const std::string& path) { return nlohmann::json::parse(slurp(path)); }

// The exit status of a shell, as the shell reports it: 128 + the signal for a killed process.
inline int exit_code(int status) { return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status); }

inline std::size_t count(const std::string& haystack, const std::string& needle) {
  std::size_t n = 0;
  for (std::size_t pos = haystack.find(needle); pos != std::string::npos; pos = haystack.find(needle, pos + 1)) ++n;
  return n;
}

struct ShellResult {
  int code = -1;
  std::string out, err;
};

// Runs a shell command line with stdin closed and its output captured.
inline ShellResult run_shell(const std::string& cmd) {
  TempDir io;
  ShellResult r;
  r.code = exit_code(std::system(("( " + cmd + " ) >'" + io / "out" + "' 2>'" + io / "err" + "' </dev/null").c_str()));
  r.out = slurp(io / "out");
  r.err = slurp(io / "err");
  return r;
}

#ifdef HARNESS_HOST
// Runs the harness host with shell-quoted ARGS; shard variables from the environment (ctest's)
// must not shrink the plan. PREFIX goes before the command (environment assignments, ulimit).
inline ShellResult run_host(const std::string& args, const std::string& prefix = "") {
  return run_shell(prefix + "env -u TEST_SHARD_INDEX -u TEST_TOTAL_SHARDS '" HARNESS_HOST "' " + args);
}
#endif

// One cell of a matrix as the harness writes it; the verdict follows from the expectation.
inline nlohmann::json cell(const std::string& scenario, const std::string& label, const std::string& device,
                           const std::string& outcome, nlohmann::json expected,
                           nlohmann::json evidence = nlohmann::json::object(),
                           nlohmann::json series = nlohmann::json()) {
  std::string verdict = "unpinned";
  if (!expected.is_null()) verdict = expected == outcome ? "pass" : "unexpected";
  nlohmann::json c = {{"id", scenario + "/" + label + "/" + device},
                      {"scenario", scenario},
                      {"fault", "fault_of_" + scenario},
                      {"mitigation", label},
                      {"device", device},
                      {"outcome", outcome},
                      {"expected", expected},
                      {"verdict", verdict},
                      {"evidence", evidence}};
  if (!series.is_null()) c["series"] = series;
  return c;
}

}  // namespace tw_test
