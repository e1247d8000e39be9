#pragma once
// What the guards' two files (backend/guards.cpp: the non-finite guard; backend/guards_watch.cpp:
// gradient flow, memory, loss and evaluation watches, the set) share. Not installed.
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <c10/core/Device.h>
#include <c10/core/Event.h>
#include <c10/core/Scalar.h>
#include <c10/core/impl/VirtualGuardImpl.h>

#include <optional>
#include <vector>

namespace trainwreck::detail {

// Devices whose guard values are read one step late instead of synchronizing.
inline bool reads_late(const at::Tensor& t) { return t.defined() && t.is_cuda(); }

// A small device vector copied to pinned host memory behind the work already queued, and read
// at the next step. The read waits on an event recorded after the copy; by then a whole step
// has been queued behind it, so the device stays busy while the host waits (if it waits).
class Readback {
 public:
  void queue(const at::Tensor& values, int64_t step) {
    if (!host_.defined() || host_.numel() != values.numel() || host_.scalar_type() != values.scalar_type())
      host_ = at::empty({values.numel()}, values.options().device(at::kCPU).pinned_memory(true));
    host_.copy_(values, /*non_blocking=*/true);
    const c10::Device device = values.device();
    if (!event_ || event_->device_type() != device.type()) event_.emplace(device.type());
    event_->record(c10::impl::VirtualGuardImpl(device.type()).getStream(device));
    step_ = step;
    pending_ = true;
  }
  bool pending() const { return pending_; }
  int64_t step() const { return step_; }
  // Valid until the next queue().
  const at::Tensor& take() {
    event_->synchronize();
    pending_ = false;
    return host_;
  }

 private:
  at::Tensor host_;
  std::optional<c10::Event> event_;
  int64_t step_ = -1;
  bool pending_ = false;
};

// One fused multi-tensor norm per dtype, stacked into `out` (float, on the tensors' device) in
// the order of `tensors`. The usual model has one dtype: one norm and one stack.
void fused_norms(const std::vector<at::Tensor>& tensors, const at::Scalar& ord, at::Tensor& out);

// The caching allocator's allocated bytes on `device` (throws c10::Error without statistics).
int64_t device_allocated_bytes(const c10::Device& device);

}  // namespace trainwreck::detail
