// Loading scenarios from files and directories: missing, oversized and malformed files, names unique
// across a directory, and a recipe's file resolved against the scenario file's directory.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "harness/catalog.h"
#include "harness/errors.h"
#include "harness/scenario.h"
#include "scenario_test_util.h"
#include "test_support.h"

namespace {
namespace fs = std::filesystem;
using nlohmann::json;
using tw::InputError;
using tw_test::TempDir;
using namespace tw_test::scenario_util;

TEST(ScenarioFiles, MissingFile) {
  TempDir dir;
  const std::string path = dir.path() + "/absent.json";
  for (auto load : {+[](const std::string& p) { tw::load_scenario(p, test_catalog()); },
                    +[](const std::string& p) { tw::load_scenarios({p}, test_catalog()); }}) {
    try {
      load(path);
      ADD_FAILURE() << "missing file accepted";
    } catch (const InputError& e) {
      EXPECT_EQ(e.where(), path);
      EXPECT_EQ(e.field(), "");
      EXPECT_NE(std::string(e.what()).find("no such file"), std::string::npos) << e.what();
    }
  }
}

TEST(ScenarioFiles, DirectoryPassedAsFile) {
  TempDir dir;
  const std::string sub = dir.path() + "/looks_like.json";
  fs::create_directory(sub);
  try {
    tw::load_scenario(sub, test_catalog());
    FAIL() << "directory accepted as a file";
  } catch (const InputError& e) {
    EXPECT_EQ(e.where(), sub);
    EXPECT_NE(std::string(e.what()).find("is a directory"), std::string::npos) << e.what();
  }
}

TEST(ScenarioFiles, FileOverTheSizeLimitIsRefusedUnread) {
  TempDir dir;
  // Valid JSON padded past the limit: only the size can be the reason.
  std::string text = base_scenario().dump();
  text += std::string(tw::kMaxScenarioBytes + 1 - text.size(), ' ');
  const std::string path = dir.write("big.json", text);
  try {
    tw::load_scenario(path, test_catalog());
    FAIL() << "oversized file accepted";
  } catch (const InputError& e) {
    EXPECT_EQ(e.where(), path);
    EXPECT_EQ(e.field(), "");
    EXPECT_NE(std::string(e.what()).find("too large"), std::string::npos) << e.what();
  }
  text.pop_back();  // exactly at the limit is allowed
  EXPECT_EQ(tw::load_scenario(dir.write("at_limit.json", text), test_catalog()).name, "lr_one");
}

TEST(ScenarioFiles, DirectoryLoadsJsonFilesSorted) {
  TempDir dir;
  json a = base_scenario(), b = base_scenario();
  a["name"] = "alpha";
  b["name"] = "beta";
  dir.write("2_beta.json", b.dump());
  dir.write("1_alpha.json", a.dump());
  dir.write("README.md", "not a scenario");
  fs::create_directory(dir.path() + "/sub.json");  // a directory, not a file: skipped
  const auto all = tw::load_scenarios({dir.path()}, test_catalog());
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].name, "alpha");
  EXPECT_EQ(all[1].name, "beta");
  EXPECT_EQ(all[1].file, dir.path() + "/2_beta.json");
}

TEST(ScenarioFiles, DuplicateNamesAcrossFilesInADirectory) {
  TempDir dir;
  const std::string first = dir.write("a.json", base_scenario().dump());
  const std::string second = dir.write("b.json", base_scenario().dump());
  try {
    tw::load_scenarios({dir.path()}, test_catalog());
    FAIL() << "duplicate scenario name accepted";
  } catch (const InputError& e) {
    EXPECT_EQ(e.where(), second);
    EXPECT_EQ(e.field(), "name");
    EXPECT_NE(std::string(e.what()).find("duplicate scenario name 'lr_one'"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(first), std::string::npos) << e.what();
  }
}

TEST(ScenarioFiles, MalformedFileInDirectoryIsNamed) {
  TempDir dir;
  dir.write("a.json", base_scenario().dump());
  const std::string bad = dir.write("b.json", with(R"({"name": "other", "mitigations": []})"));
  try {
    tw::load_scenarios({dir.path()}, test_catalog());
    FAIL() << "malformed file accepted";
  } catch (const InputError& e) {
    EXPECT_EQ(e.where(), bad);
    EXPECT_EQ(e.field(), "mitigations");
  }
}

}  // namespace

namespace {

// A catalog whose recipe names a model file, with the backend's check of it.
tw::Catalog catalog_with_file_field() {
  tw::Catalog c = test_catalog();
  tw::ParamSpec file = text("model_file", {});
  file.path = true;
  c.recipe.push_back(file);
  c.check_recipe = [](const json& recipe) -> std::optional<tw::RecipeProblem> {
    std::ifstream in(recipe.value("model_file", std::string()));
    std::string first;
    std::getline(in, first);
    if (first != "module") return tw::RecipeProblem{"recipe.model_file", "not a module"};
    return std::nullopt;
  };
  return c;
}

// The InputError that loading `path` with that catalog throws (a test failure when it loads).
InputError refusal(const std::string& path) {
  try {
    tw::load_scenario(path, catalog_with_file_field());
  } catch (const InputError& e) {
    return e;
  }
  ADD_FAILURE() << path << " was accepted";
  return InputError(path, "", "accepted");
}

std::string scenario_naming(const std::string& file) {
  return R"({"name": "own", "fault": "lr_too_high", "recipe": {"model_file": ")" + file +
         R"("}, "mitigations": [{"name": "none"}]})";
}

}  // namespace

TEST(ScenarioFiles, ARecipeFileResolvesAgainstTheScenarioFilesDirectory) {
  TempDir dir;
  fs::create_directories(dir / "models");
  std::ofstream(dir / "models/m.pt") << "module\n";
  std::ofstream(dir / "own.json") << scenario_naming("models/m.pt");
  const tw::Scenario s = tw::load_scenario(dir / "own.json", catalog_with_file_field());
  EXPECT_EQ(s.recipe.at("model_file").get<std::string>(), fs::weakly_canonical(dir / "models/m.pt").string());
}

TEST(ScenarioFiles, AMissingFileIsRefusedNamingTheFieldAndTheFile) {
  TempDir dir;
  std::ofstream(dir / "own.json") << scenario_naming("models/gone.pt");
  const InputError e = refusal(dir / "own.json");
  EXPECT_EQ(e.field(), "recipe.model_file");
  EXPECT_NE(std::string(e.what()).find("gone.pt"), std::string::npos) << e.what();
}

TEST(ScenarioFiles, TheBackendsProblemWithAFileIsAnInputError) {
  TempDir dir;
  std::ofstream(dir / "m.pt") << "not a module\n";
  std::ofstream(dir / "own.json") << scenario_naming("m.pt");
  const InputError e = refusal(dir / "own.json");
  EXPECT_EQ(e.field(), "recipe.model_file");
  EXPECT_EQ(e.where(), dir / "own.json");
}
