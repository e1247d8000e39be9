// The trainwreck command line: the usage text, the exit codes, and the dispatch to the commands
// (run, selftest, list, diff, merge, report, pin, and the internal cell and probe entries), each in
// its own file under harness/cli/.
#include <signal.h>

#include <algorithm>
#include <csignal>
#include <iostream>
#include <string>
#include <vector>

#include "harness/backend.h"
#include "harness/cli/commands.h"
#include "harness/cli/flags.h"
#include "harness/context.h"
#include "harness/errors.h"
#include "harness/report/reporter.h"
#include "harness/selftest.h"

namespace tw {

namespace cli {

Catalog full_catalog(const Backend& backend) {
  Catalog c = selftest_catalog();
  c.add(backend.catalog);
  return c;
}

}  // namespace cli

namespace {

// {format-words}, {baseline-formats} and {format-lines} come from the reporters' registry.
const char* kUsage = R"(trainwreck: break deep-learning training on purpose, reproducibly, and show which
remedy fixes which failure. Every (scenario, mitigation, device) cell runs in its own process.

Usage:
  trainwreck run [flags]        run the matrix and write results
  trainwreck selftest [flags]   run the built-in isolation cells (no LibTorch)
  trainwreck list [--json] [--scenarios PATH]...
                                faults, mitigations, scenarios and their cells
  trainwreck list --cells [--json] [--device D] [--filter GLOB]... [--scenarios PATH]...
                                the cells a run would have, one per line (first line: what the
                                probe found when --device is not cpu)
  trainwreck diff A B [--noise A2] [--speed FILE] [--loss-tolerance X] [--memory-tolerance X]
                    [--growth-tolerance X] [--speed-threshold X] [--min-seconds S] [--fail-on LIST] [--format text|md|json]
                                compare two runs (results directories or matrix.json files): host,
                                outcomes, loss curves (identical / within tolerance / drifted),
                                steps to target, median step time (slower/faster beyond
                                max(--speed-threshold, default 0.07, and the A/A noise of --noise A2,
                                a rerun of A); cells under --min-seconds, default 0.05, are too
                                short), memory (peak and growth per step). Exit 1 on a changed
                                outcome, or on a tier named in --fail-on
                                (speed,memory,numerics,steps,host). --speed FILE (trainwreck
                                speed's speed.json): the cells it timed take their speed verdict
                                from that interleaved measurement
  trainwreck speed [--a EXE] [--b EXE] [--a-env K=V]... [--b-env K=V]... [--rounds R]
                   [--filter GLOB]... [--scenarios PATH]... [--device D] [--seed N] [--horizon X]
                   [--speed-threshold X] [--min-seconds S] [--format text|md|json] [--out DIR]
                                median step time of the same cells under two executables or
                                environments (default: this one), run A B A B ... one cell at
                                a time for R rounds (default 5); a cell is slower or faster
                                when its interval (3.29 standard errors of the A/A pairs'
                                spread) lies beyond --speed-threshold (default 0.05); the A/A
                                check applies the same rule to A against A. Exit 1 when a cell
                                is slower or the A/A check flags a cell
  trainwreck bisect --filter ID [--a EXE] [--b EXE] [--a-env K=V]... [--b-env K=V]...
                    [--scenarios PATH]... [--device D] [--seed N] [--horizon X]
                    [--format text|md|json] [--out DIR]
                                the start of a bisect: one cell under two executables or
                                environments, traced; names the first step whose loss is not
                                bit-identical and the first ATen op of that step (or of the step
                                before it) whose outputs differ. Exit 0 when the losses are
                                bit-identical, 1 when a difference was found
  trainwreck merge DIR... --out DIR
                                join the results of the shards of one run into one matrix
  trainwreck report DIR [--format {format-words}] [--out FILE]
                                [--baseline A] [--catalog LIST]
                                render a finished run again; --format md --out DIR (a
                                directory, a path ending in '/' or without an extension)
                                writes an evidence page per article row with its figures
                                (index.md, <row>.md, figures/<scenario>-<device>.svg);
                                --catalog LIST (what trainwreck list --json printed) gives
                                the article rows and descriptions a matrix written before
                                run recorded them lacks
  trainwreck pin DIR [--scenarios PATH]... [--filter GLOB]... [--dry-run]
                                write a finished run's outcomes into the scenarios as
                                expectations for its device classes; a cell whose seeds
                                disagree (--seeds) is not pinned but listed on stderr, and
                                the exit code is then 1 (the other cells are pinned);
                                --filter as run's: pin only the cells it keeps
  trainwreck cell ID [--scenarios PATH]... [--seed N]
                                run one rank of the planned cell ID in this process, as a launcher
                                (torchrun --no-python, srun) starts it: RANK, WORLD_SIZE,
                                LOCAL_RANK, MASTER_ADDR, MASTER_PORT from the environment; its
                                events are JSON lines on standard output
  trainwreck --help | --version

Formats of report (default text; {baseline-formats} add the diff against --baseline):
{format-lines}
Flags of run (and selftest):
  --scenarios PATH   scenario file or directory (repeatable; default: ./scenarios)
  --filter GLOB      keep cells whose id (scenario/mitigation/device) matches; a leading '-'
                     excludes; repeatable
  --device D         auto (CUDA when present, else cpu), cpu, cuda, or all (default auto)
  --jobs N           cells at once (default: the number of cores)
  --out DIR          results directory (default results/latest)
  --timeout S        wall-clock limit for every cell, replacing the scenarios' limits
  --shard K/N        run the K-th of N deterministic parts of the matrix
                     (TEST_SHARD_INDEX / TEST_TOTAL_SHARDS are honoured when set); join the
                     parts with trainwreck merge
  --seed N           the run's seed (default 20240611); cells derive theirs from it
  --repeat N         run every cell N times; a cell whose outcome is not the same every time
                     is "flaky" (a failure); evidence and the per-step loss are compared too
  --seeds N          run every cell with N seeds (1 to 100, default 1): --seed, --seed + 1, ...,
                     --seed + N - 1; the first seed's files go to cells/, the others' to
                     cells/seed-<seed>/. A cell passes only when every seed has the pinned
                     outcome; seeds that agree on another outcome are "unexpected", seeds that
                     disagree (pinned or not) are "seed-dependent" (a failure). The matrix keeps
                     the first seed's record and adds each seed's outcome and key evidence.
                     Cannot be combined with --repeat.
  --horizon X        every cell trains X times its scenario's steps (0.1 to 100, default 1), its
                     wall-clock limit scaled alike: an outcome that is a property of the fault
                     holds when a healthy cell trains twice as long (--horizon 2)
  --resume DIR       finish an interrupted run in DIR: only cells without a result run
  --baseline A       compare with an earlier run (directory or matrix.json): the diff is
                     printed after the matrix and written to DIR/diff.md and report.html;
                     a changed outcome makes the exit code 1
  --loss-tolerance X, --memory-tolerance X
                     relative change of final loss (default 0.01) and peak memory (default
                     0.10) still counted as the same, for diff and --baseline
  --quiet            no progress on stderr

A run writes DIR/context.json, run.json, cells/<cell>.{jsonl,log,result.json}, then
matrix.json, matrix.md, junit.xml, report.html and figures/<scenario>-<device>.svg once every
cell has a result.

Exit codes: 0 every cell as expected (diff: no outcome changed); 1 at least one unexpected,
flaky or seed-dependent outcome, a changed outcome against the baseline (on any seed, when
both runs have the same seeds) or a diff tier named in --fail-on, shards missing from a merge, or cells pin left unpinned; 2 bad
input or usage (nothing was run or written); 3 internal error; 4 results could not be written
(no matrix.json is left claiming a complete run); 130 / 143 interrupted by SIGINT / SIGTERM (the
running cells are killed, the finished ones kept: --resume DIR finishes the run).
)";

void replace(std::string& text, const std::string& from, const std::string& to) {
  const std::size_t at = text.find(from);
  if (at != std::string::npos) text.replace(at, from.size(), to);
}

// kUsage with the formats of report, as the registry has them.
std::string usage() {
  std::string text = kUsage;
  std::string words, lines;
  std::vector<std::string> with_baseline;
  std::size_t width = 0;
  for (const Reporter* r : reporters()) width = std::max(width, r->name().size());
  for (const Reporter* r : reporters()) {
    const std::string name(r->name());
    words += (words.empty() ? "" : "|") + name;
    lines += "  " + name + std::string(width + 3 - name.size(), ' ') + std::string(r->description()) + "\n";
    if (r->takes_baseline()) with_baseline.push_back(name);
  }
  replace(text, "{format-words}", words);
  replace(text, "{baseline-formats}", cli::word_list(with_baseline, "and"));
  replace(text, "{format-lines}", lines);
  return text;
}

}  // namespace

int trainwreck_main(int argc, char** argv, const Backend& backend) {
  const std::string command = argc > 1 ? argv[1] : "";
  // Internal entries first: they report through the event pipe, not the terminal.
  if (command == "cell") return cli::cmd_cell(argc, argv, backend);
  if (command == "probe") return cli::cmd_probe(backend);
  signal(SIGPIPE, SIG_IGN);
  // Over a file size limit a write then fails with EFBIG, reported as results not written,
  // instead of the signal killing the harness.
  signal(SIGXFSZ, SIG_IGN);
  try {
    if (command.empty() || command == "--help" || command == "-h" || command == "help") {
      std::cout << usage();
      return command.empty() ? kExitBadInput : kExitAsExpected;
    }
    if (command == "--version") {
      std::cout << "trainwreck " << host_context().value("trainwreck", "") << "\n";
      return kExitAsExpected;
    }
    for (int i = 2; i < argc; ++i)
      if (std::string(argv[i]) == "--help" || std::string(argv[i]) == "-h") {
        std::cout << usage();
        return kExitAsExpected;
      }
    if (command == "run") return cli::cmd_run(argc, argv, backend, false);
    if (command == "selftest") return cli::cmd_run(argc, argv, backend, true);
    if (command == "list") return cli::cmd_list(argc, argv, backend);
    if (command == "diff") return cli::cmd_diff(argc, argv);
    if (command == "merge") return cli::cmd_merge(argc, argv);
    if (command == "report") return cli::cmd_report(argc, argv);
    if (command == "pin") return cli::cmd_pin(argc, argv, backend);
    if (command == "speed") return cli::cmd_speed(argc, argv, backend);
    if (command == "bisect") return cli::cmd_bisect(argc, argv, backend);
    throw InputError("command line", command,
                     "unknown command (run, selftest, list, diff, speed, bisect, merge, report, pin; see trainwreck --help)");
  } catch (const InputError& e) {
    std::cerr << "trainwreck: " << e.describe() << "\n";
    return kExitBadInput;
  } catch (const ResultsError& e) {
    std::cerr << "trainwreck: results not written: " << e.what() << "\n";
    return kExitResultsLost;
  } catch (const std::exception& e) {
    std::cerr << "trainwreck: internal error: " << e.what() << "\n";
    return kExitInternal;
  }
}

}  // namespace tw
