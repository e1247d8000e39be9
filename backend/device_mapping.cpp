#include "backend/device_mapping.h"

#include <torch/cuda.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

#include "backend/collective.h"

#ifdef TRAINWRECK_WITH_CUDA
#include <ATen/cuda/CUDAContext.h>
#endif

namespace tw {
using nlohmann::json;

std::string DeviceClaim::describe() const {
  std::string s = "rank " + std::to_string(rank) + " -> cuda:" + std::to_string(index);
  if (!uuid.empty()) s += " (" + uuid + ")";
  s += " on host " + host + " (" + std::to_string(device_count) + " device" + (device_count == 1 ? "" : "s") +
       " visible";
  if (!visible_devices.empty()) s += ", CUDA_VISIBLE_DEVICES=" + visible_devices;
  return s + ")";
}

json DeviceClaim::to_json() const {
  return {{"rank", rank}, {"host", host}, {"index", index}, {"device_count", device_count}, {"uuid", uuid},
          {"visible_devices", visible_devices}};
}

DeviceClaim DeviceClaim::from_json(const json& j) {
  DeviceClaim c;
  c.rank = j.at("rank").get<int>();
  c.host = j.at("host").get<std::string>();
  c.index = j.at("index").get<int>();
  c.device_count = j.at("device_count").get<int>();
  c.uuid = j.value("uuid", "");
  c.visible_devices = j.value("visible_devices", "");
  return c;
}

namespace {
bool exists(const DeviceClaim& c) { return c.index >= 0 && c.index < c.device_count; }
}  // namespace

std::string check_device_mapping(const std::vector<DeviceClaim>& claims) {
  std::string problems;
  auto add = [&](const std::string& p) { problems += (problems.empty() ? "" : "; ") + p; };
  for (const auto& c : claims)
    if (!exists(c)) add(c.describe() + ": no such device");
  for (std::size_t i = 0; i < claims.size(); ++i)
    for (std::size_t j = i + 1; j < claims.size(); ++j) {
      const DeviceClaim &a = claims[i], &b = claims[j];
      if (a.host != b.host) continue;
      // The UUID sees through differing CUDA_VISIBLE_DEVICES; the ordinal is all there is otherwise.
      const bool same = !a.uuid.empty() && !b.uuid.empty() ? a.uuid == b.uuid
                                                           : a.index == b.index && a.visible_devices == b.visible_devices;
      if (same && exists(a) && exists(b))
        add("rank " + std::to_string(a.rank) + " and rank " + std::to_string(b.rank) + " share one GPU (" +
            a.describe() + "; " + b.describe() + ")");
    }
  return problems;
}

DeviceClaim local_device_claim(int rank, int index) {
  DeviceClaim c;
  c.rank = rank;
  c.index = index;
  char host[256] = {0};
  if (gethostname(host, sizeof host - 1) == 0) c.host = host;
  const char* visible = std::getenv("CUDA_VISIBLE_DEVICES");
  c.visible_devices = visible ? visible : "";
  c.device_count = static_cast<int>(torch::cuda::device_count());
#ifdef TRAINWRECK_WITH_CUDA
  if (index >= 0 && index < c.device_count) {
    const cudaDeviceProp* prop = at::cuda::getDeviceProperties(static_cast<c10::DeviceIndex>(index));
    const auto* b = reinterpret_cast<const unsigned char*>(prop->uuid.bytes);
    char text[64];
    std::snprintf(text, sizeof text, "GPU-%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
                  b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
    c.uuid = text;
  }
#endif
  return c;
}

void device_mapping_preflight(c10d::Store& store, int rank, int world, int index, std::chrono::milliseconds timeout) {
  const DeviceClaim mine = local_device_claim(rank, index);
  const std::vector<std::string> values =
      store_all_gather(store, "preflight/device", mine.to_json().dump(), rank, world, timeout, "the device-mapping preflight");
  std::vector<DeviceClaim> claims;
  json all = json::array();
  for (const auto& v : values) {
    claims.push_back(DeviceClaim::from_json(json::parse(v)));
    all.push_back(claims.back().to_json());
  }
  const std::string problems = check_device_mapping(claims);
  if (!problems.empty())
    throw DistributedStop("device_mapping_preflight", "wrong rank-to-GPU mapping: " + problems,
                          {{"rank", rank}, {"claims", all}});
}

}  // namespace tw
