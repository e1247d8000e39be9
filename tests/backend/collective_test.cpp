// The distributed cells' building blocks on real c10d: a TCPStore rendezvous, c10d's Gloo
// process group (an all-reduce, ProcessGroupWrapper's mismatch report, a timeout, the monitored
// barrier), each rank a thread with its own store client (rank 0's thread hosts the server),
// plus the device-mapping check on hand-written claims.
#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <torch/csrc/distributed/c10d/ProcessGroup.hpp>
#include <torch/csrc/distributed/c10d/Store.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <thread>

#include "harness/classify.h"
#include "harness/runner.h"
#include "backend/collective.h"
#include "backend/device_mapping.h"
#include "backend/process_group.h"
#include "tests/harness/listen_sockets.h"

namespace {
using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

constexpr int kWorld = 2;
const milliseconds kRendezvousTimeout{10000};

// What one rank's thread saw: its tensor after the collective, or the exception it raised.
struct RankResult {
  at::Tensor tensor;
  std::string error_type;  // "", "timeout", "mismatch", "stop" (another check), "other"
  std::string guard;
  std::string message;
  nlohmann::json details;
  double seconds = 0;
};

using RankBody = std::function<void(c10::intrusive_ptr<c10d::Store>, int rank, RankResult&)>;

// Runs `body` on two ranks, one thread each. Stores stay alive until both threads are done, so
// rank 0's server never vanishes under a rank that is still waiting.
std::vector<RankResult> run_two_ranks(const RankBody& body, const std::string& host = "127.0.0.1") {
  const int port = tw::free_local_port();
  std::vector<RankResult> results(kWorld);
  std::vector<c10::intrusive_ptr<c10d::Store>> stores(kWorld);
  std::vector<std::thread> threads;
  for (int rank = 0; rank < kWorld; ++rank) {
    threads.emplace_back([&, rank] {
      RankResult& out = results[static_cast<std::size_t>(rank)];
      const auto start = Clock::now();
      try {
        stores[static_cast<std::size_t>(rank)] = tw::rendezvous(host, port, rank, kWorld, kRendezvousTimeout);
        body(stores[static_cast<std::size_t>(rank)], rank, out);
      } catch (const tw::CollectiveTimeout& e) {
        out.error_type = "timeout";
        out.guard = e.guard();
        out.message = e.what();
        out.details = e.details();
      } catch (const tw::CollectiveMismatch& e) {
        out.error_type = "mismatch";
        out.guard = e.guard();
        out.message = e.what();
        out.details = e.details();
      } catch (const tw::DistributedStop& e) {
        out.error_type = "stop";
        out.guard = e.guard();
        out.message = e.what();
        out.details = e.details();
      } catch (const std::exception& e) {
        out.error_type = "other";
        out.message = e.what();
      }
      out.seconds = std::chrono::duration<double>(Clock::now() - start).count();
    });
  }
  for (auto& t : threads) t.join();
  return results;
}

// The pairing of Gloo's headers (Debian's libgloo-dev) with the Gloo inside libtorch_cpu: an
// upgrade that breaks it fails here, by name, before any cell runs.
tw::DistributedGroup gloo_group(const c10::intrusive_ptr<c10d::Store>& store, int rank, milliseconds timeout,
                                bool detail = false, bool barrier = false) {
  tw::GroupSettings settings;
  settings.timeout = timeout;
  settings.detail = detail;
  settings.monitored_barrier = barrier;
  return tw::make_group(store, rank, kWorld, c10::Device(c10::kCPU), settings);
}

// Runs `f` on `g`, turning what c10d raised into the cell's diagnosis, as the cells do.
void diagnosed(tw::DistributedGroup& g, const std::function<void()>& f) {
  try {
    f();
  } catch (...) {
    tw::rethrow_as_diagnosis(g);
  }
}

TEST(Gloo, AllReduceSumsAcrossTwoRanks) {
  if (!tw::gloo_available()) GTEST_SKIP() << tw::gloo_unavailable_reason();
  const auto results = run_two_ranks([](c10::intrusive_ptr<c10d::Store> store, int rank, RankResult& out) {
    tw::DistributedGroup g = gloo_group(store, rank, milliseconds(5000));
    EXPECT_EQ(g.name, "gloo");
    at::Tensor t = at::arange(1000, at::kFloat) * (rank + 1);
    tw::allreduce_sum(g, t);
    tw::group_barrier(g);
    out.tensor = t;
    tw::close_group(g, false);
  });
  for (const auto& r : results) {
    ASSERT_EQ(r.error_type, "") << r.message;
    EXPECT_TRUE(at::equal(r.tensor, at::arange(1000, at::kFloat) * 3)) << r.tensor;
  }
}

TEST(Gloo, WrapperStopsBothRanksNamingBothShapes) {
  if (!tw::gloo_available()) GTEST_SKIP() << tw::gloo_unavailable_reason();
  const auto results = run_two_ranks([](c10::intrusive_ptr<c10d::Store> store, int rank, RankResult& /*out*/) {
    tw::DistributedGroup g = gloo_group(store, rank, milliseconds(5000), /*detail=*/true);
    EXPECT_EQ(g.name, "gloo+detail");
    diagnosed(g, [&] {
      at::Tensor same = at::ones({3});
      tw::allreduce_sum(g, same);
      at::Tensor t = at::ones({1000 - rank});
      tw::allreduce_sum(g, t);
    });
  });
  for (int rank = 0; rank < kWorld; ++rank) {
    const RankResult& r = results[static_cast<std::size_t>(rank)];
    ASSERT_EQ(r.error_type, "mismatch") << r.message;
    EXPECT_EQ(r.guard, "collective_fingerprint");
    EXPECT_NE(r.message.find("Detected mismatch between collectives on ranks"), std::string::npos) << r.message;
    ASSERT_EQ(r.details["fingerprints"].size(), 2u) << r.details.dump();
    std::map<int, std::string> shapes;
    for (const auto& f : r.details["fingerprints"]) {
      shapes[f["rank"].get<int>()] = f["shape"].get<std::string>();
      EXPECT_EQ(f["op"], "ALLREDUCE");
    }
    EXPECT_EQ(shapes[0], "[1000]");
    EXPECT_EQ(shapes[1], "[999]");
    EXPECT_LT(r.seconds, 5.0);  // before any data moved, long before the timeout
  }
}

TEST(Gloo, APeerThatNeverCallsIsACollectiveTimeout) {
  if (!tw::gloo_available()) GTEST_SKIP() << tw::gloo_unavailable_reason();
  const auto results = run_two_ranks([](c10::intrusive_ptr<c10d::Store> store, int rank, RankResult& /*out*/) {
    tw::DistributedGroup g = gloo_group(store, rank, milliseconds(500));
    if (rank == 1) {
      std::this_thread::sleep_for(milliseconds(1500));
      return;
    }
    diagnosed(g, [&] {
      at::Tensor t = at::ones({16});
      tw::allreduce_sum(g, t);
    });
  });
  ASSERT_EQ(results[0].error_type, "timeout") << results[0].message;
  EXPECT_EQ(results[0].guard, "collective_timeout");
  EXPECT_NE(results[0].message.find("Timed out"), std::string::npos) << results[0].message;
  EXPECT_LT(results[0].seconds, 5.0);
}

TEST(Gloo, MonitoredBarrierNamesTheRankThatDidNotArrive) {
  if (!tw::gloo_available()) GTEST_SKIP() << tw::gloo_unavailable_reason();
  const auto results = run_two_ranks([](c10::intrusive_ptr<c10d::Store> store, int rank, RankResult& /*out*/) {
    tw::DistributedGroup g = gloo_group(store, rank, milliseconds(500), false, /*barrier=*/true);
    if (rank == 1) {
      std::this_thread::sleep_for(milliseconds(1500));
      return;
    }
    tw::monitored_barrier(g, "before the first step", milliseconds(500));
  });
  ASSERT_EQ(results[0].error_type, "stop") << results[0].message;
  EXPECT_EQ(results[0].guard, "monitored_barrier");
  EXPECT_EQ(results[0].details["absent_ranks"], nlohmann::json::array({1})) << results[0].details.dump();
}

TEST(Rendezvous, RankZeroStopsWaitingForAMissingRank) {
  const int port = tw::free_local_port();
  const auto start = Clock::now();
  try {
    tw::rendezvous("127.0.0.1", port, /*rank=*/0, /*world=*/2, milliseconds(1000));
    FAIL() << "the rendezvous completed without rank 1";
  } catch (const tw::CollectiveTimeout& e) {
    EXPECT_EQ(e.guard(), "rendezvous_timeout");
    EXPECT_NE(std::string(e.what()).find("1/2"), std::string::npos) << e.what();
  }
  EXPECT_LT(std::chrono::duration<double>(Clock::now() - start).count(), 5.0);
}

// What rank 0's process listens on while the store is up: only loopback for a single-host
// rendezvous (issue 19, item 10). c10d's default is every interface, where anyone who reaches the
// machine could join the rendezvous or write its keys.
void expect_store_on_loopback_only(const std::string& host) {
  const auto results = run_two_ranks(
      [](c10::intrusive_ptr<c10d::Store> store, int rank, RankResult& out) {
        if (rank == 0) {
          out.details["port"] = dynamic_cast<c10d::TCPStore&>(*store).getPort();
          out.details["listeners"] = nlohmann::json::array();
          for (const auto& l : tw::test::listen_sockets_of(getpid()))
            out.details["listeners"].push_back(
                {{"address", l.text()}, {"port", l.port}, {"loopback", l.loopback}});
        }
        // Rank 0's store stays up until rank 0 has looked.
        tw::store_all_gather(*store, "looked", "1", rank, kWorld, kRendezvousTimeout, "the look at the listeners");
      },
      host);
  for (const auto& r : results) ASSERT_EQ(r.error_type, "") << r.message;
  const nlohmann::json& d = results[0].details;
  bool store_seen = false;
  for (const auto& l : d["listeners"]) {
    EXPECT_TRUE(l["loopback"].get<bool>()) << "the store listens on " << l["address"] << ", beyond loopback";
    store_seen = store_seen || l["port"] == d["port"];
  }
  EXPECT_TRUE(store_seen) << "no listening socket on the store's port " << d["port"] << ": " << d["listeners"];
}

TEST(Rendezvous, SingleHostStoreListensOnLoopbackOnly) { expect_store_on_loopback_only("127.0.0.1"); }

TEST(Rendezvous, LocalhostStoreListensOnLoopbackOnly) { expect_store_on_loopback_only("localhost"); }

TEST(Rendezvous, LoopbackHostsAreRecognised) {
  for (const char* host : {"127.0.0.1", "127.1.2.3", "localhost", "::1"})
    EXPECT_TRUE(tw::is_loopback_host(host)) << host;
  for (const char* host : {"0.0.0.0", "10.0.0.1", "::", "example.org", "", "128.0.0.1"})
    EXPECT_FALSE(tw::is_loopback_host(host)) << host;
}

// A whole collective cell, run by the harness as a user runs it: while its ranks run, no process
// of the run listens on anything but loopback.
TEST(CollectiveCell, ListensOnlyOnLoopback) {
  // No std::filesystem (TempDir): libtorch.so exports its own copies of those symbols.
  const char* tmp = std::getenv("TMPDIR");
  std::string dir = std::string(tmp && *tmp ? tmp : "/tmp") + "/tw-listen-test-XXXXXX";
  ASSERT_NE(mkdtemp(dir.data()), nullptr);
  struct Cleanup {
    std::string dir;
    ~Cleanup() {
      nftw(dir.c_str(), [](const char* path, const struct stat*, int, FTW*) { return std::remove(path); }, 16,
           FTW_DEPTH | FTW_PHYS);
    }
  } cleanup{dir};
  const std::string out = dir + "/results";
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    const int null = open("/dev/null", O_WRONLY);
    dup2(null, 1);
    execl(TRAINWRECK_EXE, TRAINWRECK_EXE, "run", "--device", "cpu", "--scenarios",
          TRAINWRECK_SOURCE_DIR "/scenarios/collective_baseline.json",
          "--filter", "collective_baseline/none/*",
          "--out", out.c_str(), "--quiet", static_cast<char*>(nullptr));
    _exit(127);
  }
  std::map<std::string, tw::test::ListenSocket> seen;  // "pid address" -> socket
  int status = 0;
  const auto start = Clock::now();
  while (waitpid(pid, &status, WNOHANG) == 0) {
    for (int p : tw::test::process_tree(pid))
      for (const auto& l : tw::test::listen_sockets_of(p)) seen[std::to_string(p) + " " + l.text()] = l;
    if (Clock::now() - start > std::chrono::seconds(240)) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      FAIL() << "the run did not finish in 240 s";
    }
    std::this_thread::sleep_for(milliseconds(5));
  }
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "trainwreck run exited with status " << status;
  // The store is up for the whole cell, so sampling sees it: an empty set means the test is blind.
  EXPECT_FALSE(seen.empty()) << "no listening socket of the cell was seen";
  for (const auto& [who, l] : seen) EXPECT_TRUE(l.loopback) << "process " << who << " listens beyond loopback";
}

