// Helpers shared by the command-line tests: starting the harness host without waiting, waiting for
// it and its children, the self-test cells, and what a run leaves in its results directory.
#pragma once

#include <errno.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "harness/plan.h"
#include "harness/selftest.h"
#include "test_support.h"

#ifndef HARNESS_HOST
#error "HARNESS_HOST must name the trainwreck_harness_host executable"
#endif

namespace tw_test::cli_util {
namespace fs = std::filesystem;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

// Starts the harness host without waiting, its output into files.
inline pid_t spawn_host(const std::vector<std::string>& args, const std::string& out, const std::string& err) {
  const pid_t pid = fork();
  if (pid == 0) {
    unsetenv("TEST_SHARD_INDEX");
    unsetenv("TEST_TOTAL_SHARDS");
    freopen(out.c_str(), "w", stdout);
    freopen(err.c_str(), "w", stderr);
    std::vector<std::string> store = {HARNESS_HOST};
    store.insert(store.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : store) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  return pid;
}

inline int wait_exit(pid_t pid) {
  int status = 0;
  waitpid(pid, &status, 0);
  return exit_code(status);
}

inline bool wait_until(const std::function<bool()>& done, double seconds) {
  const auto deadline = Clock::now() + std::chrono::duration<double>(seconds);
  while (!done()) {
    if (Clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

inline std::vector<std::string> files_ending(const std::string& dir, const std::string& suffix) {
  std::vector<std::string> out;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    const std::string p = it->path().string();
    if (p.size() >= suffix.size() && p.compare(p.size() - suffix.size(), suffix.size(), suffix) == 0) out.push_back(p);
  }
  return out;
}

inline std::vector<pid_t> children_of(pid_t parent) {
  std::vector<pid_t> out;
  std::error_code ec;
  for (auto it = fs::directory_iterator("/proc", ec); !ec && it != fs::directory_iterator(); it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    const std::string stat = slurp(it->path().string() + "/stat");
    const auto paren = stat.rfind(')');
    if (paren == std::string::npos) continue;
    std::istringstream rest(stat.substr(paren + 2));
    char state = 0;
    long ppid = 0;
    rest >> state >> ppid;
    if (ppid == parent) out.push_back(static_cast<pid_t>(std::stol(name)));
  }
  return out;
}

// Gone, or a zombie waiting for whoever adopted it.
inline bool is_gone(pid_t pid) {
  if (kill(pid, 0) != 0 && errno == ESRCH) return true;
  const std::string stat = slurp("/proc/" + std::to_string(pid) + "/stat");
  const auto paren = stat.rfind(')');
  return paren != std::string::npos && paren + 2 < stat.size() && stat[paren + 2] == 'Z';
}

inline std::vector<std::string> selftest_ids() {
  tw::PlanOptions o;
  o.devices = {"cpu"};
  std::vector<std::string> ids;
  for (const auto& c : tw::plan_cells(tw::selftest_scenarios(), tw::selftest_catalog(), o)) ids.push_back(c.id);
  return ids;
}

inline std::vector<std::string> ids_of(const json& matrix) {
  std::vector<std::string> ids;
  for (const auto& c : matrix["cells"]) ids.push_back(c["id"]);
  return ids;
}

inline std::map<std::string, std::string> outcomes_of(const json& matrix) {
  std::map<std::string, std::string> m;
  for (const auto& c : matrix["cells"]) m[c["id"]] = c["outcome"];
  return m;
}

// The cells that end quickly, with at least one step each where they have any.
inline const std::string kQuickCells =
    "--filter 'selftest_ok/*' --filter 'selftest_diverge/*' --filter 'selftest_leak/*' --filter 'selftest_exception/*'";
// Nothing half-written is left, and every JSON file parses.
inline void expect_clean_results(const std::string& dir) {
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    const std::string name = it->path().filename().string();
    EXPECT_EQ(name.find(".tmp."), std::string::npos) << it->path();
    EXPECT_NE(it->path().extension(), ".partial") << it->path();
    if (it->path().extension() == ".json") {
      EXPECT_FALSE(json::parse(slurp(it->path().string()), nullptr, false).is_discarded()) << it->path();
    }
    if (it->path().extension() == ".jsonl") {
      std::istringstream in(slurp(it->path().string()));
      for (std::string line; std::getline(in, line);)
        EXPECT_FALSE(json::parse(line, nullptr, false).is_discarded()) << it->path() << ": " << line;
    }
  }
}

}  // namespace tw_test::cli_util
