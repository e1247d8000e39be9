// `trainwreck merge DIR... --out DIR`: join the results of the shards of one run into one matrix
// and write its reports, as run would have.
#include <unistd.h>

#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <system_error>
#include <vector>

#include "harness/cli/commands.h"
#include "harness/cli/flags.h"
#include "harness/cli/results_dir.h"
#include "harness/errors.h"
#include "harness/merge.h"
#include "harness/report.h"
#include "harness/store.h"

namespace tw::cli {
using nlohmann::json;
namespace fs = std::filesystem;

int cmd_merge(int argc, char** argv) {
  const Flags f = parse_flags("merge", argc, argv, 2, {"--out"}, {"--quiet"}, 100000);
  if (f.positional.empty())
    throw InputError("command line", "merge", "needs the shards' results (trainwreck merge DIR... --out DIR)");
  if (!f.has("--out") || f.one("--out").empty()) throw InputError("command line", "--out", "merge needs --out DIR");
  const std::string out = f.one("--out");
  std::vector<ShardResult> shards;
  std::error_code ec;
  for (const auto& p : f.positional) {
    ShardResult s;
    s.path = p;
    s.matrix = load_matrix(p);
    const std::string parent = fs::path(p).parent_path().string();
    const std::string dir = fs::is_directory(p, ec) ? p : parent.empty() ? std::string(".") : parent;
    if (fs::equivalent(dir, out, ec))
      throw InputError("command line", "--out", "must not be one of the shards' directories (" + p + ")");
    const std::string settings = dir + "/run.json";
    if (fs::exists(settings, ec)) {
      s.settings = json::parse(read_file(settings), nullptr, false);
      if (s.settings.is_discarded() || !s.settings.is_object()) throw InputError(settings, "", "not valid JSON");
    }
    shards.push_back(std::move(s));
  }
  const Matrix merged(merge_shards(shards));
  check_results_directory(out, "--out");
  ensure_directory(out);
  {
    const DirectoryLock lock(out);
    claim_results_directory(out);
    remove_stale_reports(out);
    write_reports(out, merged, nullptr);
  }
  if (!f.has("--quiet")) std::cout << render_console(merged, isatty(1));
  std::cout << "merged " << merged.cells().size() << " cells from " << shards.size() << " result(s) into " << out
            << "\n";
  bool incomplete = false;
  if (merged.context().contains("shards_missing")) {
    incomplete = true;
    std::cerr << "trainwreck: the merged matrix is incomplete: shard(s)";
    for (const auto& m : merged.context()["shards_missing"]) std::cerr << " " << m.get<std::string>();
    std::cerr << " missing\n";
  }
  return count_failures(merged) > 0 || incomplete ? kExitUnexpected : kExitAsExpected;
}

}  // namespace tw::cli