// A cell joins a rendezvous it did not start, as under srun or a Kubernetes job: two ranks of
// `trainwreck cell ID` started by hand with the launcher's variables, each writing its events to
// standard output (no descriptor 3). Both train to the target, with the same weights.
TEST(ExternalRendezvous, RanksStartedByHandTrainTogether) {
  if (!tw::gloo_available()) GTEST_SKIP() << tw::gloo_unavailable_reason();
  const std::string port = std::to_string(tw::free_local_port());
  const char* tmp = std::getenv("TMPDIR");
  std::string dir = std::string(tmp && *tmp ? tmp : "/tmp") + "/tw-external-XXXXXX";
  ASSERT_NE(mkdtemp(dir.data()), nullptr);
  std::vector<pid_t> pids;
  for (int rank = 0; rank < kWorld; ++rank) {
    const std::string out = dir + "/rank" + std::to_string(rank) + ".jsonl";
    const pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      const int fd = open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      dup2(fd, 1);
      close(3);  // what a launcher hands its workers: no event descriptor
      setenv("RANK", std::to_string(rank).c_str(), 1);
      setenv("LOCAL_RANK", std::to_string(rank).c_str(), 1);
      setenv("WORLD_SIZE", std::to_string(kWorld).c_str(), 1);
      setenv("MASTER_ADDR", "127.0.0.1", 1);
      setenv("MASTER_PORT", port.c_str(), 1);
      execl(TRAINWRECK_EXE, TRAINWRECK_EXE, "cell", "collective_baseline/none/cpu", "--scenarios",
            TRAINWRECK_SOURCE_DIR "/scenarios/collective_baseline.json", static_cast<char*>(nullptr));
      _exit(127);
    }
    pids.push_back(pid);
  }
  for (const pid_t pid : pids) {
    int status = 0;
    waitpid(pid, &status, 0);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "status " << status;
  }
  std::vector<nlohmann::json> ends, rank0;
  for (int rank = 0; rank < kWorld; ++rank) {
    std::FILE* f = std::fopen((dir + "/rank" + std::to_string(rank) + ".jsonl").c_str(), "r");
    ASSERT_NE(f, nullptr);
    char line[8192];
    while (std::fgets(line, sizeof line, f)) {
      const nlohmann::json e = nlohmann::json::parse(line, nullptr, false);
      if (!e.is_discarded() && e.value("event", "") == "end") ends.push_back(e);
      if (!e.is_discarded() && rank == 0) rank0.push_back(e);
      EXPECT_NE(e.value("event", ""), "error") << line;
    }
    std::fclose(f);
    std::remove((dir + "/rank" + std::to_string(rank) + ".jsonl").c_str());
  }
  std::remove(dir.c_str());
  ASSERT_EQ(ends.size(), 2u);
  tw::Observation o;  // rank 0's events decide the cell
  o.ranks = {tw::RankExit{true, 0, 0}};
  o.events = rank0;
  const tw::Classification c = tw::classify(o);
  EXPECT_EQ(c.outcome, tw::Outcome::kHealthy) << c.evidence.dump();
  EXPECT_EQ(ends[0]["final_eval_loss"], ends[1]["final_eval_loss"]);  // one model, kept in step by DDP
}

