#pragma once
// The process group of the data-parallel cells, as torch.distributed builds it: a c10d
// ProcessGroup whose CPU backend is ProcessGroupGloo and whose CUDA backend is ProcessGroupNCCL,
// optionally wrapped in ProcessGroupWrapper (what TORCH_DISTRIBUTED_DEBUG=DETAIL installs: the
// ranks compare each collective's fingerprint over a helper Gloo group before any data moves).
// c10d's own errors are turned into the cell's language here: a timeout, a fingerprint
// mismatch, a rank missing at a monitored barrier, a DDP check.
#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>
#include <c10/util/intrusive_ptr.h>

#include <chrono>
#include <string>

#include "backend/collective.h"

namespace c10d {
class Backend;
class ProcessGroup;
class Store;
}  // namespace c10d

namespace tw {

struct GroupSettings {
  std::chrono::milliseconds timeout{std::chrono::minutes(30)};  // every collective's timeout
  bool detail = false;            // ProcessGroupWrapper around the backend
  bool monitored_barrier = false; // a Gloo group for monitoredBarrier, also on CUDA
  std::string host = "127.0.0.1"; // MASTER_ADDR: loopback binds Gloo to loopback
};

struct DistributedGroup {
  c10::intrusive_ptr<c10d::ProcessGroup> group;   // what DDP's Reducer and the loop call
  c10::intrusive_ptr<c10d::Backend> backend;      // the device's backend (the wrapper when detail)
  c10::intrusive_ptr<c10d::Backend> barrier;      // Gloo, for monitoredBarrier (null unless asked)
  std::string name;                               // "gloo", "nccl", "gloo+detail", ...
  int rank = 0;
  int world = 1;
  std::chrono::milliseconds timeout{0};
};

// Whether this build has c10d's Gloo backend (its headers were found at build time), and why not.
bool gloo_available();
std::string gloo_unavailable_reason();

// Builds the group over `store` for `device` (CPU: Gloo; CUDA: NCCL on that device). Throws
// std::runtime_error where the backend is not in this build.
DistributedGroup make_group(c10::intrusive_ptr<c10d::Store> store, int rank, int world, c10::Device device,
                            const GroupSettings& settings);

// Sum all-reduce of `tensor` through the group, waited for.
void allreduce_sum(DistributedGroup& g, at::Tensor& tensor);

// Every rank waits at a Gloo monitoredBarrier; rank 0 names the ranks that did not arrive within
// `timeout` (DistributedStop, guard "monitored_barrier").
void monitored_barrier(DistributedGroup& g, const std::string& where, std::chrono::milliseconds timeout);

// A plain barrier of the group, so rank 0 (which hosts the store) leaves last.
void group_barrier(DistributedGroup& g);

// Ends the group: shutdown when it finished, abort after a failure (NCCL would otherwise wait).
void close_group(DistributedGroup& g, bool failed) noexcept;

// Turns on c10d's flight recorder (TORCH_FR_BUFFER_SIZE, unless set) before the group exists.
void enable_flight_recorder();

// What the flight recorder holds for this process's groups on `device`, summarized: how many
// collectives it recorded, how many in each state, and the last three (sequence number, op,
// input sizes, state). Null when nothing was recorded.
nlohmann::json flight_recorder_summary(c10::Device device);

// Rethrows what c10d raised as the cell's diagnosis where it is one (a fingerprint mismatch, a
// timeout, a rank absent at a barrier, DDP's model and unused-parameter checks): a
// DistributedStop naming the check; anything else is rethrown unchanged. Call inside a catch.
[[noreturn]] void rethrow_as_diagnosis(const DistributedGroup& g);

}  // namespace tw
