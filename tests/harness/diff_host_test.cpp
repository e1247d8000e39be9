// The diff across its tiers: an outcome change failing whatever is asked for, a different host as a
// loud warning, the CPU facts a run records, and `trainwreck diff` with --noise and --fail-on.
#include <gtest/gtest.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "diff_test_util.h"
#include "harness/context.h"
#include "harness/diff.h"
#include "harness/errors.h"
#include "test_support.h"

namespace {
using nlohmann::json;
using namespace tw_test::diff_util;
}  // namespace

namespace tiers {

TEST(DiffTiers, AnOutcomeChangeAlwaysFailsTheOtherTiersWhenAskedFor) {
  const json a = matrix(host_context(), json::array({cell("lr/none/cpu", "diverged"), timed("t/x/cpu", 10)}));
  const json b = matrix(host_context(), json::array({cell("lr/none/cpu", "healthy"), timed("t/x/cpu", 10)}));
  const json d = tw::diff_matrices(a, b, {});
  EXPECT_TRUE(tw::outcomes_changed(d));
  EXPECT_TRUE((*per_cell(d, "lr/none/cpu"))["outcome"]["changed"].get<bool>());
  EXPECT_EQ(tw::diff_failures(d, {}), std::vector<std::string>{"1 outcome(s) changed"});
  // Whatever other tiers are asked for, alone or all together, the outcome change fails the diff;
  // the other tiers (nothing changed there) add no reason.
  for (const auto& tier : tw::fail_on_choices())
    EXPECT_EQ(tw::diff_failures(d, {tier}), std::vector<std::string>{"1 outcome(s) changed"}) << tw::to_string(tier);
  EXPECT_EQ(tw::diff_failures(d, tw::fail_on_choices()), std::vector<std::string>{"1 outcome(s) changed"});
  // And with another tier failing too, both reasons, the outcome first.
  const json slower = matrix(host_context(), json::array({cell("lr/none/cpu", "healthy"), timed("t/x/cpu", 20)}));
  EXPECT_EQ(tw::diff_failures(tw::diff_matrices(a, slower, {}), {tw::FailOn::kSpeed}),
            (std::vector<std::string>{"1 outcome(s) changed", "1 cell(s) slower beyond the band"}));
  const json same = tw::diff_matrices(a, a, {});
  for (const auto& tier : tw::fail_on_choices())
    EXPECT_TRUE(tw::diff_failures(same, {tier}).empty()) << tw::to_string(tier);
  EXPECT_NE(tw::render_diff_text(d, false).find("outcomes      1 changed"), std::string::npos);
}

TEST(DiffTiers, ADifferentHostIsALoudWarningAtTheTop) {
  const json a = matrix(host_context(), json::array({trained("s/none/cpu", curve(kLoss))}));
  json hb = host_context("AMD EPYC 9654 96-Core Processor", {"sse4_2", "avx", "avx2", "fma", "avx512f", "avx512_bf16"});
  hb["host"]["os"] = "Linux 6.8";
  hb["host"]["cpu_flags_hash"] = "ba9876543210";
  hb["probe"]["libtorch"] = "2.15.0";
  const json b = matrix(hb, json::array({trained("s/none/cpu", curve(kLoss))}));
  const json d = tw::diff_matrices(a, b, {});
  const json& h = d["host_changed"];
  EXPECT_TRUE(h["changed"].get<bool>()) << h.dump(1);
  EXPECT_TRUE(d["summary"]["host_changed"].get<bool>());
  std::set<std::string> keys;
  for (const auto& f : h["fields"]) keys.insert(f["key"].get<std::string>());
  EXPECT_EQ(keys, (std::set<std::string>{"host.cpu", "host.cpu_flags", "host.cpu_flags_hash", "host.os"}));
  for (const auto& f : h["fields"])
    if (f["key"] == "host.cpu_flags") {
      EXPECT_EQ(f["removed"], json({"amx_bf16", "amx_tile"}));
      EXPECT_TRUE(f["added"].empty());
    }
  const std::string text = tw::render_diff_text(d, false);
  EXPECT_EQ(text.find("WARNING: different host: A and B did not run on the same machine."), 0u) << text;
  EXPECT_NE(text.find("  CPU: Intel(R) Xeon(R) Processor -> AMD EPYC 9654 96-Core Processor\n"), std::string::npos);
  EXPECT_NE(text.find("  CPU flags: without amx_bf16 amx_tile (B lacks them)\n"), std::string::npos) << text;
  EXPECT_NE(text.find("  OS: Linux 6.1 -> Linux 6.8\n"), std::string::npos) << text;
  EXPECT_LT(text.find("WARNING"), text.find("Diff A -> B"));
  const std::string md = tw::render_diff_markdown(d);
  EXPECT_NE(md.find("> **WARNING: different host"), std::string::npos) << md;
  EXPECT_LT(md.find("WARNING"), md.find("### Context"));
  EXPECT_TRUE(tw::diff_failures(d, {}).empty()) << "a new host alone changes no outcome";
  EXPECT_EQ(tw::diff_failures(d, {tw::FailOn::kHost}), std::vector<std::string>{"a different host"});

  // The LibTorch version alone is the upgrade under test, not a different host.
  json hc = host_context();
  hc["probe"]["libtorch"] = "2.15.0";
  hc["probe"]["build_config"] = "USE_MKLDNN=ON";  // probe fields show in the context, generically
  const json d2 = tw::diff_matrices(a, matrix(hc, json::array({trained("s/none/cpu", curve(kLoss))})), {});
  EXPECT_FALSE(d2["host_changed"]["changed"].get<bool>());
  EXPECT_EQ(d2["context"].size(), 2u) << d2["context"].dump(1);
  EXPECT_EQ(tw::render_diff_text(d2, false).find("WARNING"), std::string::npos);

  // A baseline that did not record the CPU's flags: said, not warned.
  json old = host_context();
  old["host"].erase("cpu_flags");
  old["host"].erase("cpu_flags_hash");
  const json d3 = tw::diff_matrices(matrix(old, json::array()), matrix(host_context(), json::array()), {});
  EXPECT_FALSE(d3["host_changed"]["changed"].get<bool>());
  EXPECT_EQ(d3["host_changed"]["unknown"].size(), 2u);
  EXPECT_NE(tw::render_diff_text(d3, false).find("Host facts recorded by one run only (CPU flags, CPU flag hash)"),
            std::string::npos);

  // An A/A run from another host: its noise band is not A's.
  tw::DiffOptions o;
  o.noise_name = "A2";
  const json d4 = tw::diff_matrices(a, a, o, b);
  EXPECT_FALSE(d4["host_changed"]["changed"].get<bool>());
  EXPECT_NE(tw::render_diff_text(d4, false).find("WARNING: the A/A run A2 did not run on A's host"), std::string::npos);
}

TEST(CpuInfo, ModelFamilyAndTheFlagsThatMatterForNumerics) {
  const std::string x86 =
      "processor\t: 0\nvendor_id\t: GenuineIntel\ncpu family\t: 6\nmodel\t\t: 143\n"
      "model name\t: Intel(R) Xeon(R) Platinum 8480+\nstepping\t: 8\n"
      "flags\t\t: fpu sse sse2 sse4_1 sse4_2 avx avx2 fma avx512f avx512_bf16 amx_tile amx_bf16 hypervisor\n\n"
      "processor\t: 1\nvendor_id\t: GenuineIntel\nmodel name\t: other\n";
  const json c = tw::cpu_info_from(x86);
  EXPECT_EQ(c["cpu"], "Intel(R) Xeon(R) Platinum 8480+");
  EXPECT_EQ(c["cpu_vendor"], "GenuineIntel");
  EXPECT_EQ(c["cpu_family"], 6);
  EXPECT_EQ(c["cpu_model"], 143);
  EXPECT_EQ(c["cpu_stepping"], 8);
  EXPECT_EQ(c["cpu_flags"],
            json({"sse4_1", "sse4_2", "avx", "avx2", "fma", "avx512f", "avx512_bf16", "amx_tile", "amx_bf16"}));
  EXPECT_EQ(c["cpu_flags_count"], 13);
  ASSERT_TRUE(c["cpu_flags_hash"].is_string());
  EXPECT_EQ(c["cpu_flags_hash"].get<std::string>().size(), 12u);
  // A flag outside the list still changes the hash; the order of the flags does not.
  std::string fewer = x86;
  fewer.replace(fewer.find(" hypervisor"), 11, "");
  EXPECT_NE(tw::cpu_info_from(fewer)["cpu_flags_hash"], c["cpu_flags_hash"]);
  std::string reordered = x86;
  reordered.replace(reordered.find("fpu sse sse2"), 12, "sse2 sse fpu");
  EXPECT_EQ(tw::cpu_info_from(reordered)["cpu_flags_hash"], c["cpu_flags_hash"]);

  const json arm = tw::cpu_info_from(
      "processor\t: 0\nBogoMIPS\t: 2100.00\nFeatures\t: fp asimd asimdhp sve sve2 bf16 i8mm\n"
      "CPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: 0x0\nCPU part\t: 0xd4f\nCPU revision\t: 1\n");
  EXPECT_EQ(arm["cpu"], "unknown");
  EXPECT_EQ(arm["cpu_vendor"], "0x41");
  EXPECT_EQ(arm["cpu_model"], 0xd4f);
  EXPECT_EQ(arm["cpu_flags"], json({"asimd", "asimdhp", "sve", "sve2", "bf16", "i8mm"}));
  EXPECT_EQ(tw::cpu_info_from("")["cpu"], "unknown");

  // This machine's record carries what its /proc/cpuinfo says, and its online core count.
  const json host = tw::host_context();
  const json own = tw::cpu_info_from(tw_test::slurp("/proc/cpuinfo"));
  ASSERT_TRUE(own.contains("cpu")) << own.dump();
  for (const auto& [key, value] : own.items()) EXPECT_EQ(host[key], value) << key;
  ASSERT_TRUE(host["cpu_cores"].is_number_integer()) << host.dump();
  EXPECT_GE(host["cpu_cores"].get<int>(), 1);
  EXPECT_EQ(host["cpu_cores"].get<long>(), sysconf(_SC_NPROCESSORS_ONLN));
}

TEST(CliDiff, NoiseRunFailOnAndTheJsonOfEveryTier) {
  tw_test::TempDir tmp;
  // The curve cell records its peak memory: the same in A, A2 and B (+5 %, inside the 10 % band),
  // 50 % more in B2.
  auto with_memory = [](json c, double bytes) {
    c["evidence"]["peak_mem_bytes"] = bytes;
    return c;
  };
  const json a =
      matrix(host_context(), json::array({timed("t/x/cpu", 10), with_memory(trained("c/x/cpu", curve(kLoss)), 100e6)}));
  const json a2 =
      matrix(host_context(), json::array({timed("t/x/cpu", 13), with_memory(trained("c/x/cpu", curve(kLoss)), 100e6)}));
  const json b =
      matrix(host_context(), json::array({timed("t/x/cpu", 12), with_memory(trained("c/x/cpu", curve(kLoss)), 105e6)}));
  const json b2 =
      matrix(host_context(), json::array({timed("t/x/cpu", 12), with_memory(trained("c/x/cpu", curve(kLoss)), 150e6)}));
  const std::string pa = tmp.write("a.json", a.dump()), pa2 = tmp.write("a2.json", a2.dump()),
                    pb = tmp.write("b.json", b.dump()), pb2 = tmp.write("b2.json", b2.dump());
  const auto diff = [&](const std::string& flags) {
    return tw_test::run_host("diff '" + pa + "' '" + pb + "' " + flags);
  };
  EXPECT_EQ(diff("").code, 0) << "slower, but speed does not fail unless asked";
  const auto slow = diff("--fail-on speed");
  EXPECT_EQ(slow.code, tw::kExitUnexpected) << slow.out;
  EXPECT_NE(slow.err.find("trainwreck: diff fails: 1 cell(s) slower beyond the band"), std::string::npos) << slow.err;
  EXPECT_EQ(diff("--fail-on speed --noise '" + pa2 + "'").code, 0) << "+20 % is inside the 30 % A/A noise";
  EXPECT_EQ(diff("--fail-on speed --speed-threshold 0.25").code, 0);
  EXPECT_EQ(diff("--fail-on speed,memory --min-seconds 5").code, 0) << "1 s of training is too short then";
  // The memory part of the same list fails on a memory field that grew beyond its band.
  const auto grew = tw_test::run_host("diff '" + pa + "' '" + pb2 + "' --fail-on speed,memory --min-seconds 5");
  EXPECT_EQ(grew.code, tw::kExitUnexpected) << grew.out;
  EXPECT_NE(grew.err.find("1 memory field(s) grew beyond the band"), std::string::npos) << grew.err;
  EXPECT_EQ(grew.err.find("slower"), std::string::npos) << grew.err;
  EXPECT_EQ(tw_test::run_host("diff '" + pa + "' '" + pb2 + "' --fail-on speed --min-seconds 5").code, 0);
  const auto j = diff("--format json --noise '" + pa2 + "'");
  ASSERT_EQ(j.code, 0) << j.err;
  const json d = json::parse(j.out);
  EXPECT_EQ(d["noise"], pa2);
  EXPECT_EQ(d["summary"]["speed"]["within_band"], 1);
  EXPECT_EQ(d["summary"]["numerics"]["identical"], 1);
  for (const char* key : {"host_changed", "per_cell", "cells", "context", "tolerances", "only_a", "only_b"})
    EXPECT_TRUE(d.contains(key)) << key;
  const auto md = diff("--format md");
  EXPECT_NE(md.out.find("| tier | summary |"), std::string::npos) << md.out;  // counts of cells, cell-seeds, fields
  EXPECT_NE(md.out.find("| speed | 1 slower"), std::string::npos) << md.out;
  EXPECT_NE(md.out.find("| memory | peak memory 0 grew, 0 shrank of 1"), std::string::npos) << md.out;
  for (const std::string& bad : {"--fail-on sped", "--fail-on speed,", "--speed-threshold -1", "--min-seconds x",
                                 "--noise /nonexistent/run", "--growth-tolerance nan"}) {
    const auto r = diff(bad);
    EXPECT_EQ(r.code, tw::kExitBadInput) << bad << "\n" << r.err;
  }
}

}  // namespace tiers
