// ProcessGroupNCCL behind the Collective interface (CUDA builds of LibTorch only).
#include "kernel/collective.h"
#include "kernel/registry.h"

#include <c10/util/Exception.h>

#include <algorithm>
#include <cstdlib>
#include <string>

#ifdef TRAINWRECK_WITH_CUDA
// torch_cuda exports USE_C10D_NCCL as an interface definition; the object libraries built
// here include LibTorch's headers without linking that target.
#ifndef USE_C10D_NCCL
#define USE_C10D_NCCL
#endif
#include <c10/cuda/CUDAFunctions.h>
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

namespace tw {

#ifdef TRAINWRECK_WITH_CUDA
namespace {

class NcclCollective : public Collective {
 public:
  NcclCollective(c10::intrusive_ptr<c10d::Store> store, int rank, int world, c10::Device device,
                 std::chrono::milliseconds timeout)
      : rank_(rank), timeout_(timeout) {
    // CleanUpOnly: a timed-out collective aborts its communicator and wait() raises, instead of
    // the watchdog tearing the process down before it can report. A user's setting wins.
    setenv("TORCH_NCCL_ASYNC_ERROR_HANDLING", "2", /*overwrite=*/0);
    // The communicator is created inside the first collective. Blocking, its creation waits for
    // a peer that never comes (a rank that died on its device) with no timeout at all; in
    // nonblocking mode it gives up after TORCH_NCCL_NONBLOCKING_TIMEOUT seconds, here the
    // collective timeout, so that timeout bounds every wait of the cell.
    const long long seconds = std::max<long long>(1, (timeout.count() + 999) / 1000);
    setenv("TORCH_NCCL_NONBLOCKING_TIMEOUT", std::to_string(seconds).c_str(), /*overwrite=*/0);
    c10::cuda::set_device(device.index());
    auto options = c10d::ProcessGroupNCCL::Options::create();
    options->timeout = timeout;
#ifdef NCCL_HAS_CONFIG
    options->config.blocking = 0;
#endif
    group_ = c10::make_intrusive<c10d::ProcessGroupNCCL>(std::move(store), rank, world, options);
  }

  ~NcclCollective() override {
    // Communicators of a failed run may never complete: abort rather than wait at exit.
    try {
      if (failed_) group_->abort();
      else group_->shutdown();
    } catch (const std::exception&) {
    }
  }

  std::string backend() const override { return "nccl"; }

  void allreduce_sum(at::Tensor& tensor, const std::string& tag) override {
    const int64_t seq = sequence_++;
    std::vector<at::Tensor> tensors{tensor};
    failed_ = true;
    const auto start = std::chrono::steady_clock::now();
    std::string message = "wait() reported the collective unfinished";
    try {
      // An explicit timeout makes wait() block the host and raise when the collective runs over.
      if (group_->allreduce(tensors)->wait(timeout_)) {
        failed_ = false;
        return;
      }
    } catch (const c10::Error& e) {
      // Errors other than running over the timeout (communicator creation, ...) pass through.
      if (std::chrono::steady_clock::now() - start < timeout_ * 9 / 10) throw;
      message = first_line(e.what_without_backtrace());
    }
    const double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    throw CollectiveTimeout("collective_timeout",
                            "rank " + std::to_string(rank_) + ": NCCL all-reduce #" + std::to_string(seq) + " of " +
                                Fingerprint::of("", tensor, seq, tag).describe() + " ran past its timeout of " +
                                std::to_string(timeout_.count()) + " ms (" + message + ")",
                            {{"rank", rank_}, {"sequence", seq}, {"tag", tag}, {"waited_seconds", waited},
                             {"nccl_message", message}});
  }

 private:
  c10::intrusive_ptr<c10d::ProcessGroupNCCL> group_;
  int rank_;
  std::chrono::milliseconds timeout_;
  int64_t sequence_ = 0;
  bool failed_ = false;
};

}  // namespace

std::unique_ptr<Collective> make_nccl_collective(c10::intrusive_ptr<c10d::Store> store, int rank, int world,
                                                 c10::Device device, std::chrono::milliseconds timeout) {
  return std::make_unique<NcclCollective>(std::move(store), rank, world, device, timeout);
}
#else
std::unique_ptr<Collective> make_nccl_collective(c10::intrusive_ptr<c10d::Store>, int, int, c10::Device,
                                                 std::chrono::milliseconds) {
  throw std::runtime_error("this LibTorch build has no CUDA, so no ProcessGroupNCCL");
}
#endif

}  // namespace tw
