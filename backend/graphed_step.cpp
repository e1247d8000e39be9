#include "backend/graphed_step.h"

#include <c10/util/Exception.h>

#ifdef TRAINWRECK_WITH_CUDA
#include <ATen/cuda/CUDAGraph.h>
#include <c10/cuda/CUDAFunctions.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#endif

#include "backend/loop_hooks.h"

namespace tw {

std::string graph_ineligible_reason(const Recipe& r) {
  if (!r.guards.empty()) return "a guard reads values back between steps";
  if (r.optim.kind != OptimizerKind::kSgd) return "only SGD's step is captured (Adam counts its steps on the host)";
  if (r.optim.accumulation_steps != 1) return "gradient accumulation runs several micro-batches";
  if (r.optim.autocast != Autocast::kNone) return "mixed precision scales the loss on the host";
  if (r.optim.clip_norm > 0) return "gradient clipping reads the norm back";
  if (!r.hooks.empty()) return "a fault's or remedy's hook runs inside the step";
  if (r.checks.dtype_check || r.checks.lr_range_test || r.optim.auto_batch_size || r.checks.gradcheck)
    return "a procedure runs around the step";
  return "";
}

#ifdef TRAINWRECK_WITH_CUDA

struct SideStream::Impl {
  explicit Impl(const c10::Device& device)
      : guard(c10::cuda::getStreamFromPool(/*isHighPriority=*/false, device.index() < 0 ? c10::cuda::current_device()
                                                                                          : device.index())) {}
  c10::cuda::CUDAStreamGuard guard;
};

SideStream::SideStream(const c10::Device& device) {
  if (!device.is_cuda()) return;
  c10::cuda::device_synchronize();  // work queued on the default stream is done before the switch
  impl_ = std::make_unique<Impl>(device);
}

SideStream::~SideStream() {
  if (!impl_) return;
  try {
    c10::cuda::device_synchronize();
  } catch (...) {
    // A sticky CUDA error is reported by the step that met it; the stream is given back anyway.
  }
}

struct GraphedStep::Impl {
  at::cuda::CUDAGraph graph;
  at::Tensor x, y, loss;
};

GraphedStep::GraphedStep() : impl_(std::make_unique<Impl>()) {}
GraphedStep::~GraphedStep() = default;

std::unique_ptr<GraphedStep> GraphedStep::capture(const Body& body, const at::Tensor& x, const at::Tensor& y) {
  TORCH_CHECK(x.is_cuda(), "a CUDA graph needs CUDA tensors");
  std::unique_ptr<GraphedStep> step(new GraphedStep());
  Impl& g = *step->impl_;
  g.x = x.clone();
  g.y = y.clone();
  c10::cuda::device_synchronize();
  g.graph.capture_begin();
  try {
    g.loss = body(g.x, g.y);
  } catch (...) {
    try {
      g.graph.capture_end();  // leaves capture mode so that eager steps can run
    } catch (...) {
    }
    throw;
  }
  g.graph.capture_end();
  return step;
}

at::Tensor GraphedStep::run(const at::Tensor& x, const at::Tensor& y) {
  Impl& g = *impl_;
  g.x.copy_(x);
  g.y.copy_(y);
  g.graph.replay();
  return g.loss;
}

#else

struct SideStream::Impl {};
SideStream::SideStream(const c10::Device&) {}
SideStream::~SideStream() = default;

struct GraphedStep::Impl {};
GraphedStep::GraphedStep() : impl_(std::make_unique<Impl>()) {}
GraphedStep::~GraphedStep() = default;

std::unique_ptr<GraphedStep> GraphedStep::capture(const Body&, const at::Tensor&, const at::Tensor&) {
  TORCH_CHECK(false, "this build has no CUDA: a step cannot be captured as a CUDA graph");
}

at::Tensor GraphedStep::run(const at::Tensor&, const at::Tensor&) {
  TORCH_CHECK(false, "this build has no CUDA: there is no graph to replay");
}

#endif

}  // namespace tw