tw::DeviceClaim claim(int rank, int index, int count, const std::string& uuid, const std::string& host = "node0") {
  tw::DeviceClaim c;
  c.rank = rank;
  c.host = host;
  c.index = index;
  c.device_count = count;
  c.uuid = uuid;
  return c;
}

TEST(DeviceMapping, OneGpuPerRankPasses) {
  EXPECT_EQ(tw::check_device_mapping({claim(0, 0, 2, "GPU-a"), claim(1, 1, 2, "GPU-b")}), "");
  // Same ordinal on two hosts is two GPUs.
  EXPECT_EQ(tw::check_device_mapping({claim(0, 0, 1, "GPU-a", "n0"), claim(1, 0, 1, "GPU-b", "n1")}), "");
}

TEST(DeviceMapping, TwoRanksOnOneGpuAreNamed) {
  const std::string d = tw::check_device_mapping({claim(0, 0, 1, "GPU-a"), claim(1, 0, 1, "GPU-a")});
  EXPECT_NE(d.find("rank 0 and rank 1 share one GPU"), std::string::npos) << d;
  // Different ordinals can still be one GPU under different CUDA_VISIBLE_DEVICES: the UUID tells.
  const std::string v = tw::check_device_mapping({claim(0, 0, 2, "GPU-a"), claim(1, 1, 2, "GPU-a")});
  EXPECT_NE(v.find("share one GPU"), std::string::npos) << v;
}

