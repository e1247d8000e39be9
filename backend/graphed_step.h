#pragma once
// A training step captured once as a CUDA graph and replayed for every later step: the same
// kernels on the same memory, launched with one call instead of one per kernel. A thousand-layer
// net of width 32 is bound by kernel launches, not arithmetic (about 10,000 launches a step);
// replaying its step is what torch.cuda.graphs' whole-network capture does for such models.
//
// The step must not read anything back to the host and must keep its shapes: the batch is copied
// into static tensors before each replay, and the returned loss lives in the graph's memory.
#include <functional>
#include <memory>
#include <string>

#include "backend/recipe.h"
#include "backend/torch_includes.h"

namespace tw {

// Why a recipe's step cannot be replayed as a graph, or "" when it can. The step must be
// the plain one: no guard, loop hook, clipping, accumulation or autocast, since those read
// values back to the host or change the work between steps; SGD only (Adam's bias correction
// is a host-side step count).
std::string graph_ineligible_reason(const Recipe& r);

// Keeps the current thread on one side stream (a graph cannot be captured on the default
// stream) from construction to destruction, waiting for the device at both ends. A no-op
// without CUDA.
class SideStream {
 public:
  explicit SideStream(const c10::Device& device);
  ~SideStream();
  SideStream(const SideStream&) = delete;
  SideStream& operator=(const SideStream&) = delete;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

class GraphedStep {
 public:
  // body(x, y) runs one step on the given batch and returns its loss (detached). Captured with
  // copies of x and y as the static inputs; throws c10::Error when the capture fails (the stream
  // has then left capture mode and eager steps can go on).
  using Body = std::function<at::Tensor(const at::Tensor& x, const at::Tensor& y)>;
  static std::unique_ptr<GraphedStep> capture(const Body& body, const at::Tensor& x, const at::Tensor& y);
  ~GraphedStep();

  // Copies the batch into the static inputs and replays the step; returns the static loss.
  at::Tensor run(const at::Tensor& x, const at::Tensor& y);

 private:
  GraphedStep();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tw
