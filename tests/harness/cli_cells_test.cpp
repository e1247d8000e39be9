// `trainwreck list --cells` for scripts, and cmake/ctest_cells.cmake registering every self-test cell
// as a CTest test in a throwaway project.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "cli_test_util.h"
#include "harness/errors.h"
#include "test_support.h"

#ifndef TRAINWRECK_SOURCE_DIR
#error "TRAINWRECK_SOURCE_DIR must name the source tree"
#endif

namespace {
namespace fs = std::filesystem;
using nlohmann::json;
using namespace tw_test;
using HostResult = ShellResult;
using namespace tw_test::cli_util;

// ---- list --cells and the CTest registration ---------------------------------------------------

TEST(CliList, CellsOnePerLineForScripts) {
  const HostResult r = run_host("list --cells --selftest --device cpu");
  ASSERT_EQ(r.code, 0) << r.err;
  std::istringstream in(r.out);
  std::vector<std::string> ids;
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("#", 0) == 0) continue;
    std::vector<std::string> fields;
    std::istringstream fs_(line);
    for (std::string f; std::getline(fs_, f, '\t');) fields.push_back(f);
    ASSERT_GE(fields.size(), 7u) << line;
    EXPECT_EQ(fields[4], "cpu");
    ids.push_back(fields[0]);
  }
  EXPECT_EQ(ids, selftest_ids());
  EXPECT_EQ(r.out.find("# capabilities"), std::string::npos);  // cpu only: no probe

  const HostResult all = run_host("list --cells --selftest --device all --filter 'selftest_ok/*'");
  EXPECT_NE(all.out.find("# capabilities gpus=0"), std::string::npos) << all.out;
  const HostResult j = run_host("list --cells --selftest --device cpu --json --filter 'selftest_diverge/*'");
  const json cells = json::parse(j.out)["cells"];
  ASSERT_EQ(cells.size(), 1u);
  EXPECT_EQ(cells[0]["fault"], "selftest_diverge");
  EXPECT_EQ(cells[0]["expected"], "diverged");
  EXPECT_EQ(run_host("list --device cpu").code, tw::kExitBadInput);
  EXPECT_EQ(run_host("list --cells --device tpu").code, tw::kExitBadInput);
}

std::string cache_value(const std::string& cache, const std::string& key) {
  std::istringstream in(cache);
  for (std::string line; std::getline(in, line);)
    if (line.rfind(key + ":", 0) == 0) return line.substr(line.find('=') + 1);
  return "";
}

// CMake and CTest of the build the harness host came from (empty without a CMakeCache.txt).
struct CmakeTools {
  std::string cmake, ctest;
};
CmakeTools build_tools() {
  const std::string cache = slurp(fs::path(HARNESS_HOST).parent_path().string() + "/CMakeCache.txt");
  return {cache_value(cache, "CMAKE_COMMAND"), cache_value(cache, "CMAKE_CTEST_COMMAND")};
}

// A throwaway project in tmp/project whose tests are the self-test cells (cmake/ctest_cells.cmake),
// followed by `extra` CMake lines.
void write_cells_project(TempDir& tmp, const std::string& extra) {
  fs::create_directory(tmp / "project");
  write(tmp / "project/CMakeLists.txt",
        "cmake_minimum_required(VERSION 3.18)\nproject(cells NONE)\nenable_testing()\n"
        "include(" TRAINWRECK_SOURCE_DIR
        "/cmake/ctest_cells.cmake)\n"
        "trainwreck_add_cell_tests(" HARNESS_HOST " SELFTEST EXTRA_ARGS --timeout 20)\n" +
            extra);
}

