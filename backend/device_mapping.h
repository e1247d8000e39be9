#pragma once
// Rank -> GPU mapping, checked before a process group exists. Two NCCL ranks on one GPU fail at
// communicator creation ("Duplicate GPU detected"); a rank mapped past the device count fails
// when it first touches its device, while its peers wait for it.
#include <chrono>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace c10d {
class Store;
}

namespace tw {

// One rank's claim to a GPU, as published to the other ranks.
struct DeviceClaim {
  int rank = 0;
  std::string host;
  int index = 0;                // the CUDA ordinal the rank maps to
  int device_count = 0;         // ordinals its process sees
  std::string uuid;             // the GPU's UUID, when the ordinal exists
  std::string visible_devices;  // CUDA_VISIBLE_DEVICES as the rank saw it ("" when unset)

  std::string describe() const;  // "rank 1 -> cuda:1 on host h (1 device visible)"
  nlohmann::json to_json() const;
  static DeviceClaim from_json(const nlohmann::json& j);
};

// "" when every rank maps to a distinct, existing GPU; otherwise a diagnosis naming the ranks.
std::string check_device_mapping(const std::vector<DeviceClaim>& claims);

// This process's claim. Queries CUDA for the device count and, when the ordinal exists, its UUID.
DeviceClaim local_device_claim(int rank, int index);

// Exchanges the ranks' claims through the store and throws DistributedStop (guard
// "device_mapping_preflight") naming the offending ranks when the mapping is wrong.
void device_mapping_preflight(c10d::Store& store, int rank, int world, int index, std::chrono::milliseconds timeout);

}  // namespace tw
