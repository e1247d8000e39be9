#include "harness/plan.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "harness/errors.h"
#include "harness/runner.h"

namespace tw {
// Outcome names in failure messages instead of raw bytes.
static void PrintTo(Outcome o, std::ostream* os) { *os << to_string(o); }
}  // namespace tw

namespace {
using nlohmann::json;

TEST(GlobMatch, Literals) {
  EXPECT_TRUE(tw::glob_match("", ""));
  EXPECT_TRUE(tw::glob_match("abc", "abc"));
  EXPECT_FALSE(tw::glob_match("abc", "abcd"));
  EXPECT_FALSE(tw::glob_match("abcd", "abc"));
  EXPECT_FALSE(tw::glob_match("", "a"));
  EXPECT_FALSE(tw::glob_match("a", ""));
  EXPECT_FALSE(tw::glob_match("ABC", "abc"));
}

TEST(GlobMatch, Wildcards) {
  EXPECT_TRUE(tw::glob_match("*", ""));
  EXPECT_TRUE(tw::glob_match("*", "lr_one/none/cpu"));
  EXPECT_TRUE(tw::glob_match("**", "x"));
  EXPECT_TRUE(tw::glob_match("lr_*", "lr_one/none/cpu"));
  EXPECT_TRUE(tw::glob_match("*/cpu", "lr_one/none/cpu"));
  EXPECT_FALSE(tw::glob_match("*/cpu", "lr_one/none/cuda"));
  EXPECT_TRUE(tw::glob_match("*/none/*", "lr_one/none/cuda"));
  EXPECT_FALSE(tw::glob_match("*/none/*", "lr_one/nonfinite_guard/cuda"));
  EXPECT_TRUE(tw::glob_match("c?u", "cpu"));
  EXPECT_FALSE(tw::glob_match("c?u", "cu"));
  EXPECT_FALSE(tw::glob_match("?", ""));
  EXPECT_FALSE(tw::glob_match("*?", ""));
  EXPECT_TRUE(tw::glob_match("*?", "a"));
  // Backtracking: the first candidate for each star is not the right one.
  EXPECT_TRUE(tw::glob_match("a*a*a*b", "aaaaaaaab"));
  EXPECT_FALSE(tw::glob_match("a*a*a*b", "aaaaaaaa"));
  EXPECT_TRUE(tw::glob_match("*ab*ab", "xabyabab"));
  EXPECT_FALSE(tw::glob_match("*ab", "abx"));
}

TEST(FilterMatch, NoFiltersMatchEverything) { EXPECT_TRUE(tw::filter_match({}, "a/b/cpu")); }

TEST(FilterMatch, AnyPositivePatternMatches) {
  const std::vector<std::string> f = {"lr_*", "*/cuda"};
  EXPECT_TRUE(tw::filter_match(f, "lr_one/none/cpu"));
  EXPECT_TRUE(tw::filter_match(f, "oom/none/cuda"));
  EXPECT_FALSE(tw::filter_match(f, "oom/none/cpu"));
}

TEST(FilterMatch, NegativePatternsExclude) {
  EXPECT_FALSE(tw::filter_match({"-*/cuda"}, "oom/none/cuda"));
  EXPECT_TRUE(tw::filter_match({"-*/cuda"}, "oom/none/cpu"));  // only negatives: the rest stays
  // A negative pattern wins over a positive one, whatever the order.
  EXPECT_FALSE(tw::filter_match({"lr_*", "-*/none/*"}, "lr_one/none/cpu"));
  EXPECT_FALSE(tw::filter_match({"-*/none/*", "lr_*"}, "lr_one/none/cpu"));
  EXPECT_TRUE(tw::filter_match({"-*/none/*", "lr_*"}, "lr_one/clip/cpu"));
  EXPECT_FALSE(tw::filter_match({"-*/none/*", "lr_*"}, "oom/clip/cpu"));
}

TEST(ParseShard, Good) {
  const tw::Shard s = tw::parse_shard("1/3", "--shard");
  EXPECT_EQ(s.index, 0);
  EXPECT_EQ(s.count, 3);
  const tw::Shard last = tw::parse_shard("3/3", "--shard");
  EXPECT_EQ(last.index, 2);
  EXPECT_EQ(last.count, 3);
  EXPECT_EQ(tw::parse_shard("1/1", "--shard").count, 1);
}

TEST(ParseShard, BadTextNamesTheFlag) {
  for (const char* bad :
       {"0/3", "4/3", "a/b", "3", "", "1/0", "/3", "1/", "-1/3", "1/3/5", " 1/3", "1/3 ", "1.0/3", "9999999/9999999"}) {
    try {
      tw::parse_shard(bad, "--shard");
      ADD_FAILURE() << "accepted '" << bad << "'";
    } catch (const tw::InputError& e) {
      EXPECT_EQ(e.where(), "--shard") << bad;
      EXPECT_NE(std::string(e.what()).find("K/N"), std::string::npos) << e.what();
    }
  }
}

tw::Catalog plan_catalog() {
  tw::Catalog c;
  tw::ComponentInfo lr, ddp, gloo;
  lr.name = "lr_too_high";
  ddp.name = "collective_mismatch";
  ddp.requirements = {"nccl"};
  ddp.ranks = 2;
  gloo.name = "gloo_mismatch";
  gloo.requirements = {"gloo"};
  gloo.ranks = 2;
  c.faults = {lr, ddp, gloo};
  tw::ComponentInfo none, clip, amp;
  none.name = "none";
  clip.name = "gradient_clipping";
  amp.name = "amp";
  amp.requirements = {"cuda"};
  c.mitigations = {none, clip, amp};
  return c;
}

tw::MitigationEntry mitigation(const std::string& name, const std::string& label,
                               std::map<std::string, tw::Outcome> expect = {}) {
  tw::MitigationEntry m;
  m.name = name;
  m.label = label;
  m.params = {{"label_was", label}};
  m.expect = std::move(expect);
  return m;
}

std::vector<tw::Scenario> plan_scenarios() {
  tw::Scenario lr;
  lr.name = "lr_one";
  lr.fault = "lr_too_high";
  lr.params = {{"lr", 1.0}};
  lr.recipe = {{"batch_size", 32}};
  lr.limits.wall_seconds = 42;
  lr.mitigations = {mitigation("none", "none", {{"cpu", tw::Outcome::kDiverged}, {"cuda", tw::Outcome::kDiverged}}),
                    mitigation("gradient_clipping", "clip_1", {{"cpu", tw::Outcome::kHealthy}}),
                    mitigation("gradient_clipping", "clip_100", {{"cuda", tw::Outcome::kDiverged}})};
  tw::Scenario two_gpus;
  two_gpus.name = "shape_mismatch";
  two_gpus.fault = "collective_mismatch";
  two_gpus.devices = {"cuda"};
  two_gpus.requirements = {"gpus>=2"};
  two_gpus.mitigations = {mitigation("none", "none", {{"cuda", tw::Outcome::kHang}})};
  tw::Scenario cpu_only;
  cpu_only.name = "gloo_sizes";
  cpu_only.fault = "gloo_mismatch";
  cpu_only.devices = {"cpu"};
  cpu_only.mitigations = {mitigation("none", "none", {{"cpu", tw::Outcome::kCrash}}), mitigation("amp", "amp")};
  return {lr, two_gpus, cpu_only};
}

std::vector<std::string> ids(const std::vector<tw::CellSpec>& cells) {
  std::vector<std::string> out;
  for (const auto& c : cells) out.push_back(c.id);
  return out;
}

const tw::CellSpec& find(const std::vector<tw::CellSpec>& cells, const std::string& id) {
  for (const auto& c : cells)
    if (c.id == id) return c;
  throw std::runtime_error("no cell " + id);
}

TEST(PlanCells, IdsInDeviceScenarioMitigationOrder) {
  tw::PlanOptions o;
  o.devices = {"cpu", "cuda"};
  o.caps.gpus = 2;
  o.caps.nccl = o.caps.gloo = true;
  const auto cells = tw::plan_cells(plan_scenarios(), plan_catalog(), o);
  EXPECT_EQ(ids(cells),
            (std::vector<std::string>{"lr_one/none/cpu", "lr_one/clip_1/cpu", "lr_one/clip_100/cpu",
                                      "gloo_sizes/none/cpu", "gloo_sizes/amp/cpu", "lr_one/none/cuda",
                                      "lr_one/clip_1/cuda", "lr_one/clip_100/cuda", "shape_mismatch/none/cuda"}));
}

TEST(PlanCells, CellsCarryTheirScenarioAndMitigation) {
  tw::PlanOptions o;
  o.devices = {"cuda"};
  o.caps.gpus = 2;
  o.caps.nccl = true;
  const auto cells = tw::plan_cells(plan_scenarios(), plan_catalog(), o);
  const auto& c = find(cells, "lr_one/clip_100/cuda");
  EXPECT_EQ(c.scenario, "lr_one");
  EXPECT_EQ(c.fault, "lr_too_high");
  EXPECT_EQ(c.mitigation, "gradient_clipping");
  EXPECT_EQ(c.label, "clip_100");
  EXPECT_EQ(c.device, "cuda");
  EXPECT_EQ(c.fault_params, json({{"lr", 1.0}}));
  EXPECT_EQ(c.mitigation_params, json({{"label_was", "clip_100"}}));
  EXPECT_EQ(c.recipe, json({{"batch_size", 32}}));
  EXPECT_DOUBLE_EQ(c.limits.wall_seconds, 42);
  EXPECT_EQ(c.ranks, 1);
  EXPECT_EQ(c.file_stem(), "lr_one.clip_100.cuda");
  EXPECT_EQ(c.to_json()["id"], "lr_one/clip_100/cuda");
  const auto& d = find(cells, "shape_mismatch/none/cuda");
  EXPECT_EQ(d.ranks, 2);
  EXPECT_EQ(d.requirements, (std::vector<std::string>{"gpus>=2", "nccl"}));  // scenario's, then the fault's
  EXPECT_EQ(d.unsupported_reason, "");
}

TEST(PlanCells, ExpectationsArePerDevice) {
  tw::PlanOptions o;
  o.devices = {"cpu", "cuda"};
  o.caps.gpus = 1;
  const auto cells = tw::plan_cells(plan_scenarios(), plan_catalog(), o);
  EXPECT_EQ(find(cells, "lr_one/none/cpu").expected, tw::Outcome::kDiverged);
  EXPECT_EQ(find(cells, "lr_one/clip_1/cpu").expected, tw::Outcome::kHealthy);
  EXPECT_FALSE(find(cells, "lr_one/clip_1/cuda").expected.has_value());
  EXPECT_FALSE(find(cells, "lr_one/clip_100/cpu").expected.has_value());
  EXPECT_EQ(find(cells, "lr_one/clip_100/cuda").expected, tw::Outcome::kDiverged);
  EXPECT_FALSE(find(cells, "gloo_sizes/amp/cpu").expected.has_value());
}

// A remedy that runs one rank per GPU (data_parallel, model_split) needs as many GPUs as ranks on
// CUDA; on the CPU its ranks share the host.
TEST(PlanCells, OneRankPerGpuNeedsThatManyGpusOnCudaOnly) {
  tw::Catalog catalog = plan_catalog();
  tw::ComponentInfo split;
  split.name = "model_split";
  split.requirements = {"gpu_per_rank"};
  split.ranks = 2;
  catalog.mitigations.push_back(split);
  tw::Scenario s;
  s.name = "big";
  s.fault = "lr_too_high";
  s.devices = {"cpu", "cuda"};
  s.mitigations = {mitigation("model_split", "model_split")};
  tw::PlanOptions o;
  o.devices = {"cpu", "cuda"};
  o.caps.gpus = 1;
  auto cells = tw::plan_cells({s}, catalog, o);
  EXPECT_EQ(find(cells, "big/model_split/cpu").unsupported_reason, "");
  EXPECT_EQ(find(cells, "big/model_split/cuda").ranks, 2);
  EXPECT_EQ(find(cells, "big/model_split/cuda").unsupported_reason,
            "runs one rank per GPU: needs 2 CUDA devices, this machine has 1");
  o.caps.gpus = 2;
  cells = tw::plan_cells({s}, catalog, o);
  EXPECT_EQ(find(cells, "big/model_split/cuda").unsupported_reason, "");
}

TEST(PlanCells, CudaCellsAreUnsupportedWithoutAGpu) {
  tw::PlanOptions o;
  o.devices = {"cpu", "cuda"};
  o.caps.gpus = 0;
  o.caps.gloo = true;
  const auto cells = tw::plan_cells(plan_scenarios(), plan_catalog(), o);
  EXPECT_EQ(find(cells, "lr_one/none/cpu").unsupported_reason, "");
  EXPECT_EQ(find(cells, "gloo_sizes/none/cpu").unsupported_reason, "");
  EXPECT_EQ(find(cells, "lr_one/none/cuda").unsupported_reason, "no CUDA device on this machine");
  EXPECT_NE(find(cells, "shape_mismatch/none/cuda").unsupported_reason, "");
  // Unsupported cells stay in the plan (and the matrix): they are reported, not dropped.
  EXPECT_EQ(cells.size(), 9u);
}

TEST(PlanCells, TwoGpuCellIsUnsupportedOnOneGpu) {
  tw::PlanOptions o;
  o.devices = {"cuda"};
  o.caps.gpus = 1;
  o.caps.nccl = true;
  const auto cells = tw::plan_cells(plan_scenarios(), plan_catalog(), o);
  const std::string reason = find(cells, "shape_mismatch/none/cuda").unsupported_reason;
  EXPECT_NE(reason.find("gpus>=2"), std::string::npos) << reason;
  EXPECT_NE(reason.find("1 CUDA device"), std::string::npos) << reason;
  EXPECT_EQ(find(cells, "lr_one/none/cuda").unsupported_reason, "");
}

TEST(PlanCells, MissingBackendsAndCudaOnlyMitigations) {
  tw::PlanOptions o;
  o.devices = {"cpu", "cuda"};
  o.caps.gpus = 2;  // NCCL and Gloo both missing from this build
  const auto cells = tw::plan_cells(plan_scenarios(), plan_catalog(), o);
  EXPECT_NE(find(cells, "shape_mismatch/none/cuda").unsupported_reason.find("NCCL"), std::string::npos);
  EXPECT_NE(find(cells, "gloo_sizes/none/cpu").unsupported_reason.find("Gloo"), std::string::npos);
  // The mitigation's own requirement counts too: AMP needs a CUDA cell.
  const auto& amp = find(cells, "gloo_sizes/amp/cpu");
  EXPECT_EQ(amp.requirements, (std::vector<std::string>{"gloo", "cuda"}));
  EXPECT_NE(amp.unsupported_reason, "");
}

TEST(PlanCells, FiltersSelectByCellId) {
  tw::PlanOptions o;
  o.devices = {"cpu", "cuda"};
  o.filters = {"lr_one/*", "-*/clip_1/*"};
  const auto cells = tw::plan_cells(plan_scenarios(), plan_catalog(), o);
  EXPECT_EQ(ids(cells), (std::vector<std::string>{"lr_one/none/cpu", "lr_one/clip_100/cpu", "lr_one/none/cuda",
                                                  "lr_one/clip_100/cuda"}));
}

TEST(PlanCells, DevicesNotListedByTheScenarioAreSkipped) {
  tw::PlanOptions o;
  o.devices = {"cpu"};
  for (const auto& c : tw::plan_cells(plan_scenarios(), plan_catalog(), o)) {
    EXPECT_EQ(c.device, "cpu");
    EXPECT_NE(c.scenario, "shape_mismatch");
  }
}

// A larger plan, so that every shard of up to 5 is likely non-trivial.
std::vector<tw::Scenario> many_scenarios() {
  std::vector<tw::Scenario> out;
  for (int i = 0; i < 8; ++i) {
    tw::Scenario s;
    s.name = "s" + std::to_string(i);
    s.fault = "lr_too_high";
    s.mitigations = {mitigation("none", "none"), mitigation("gradient_clipping", "clip"),
                     mitigation("gradient_clipping", "clip_low")};
    out.push_back(s);
  }
  return out;
}

TEST(PlanCells, ShardsPartitionThePlan) {
  tw::PlanOptions o;
  o.devices = {"cpu", "cuda"};
  const auto scenarios = many_scenarios();
  const auto whole = ids(tw::plan_cells(scenarios, plan_catalog(), o));
  ASSERT_EQ(whole.size(), 48u);
  for (int n = 1; n <= 5; ++n) {
    std::multiset<std::string> seen;
    for (int k = 1; k <= n; ++k) {
      o.shard = tw::parse_shard(std::to_string(k) + "/" + std::to_string(n), "--shard");
      const auto part = ids(tw::plan_cells(scenarios, plan_catalog(), o));
      EXPECT_EQ(part, ids(tw::plan_cells(scenarios, plan_catalog(), o))) << "shard " << k << "/" << n;
      seen.insert(part.begin(), part.end());
    }
    EXPECT_EQ(seen.size(), whole.size()) << "N=" << n;
    for (const auto& id : whole) EXPECT_EQ(seen.count(id), 1u) << id << " with N=" << n;
  }
}

TEST(PlanCells, ShardsDependOnTheCellNotItsPosition) {
  // Adding a scenario must not move the existing cells between CI runners.
  tw::PlanOptions o;
  o.devices = {"cpu"};
  o.shard = tw::parse_shard("2/3", "--shard");
  auto scenarios = many_scenarios();
  const auto before = ids(tw::plan_cells(scenarios, plan_catalog(), o));
  tw::Scenario extra = scenarios.front();
  extra.name = "a_new_one";
  scenarios.insert(scenarios.begin(), extra);
  auto after = ids(tw::plan_cells(scenarios, plan_catalog(), o));
  after.erase(
      std::remove_if(after.begin(), after.end(), [](const std::string& id) { return id.rfind("a_new_one/", 0) == 0; }),
      after.end());
  EXPECT_EQ(after, before);
}

// ---- stacks ----------------------------------------------------------------------------------

tw::Scenario stack_scenario() {
  tw::Scenario s;
  s.name = "deep";
  s.fault = "lr_too_high";
  s.requirements = {"gloo"};
  tw::MitigationEntry none;
  none.name = none.label = "none";
  tw::MitigationEntry clip;
  clip.name = clip.label = "gradient_clipping";
  clip.params = {{"max_norm", 1.0}};
  clip.stack = {{"gradient_clipping", {{"max_norm", 1.0}}}};
  tw::MitigationEntry stack;
  stack.stack = {{"gradient_clipping", {{"max_norm", 5}}}, {"ddp", json::object()}, {"amp", {{"dtype", "bf16"}}}};
  stack.name = tw::stack_name(stack.stack);
  stack.label = "clip_ddp_amp";
  stack.expect["cuda"] = tw::Outcome::kHealthy;
  s.mitigations = {none, clip, stack};
  return s;
}

tw::Catalog stack_catalog() {
  tw::Catalog c = plan_catalog();
  tw::ComponentInfo ddp;
  ddp.name = "ddp";
  ddp.requirements = {"gloo"};
  ddp.ranks = 2;
  c.mitigations.push_back(ddp);
  return c;
}

TEST(PlanStack, RequirementsAndRanksGatherFromEveryMember) {
  tw::PlanOptions o;
  o.devices = {"cpu", "cuda"};
  o.caps.gpus = 1;
  o.caps.gloo = true;
  const auto cells = tw::plan_cells({stack_scenario()}, stack_catalog(), o);
  EXPECT_EQ(ids(cells),
            (std::vector<std::string>{"deep/none/cpu", "deep/gradient_clipping/cpu", "deep/clip_ddp_amp/cpu",
                                      "deep/none/cuda", "deep/gradient_clipping/cuda", "deep/clip_ddp_amp/cuda"}));
  const auto& cpu = find(cells, "deep/clip_ddp_amp/cpu");
  EXPECT_EQ(cpu.mitigation, "gradient_clipping+ddp+amp");
  EXPECT_EQ(cpu.label, "clip_ddp_amp");
  EXPECT_EQ(cpu.requirements, (std::vector<std::string>{"gloo", "gloo", "cuda"}));  // scenario's, ddp's, amp's
  EXPECT_EQ(cpu.ranks, 2);                                                          // ddp's
  EXPECT_NE(cpu.unsupported_reason.find("'cuda'"), std::string::npos) << cpu.unsupported_reason;  // amp's
  const auto& cuda = find(cells, "deep/clip_ddp_amp/cuda");
  EXPECT_EQ(cuda.unsupported_reason, "");
  EXPECT_EQ(cuda.expected, tw::Outcome::kHealthy);
  EXPECT_EQ(find(cells, "deep/none/cpu").ranks, 1);
}

TEST(PlanStack, TheCellReceivesTheStackInApplicationOrder) {
  tw::PlanOptions o;
  o.devices = {"cuda"};
  o.caps.gpus = 1;
  o.caps.gloo = true;
  const auto cells = tw::plan_cells({stack_scenario()}, stack_catalog(), o);
  const json stacked = find(cells, "deep/clip_ddp_amp/cuda").to_json();
  EXPECT_EQ(stacked["stack"], json::parse(R"([{"name": "gradient_clipping", "params": {"max_norm": 5}},
                                               {"name": "ddp", "params": {}},
                                               {"name": "amp", "params": {"dtype": "bf16"}}])"));
  EXPECT_EQ(stacked["mitigation"], "gradient_clipping+ddp+amp");
  EXPECT_EQ(stacked["mitigation_params"], json::object());
  EXPECT_EQ(stacked["label"], "clip_ddp_amp");
  const json single = find(cells, "deep/gradient_clipping/cuda").to_json();
  EXPECT_EQ(single["stack"], json::parse(R"([{"name": "gradient_clipping", "params": {"max_norm": 1.0}}])"));
  EXPECT_EQ(single["mitigation_params"], json({{"max_norm", 1.0}}));
  EXPECT_EQ(find(cells, "deep/none/cuda").to_json()["stack"], json::array());
  // An entry built in code with only a name is that mitigation as a stack of one.
  const json built = find(tw::plan_cells(plan_scenarios(), plan_catalog(), o), "lr_one/clip_1/cuda").to_json();
  EXPECT_EQ(built["stack"], json::parse(R"([{"name": "gradient_clipping", "params": {"label_was": "clip_1"}}])"));
}

TEST(PlanStack, TheMatrixRecordNamesTheMembersOfAStack) {
  tw::PlanOptions o;
  o.devices = {"cuda"};
  o.caps.gpus = 1;
  o.caps.gloo = true;
  const auto cells = tw::plan_cells({stack_scenario()}, stack_catalog(), o);
  tw::CellRecord rec;
  rec.spec = find(cells, "deep/clip_ddp_amp/cuda");
  rec.outcome = tw::Outcome::kHealthy;
  const json j = rec.to_json();
  EXPECT_EQ(j["id"], "deep/clip_ddp_amp/cuda");
  EXPECT_EQ(j["mitigation"], "clip_ddp_amp");
  EXPECT_EQ(j["mitigation_name"], "gradient_clipping+ddp+amp");
  EXPECT_EQ(j["stack"], json({"gradient_clipping", "ddp", "amp"}));
  rec.spec = find(cells, "deep/gradient_clipping/cuda");
  EXPECT_FALSE(rec.to_json().contains("stack"));
}

// ---- seeds ------------------------------------------------------------------------------------

TEST(VerdictOver, PassOnlyWhenEverySeedMeetsTheExpectation) {
  using tw::Outcome;
  using tw::RunKind;
  using tw::Verdict;
  const std::optional<Outcome> diverged = Outcome::kDiverged;
  const auto seeds = [](const std::optional<Outcome>& expected, const std::vector<Outcome>& outcomes) {
    return tw::verdict_over(expected, outcomes, RunKind::kSeeds);
  };
  EXPECT_EQ(seeds(diverged, {Outcome::kDiverged, Outcome::kDiverged, Outcome::kDiverged}), Verdict::kPass);
  EXPECT_EQ(seeds(diverged, {Outcome::kStalled, Outcome::kStalled}), Verdict::kUnexpected);
  EXPECT_EQ(seeds(diverged, {Outcome::kDiverged, Outcome::kDiverged, Outcome::kStalled}), Verdict::kSeedDependent);
  EXPECT_EQ(seeds(std::nullopt, {Outcome::kHealthy, Outcome::kHealthy}), Verdict::kUnpinned);
  EXPECT_EQ(seeds(std::nullopt, {Outcome::kHealthy, Outcome::kStalled}), Verdict::kSeedDependent);
  EXPECT_EQ(seeds(diverged, {}), Verdict::kUnpinned);
  EXPECT_TRUE(tw::is_failure(Verdict::kSeedDependent));
  EXPECT_STREQ(tw::to_string(Verdict::kSeedDependent), "seed-dependent");
  EXPECT_EQ(tw::parse_verdict("seed-dependent"), Verdict::kSeedDependent);
}

TEST(VerdictOver, RepeatsThatDisagreeAreFlakyPinnedOrNot) {
  using tw::Outcome;
  using tw::RunKind;
  using tw::Verdict;
  const std::optional<Outcome> hang = Outcome::kHang;
  EXPECT_EQ(tw::verdict_over(hang, {Outcome::kHang, Outcome::kHang}, RunKind::kRepeats), Verdict::kPass);
  EXPECT_EQ(tw::verdict_over(hang, {Outcome::kCrash, Outcome::kCrash}, RunKind::kRepeats), Verdict::kUnexpected);
  EXPECT_EQ(tw::verdict_over(hang, {Outcome::kHang, Outcome::kCrash}, RunKind::kRepeats), Verdict::kFlaky);
  EXPECT_EQ(tw::verdict_over(std::nullopt, {Outcome::kHang, Outcome::kCrash}, RunKind::kRepeats), Verdict::kFlaky);
  // One run is one run, whatever the kind: the verdict of that run alone.
  EXPECT_EQ(tw::verdict_over(hang, {Outcome::kCrash}, RunKind::kRepeats), tw::verdict_for(hang, Outcome::kCrash));
  EXPECT_TRUE(tw::is_failure(Verdict::kFlaky));
}

TEST(Capabilities, ToJson) {
  tw::Capabilities c;
  c.gpus = 2;
  c.nccl = true;
  EXPECT_EQ(c.to_json(), json({{"gpus", 2}, {"gloo", false}, {"nccl", true}}));
}

}  // namespace