// cmake/ctest_cells.cmake in a throwaway project: every self-test cell becomes a CTest test with
// its labels, listed when ctest runs, and the tests pass through ctest --output-junit.
TEST(CtestCells, EveryCellIsATestWithLabels) {
  const CmakeTools tools = build_tools();
  const std::string &cmake = tools.cmake, &ctest = tools.ctest;
  if (cmake.empty() || ctest.empty()) GTEST_SKIP() << "no CMakeCache.txt next to the harness host";
  TempDir tmp;
  write_cells_project(
      tmp, "trainwreck_set_test_labels(LABELS matrix cpu browser TESTS cell:selftest_ok/none/cpu No.SuchTest)\n");
  auto sh = run_shell;
  const HostResult configure =
      sh("'" + cmake + "' -S '" + tmp / "project" + "' -B '" + tmp / "build" + "' >/dev/null && echo configured");
  ASSERT_NE(configure.out.find("configured"), std::string::npos) << configure.err;
  const std::string in_build = "cd '" + tmp / "build" + "' && env -u TRAINWRECK_CTEST_DEVICES '" + ctest + "' ";
  auto test_names = [&](const std::string& args) {
    std::vector<std::string> names;
    std::istringstream in(sh(in_build + "-N " + args).out);
    for (std::string line; std::getline(in, line);) {
      const auto at = line.find(": cell:");
      if (at != std::string::npos) names.push_back(line.substr(at + 2));
    }
    return names;
  };
  std::vector<std::string> expected;
  for (const auto& id : selftest_ids()) expected.push_back("cell:" + id);
  EXPECT_EQ(test_names("-L matrix"), expected);
  EXPECT_EQ(test_names("-L 'fault=selftest_diverge$'"), std::vector<std::string>{"cell:selftest_diverge/none/cpu"});
  EXPECT_EQ(test_names("-L 'mitigation=none$'").size(), expected.size());
  // No GPU here: no CUDA cell is registered, but asking for them registers the failing sentinel
  // (CudaAskedWithoutAGpu.* runs it).
  EXPECT_EQ(test_names("-L cuda"), std::vector<std::string>{"cell:cuda-no-gpu"});
  EXPECT_EQ(test_names("-L browser"), std::vector<std::string>{"cell:selftest_ok/none/cpu"});
  const std::vector<std::string> forced = [&] {
    std::vector<std::string> names;
    std::istringstream in(sh("cd '" + tmp / "build" + "' && TRAINWRECK_CTEST_DEVICES=cuda '" + ctest + "' -N").out);
    for (std::string line; std::getline(in, line);)
      if (line.find("cell:") != std::string::npos) names.push_back(line);
    return names;
  }();
  // The self-test scenarios have no CUDA cells at all; forced CUDA without a GPU is the sentinel.
  ASSERT_EQ(forced.size(), 1u);
  EXPECT_NE(forced[0].find("cell:cuda-no-gpu"), std::string::npos) << forced[0];
  // limits.exclusive becomes RUN_SERIAL: ctest -j runs nothing beside that cell either.
  const json shown = json::parse(sh(in_build + "--show-only=json-v1").out, nullptr, false);
  ASSERT_TRUE(shown.is_object() && shown.contains("tests"));
  std::set<std::string> serial;
  for (const auto& t : shown["tests"])
    for (const auto& p : t.value("properties", json::array()))
      if (p.value("name", "") == "RUN_SERIAL" && p.value("value", json(false)) == json(true))
        serial.insert(t.value("name", ""));
  EXPECT_EQ(serial, std::set<std::string>{"cell:selftest_flood_output/none/cpu"});

  const HostResult run = sh(in_build + "-R 'selftest_(ok|diverge|segfault)/' --output-junit '" + tmp / "ctest.xml" +
                            "' >/dev/null 2>&1 && echo passed");
  EXPECT_NE(run.out.find("passed"), std::string::npos) << slurp(tmp / "build/Testing/Temporary/LastTest.log");
  const std::string junit = slurp(tmp / "ctest.xml");
  EXPECT_NE(junit.find("tests=\"3\""), std::string::npos) << junit.substr(0, 400);
  EXPECT_NE(junit.find("failures=\"0\""), std::string::npos) << junit.substr(0, 400);
  EXPECT_TRUE(fs::exists(tmp / "build/cells-ctest/selftest_segfault.none.cpu/matrix.json"));
}

// `ctest -L cuda` on a machine where the probe finds no GPU must fail, not report "no tests"
// and exit 0; plain ctest (CUDA not asked for) is unaffected.
TEST(CtestCells, CudaAskedForWithoutAGpuFails) {
  const CmakeTools tools = build_tools();
  const std::string &cmake = tools.cmake, &ctest = tools.ctest;
  if (cmake.empty() || ctest.empty()) GTEST_SKIP() << "no CMakeCache.txt next to the harness host";
  TempDir tmp;
  write_cells_project(tmp, "");
  ASSERT_EQ(run_shell("'" + cmake + "' -S '" + tmp / "project" + "' -B '" + tmp / "build" + "'").code, 0);
  const std::string in_build = "cd '" + tmp / "build" + "' && env -u TRAINWRECK_CTEST_DEVICES '" + ctest + "' ";
  for (const std::string& select : {"-L cuda", "--label-regex 'cpu|cuda' -R 'no-gpu|selftest_ok/'"}) {
    const HostResult r = run_shell(in_build + select + " --output-on-failure");
    EXPECT_NE(r.code, 0) << select << "\n" << r.out;
    EXPECT_NE(r.out.find("probe found no GPU"), std::string::npos) << select << "\n" << r.out;
  }
  const HostResult forced = run_shell("cd '" + tmp / "build" + "' && TRAINWRECK_CTEST_DEVICES=cuda '" + ctest + "'");
  EXPECT_NE(forced.code, 0) << forced.out;
  // Not asked for: no sentinel, and the CPU cells pass.
  for (const std::string& args : {"-N", "-N -L matrix", "-N -LE cuda"})
    EXPECT_EQ(run_shell(in_build + args).out.find("cuda-no-gpu"), std::string::npos) << args;
  EXPECT_EQ(run_shell(in_build + "-L cpu -R 'selftest_ok/'").code, 0);
}

}  // namespace
