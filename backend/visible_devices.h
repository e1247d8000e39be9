#pragma once
// The GPUs a machine has, read without initializing CUDA (so a cell may still fork to ask
// nvidia-smi), and a check of CUDA_VISIBLE_DEVICES against them.
#include <string>
#include <vector>

namespace tw {

struct GpuInventory {
  int count = 0;
  std::vector<std::string> uuids;  // "GPU-..." where known
  std::string source;              // where the count came from
};

// `nvidia-smi -L` (what the driver shows this container), else /proc/driver/nvidia/gpus.
// Forks: call it before anything initializes CUDA in this process.
GpuInventory probe_gpus();

// Parses `nvidia-smi -L` output ("GPU 0: NVIDIA H100 ... (UUID: GPU-...)").
GpuInventory parse_nvidia_smi_list(const std::string& text);

// Empty when every entry of `value` names a present GPU once; otherwise what is wrong, in words.
// Entries are ordinals or (prefixes of) GPU-/MIG- UUIDs; CUDA ignores everything from the first
// invalid entry on.
std::string check_visible_devices(const std::string& value, const GpuInventory& gpus);

}  // namespace tw
