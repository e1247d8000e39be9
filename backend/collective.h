#pragma once
// The rendezvous of the data-parallel cells on PyTorch's c10d (a TCPStore, as torchrun's), the
// diagnoses a distributed run stops with, and a store all-gather for checks that must run before
// a process group exists (the device-mapping preflight). The collectives themselves are c10d's
// process groups: backend/process_group.h.
#include <c10/util/intrusive_ptr.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <vector>

namespace c10d {
class Store;
}

namespace tw {

// A check stopped a distributed run with a diagnosis; `guard` names the check.
class DistributedStop : public std::runtime_error {
 public:
  DistributedStop(std::string guard, const std::string& message, nlohmann::json details)
      : std::runtime_error(message), guard_(std::move(guard)), details_(std::move(details)) {}
  const std::string& guard() const { return guard_; }
  const nlohmann::json& details() const { return details_; }

 private:
  std::string guard_;
  nlohmann::json details_;
};

// A rank waited past its timeout for its peers: guard "rendezvous_timeout" or "collective_timeout".
class CollectiveTimeout : public DistributedStop {
 public:
  using DistributedStop::DistributedStop;
};

// The ranks' fingerprints of one collective disagree (guard "collective_fingerprint").
class CollectiveMismatch : public DistributedStop {
 public:
  using DistributedStop::DistributedStop;
};

// A duration in seconds (a recipe's timeouts) as c10d takes it.
std::chrono::milliseconds to_ms(double seconds);

// Where the launcher's rendezvous is: MASTER_ADDR (default 127.0.0.1) and MASTER_PORT, which
// must be set (the harness sets both for its ranks, as torchrun and srun scripts do).
struct RendezvousAddress {
  std::string host;
  int port = 0;
};
RendezvousAddress rendezvous_address();

// Whether `host` (MASTER_ADDR) names the loopback interface: 127.0.0.0/8, ::1 or localhost, as
// the harness's single-host cells do.
bool is_loopback_host(const std::string& host);

// Rank 0 hosts a c10d::TCPStore on `port`; every rank connects. Rank 0 waits until all `world`
// ranks joined; past `timeout` it throws CollectiveTimeout (as torchrun's store would, only sooner).
c10::intrusive_ptr<c10d::Store> rendezvous(const std::string& host, int port, int rank, int world,
                                           std::chrono::milliseconds timeout);

// Every rank publishes `value` under `key`; returns all ranks' values in rank order. Waiting past
// `timeout` for a rank throws CollectiveTimeout naming it and `what` was being done.
std::vector<std::string> store_all_gather(c10d::Store& store, const std::string& key, const std::string& value, int rank,
                                          int world, std::chrono::milliseconds timeout, const std::string& what);

}  // namespace tw