TEST(DeviceMapping, AnOrdinalPastTheCountIsNamed) {
  const std::string d = tw::check_device_mapping({claim(0, 0, 1, "GPU-a"), claim(1, 1, 1, "")});
  EXPECT_NE(d.find("rank 1 -> cuda:1 on host node0 (1 device visible): no such device"), std::string::npos) << d;
  EXPECT_EQ(d.find("share"), std::string::npos) << d;
}

TEST(DeviceMapping, PreflightOverTheStoreStopsEveryRank) {
  // Without a GPU every ordinal is past the count: both ranks must stop with the diagnosis.
  const auto results = run_two_ranks([](c10::intrusive_ptr<c10d::Store> store, int rank, RankResult&) {
    tw::device_mapping_preflight(*store, rank, kWorld, /*index=*/64 + rank, milliseconds(5000));
  });
  for (const auto& r : results) {
    ASSERT_EQ(r.error_type, "stop") << r.message;
    EXPECT_EQ(r.guard, "device_mapping_preflight");
    EXPECT_EQ(r.details["claims"].size(), 2u);
    EXPECT_NE(r.message.find("rank 0 -> cuda:64"), std::string::npos) << r.message;
    EXPECT_NE(r.message.find("rank 1 -> cuda:65"), std::string::npos) << r.message;
  }
}

}  // namespace
