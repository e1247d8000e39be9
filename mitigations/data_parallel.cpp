// The article's remedy for memory limits: distributed training. Two ranks train as
// DistributedDataParallel does (Gloo on the CPU, NCCL on CUDA), each on half of every batch, so the
// effective batch is unchanged while each process holds half the activations; DDP's Reducer
// averages the gradients.
#include "backend/registry.h"

namespace tw {
namespace {
struct DataParallel : Mitigation {};
}  // namespace
TW_REGISTER_MITIGATION(DataParallel, {"data_parallel", "DDP over two ranks, half of every batch each",
                                      "hyper-parameters", {}, {"gpu_per_rank"}, /*ranks=*/2});
}  // namespace tw
