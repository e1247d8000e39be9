#pragma once
// Collectives for the data-parallel cells, on PyTorch's c10d: a TCPStore rendezvous, a sum
// all-reduce through the store (the CPU transport, since the wheel has no Gloo), NCCL where
// LibTorch is a CUDA build, and a fingerprint check that wraps either one.
#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>
#include <c10/util/intrusive_ptr.h>

#include <chrono>
#include <memory>
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

// What one rank is about to call; ranks compare these before any data moves.
struct Fingerprint {
  std::string op;              // "allreduce_sum"
  std::string dtype;           // "float32"
  std::vector<int64_t> shape;
  int64_t sequence = 0;        // collectives this rank issued before this one
  std::string tag;             // what is reduced (a parameter name): reported, not compared

  bool agrees_with(const Fingerprint& other) const;
  std::string describe() const;  // "allreduce_sum float32[64, 16] (layers.0.weight)"
  nlohmann::json to_json() const;
  static Fingerprint from_json(const nlohmann::json& j);
  static Fingerprint of(const std::string& op, const at::Tensor& tensor, int64_t sequence, const std::string& tag);
};

// The data-parallel loop's view of a process group.
class Collective {
 public:
  virtual ~Collective() = default;
  // Sums `tensor` over all ranks in place; every rank ends with the same values.
  virtual void allreduce_sum(at::Tensor& tensor, const std::string& tag) = 0;
  virtual std::string backend() const = 0;
};

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

// Every rank arrives, then all leave: so rank 0, which hosts the store, outlives the last read.
void store_barrier(c10d::Store& store, const std::string& name, int rank, int world,
                   std::chrono::milliseconds timeout);

// Float tensors per message of the store all-reduce.
constexpr int64_t kStoreChunkElements = 4096;

// Sum all-reduce through the store: each rank writes its tensor in chunks keyed by sequence
// number, rank, offset and length, then reads the same keys of every peer. A peer that reduces
// a tensor of another size writes other keys, so the wait runs into its timeout: the store
// analogue of a mismatched collective, which hangs.
std::unique_ptr<Collective> make_store_collective(c10::intrusive_ptr<c10d::Store> store, int rank, int world,
                                                  std::chrono::milliseconds timeout,
                                                  int64_t chunk_elements = kStoreChunkElements);

// ProcessGroupNCCL on `device`, with `timeout` as its collective timeout. Throws where this
// LibTorch build has no NCCL.
std::unique_ptr<Collective> make_nccl_collective(c10::intrusive_ptr<c10d::Store> store, int rank, int world,
                                                 c10::Device device, std::chrono::milliseconds timeout);

// Before each collective of `inner`, the ranks exchange fingerprints through the store and
// throw CollectiveMismatch, naming every rank's fingerprint, when they disagree.
std::unique_ptr<Collective> with_fingerprint_check(std::unique_ptr<Collective> inner,
                                                   c10::intrusive_ptr<c10d::Store> store, int rank, int world,
                                                   std::chrono::milliseconds timeout);

}  // namespace tw
