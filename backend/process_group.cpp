#include "backend/process_group.h"

#include <ATen/ATen.h>
#include <c10/util/Exception.h>
#include <torch/csrc/distributed/c10d/FlightRecorder.hpp>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroup.hpp>

#include <cstdlib>
#include <regex>

#include "backend/registry.h"

#ifdef TRAINWRECK_WITH_GLOO
// c10d declares its Gloo backend only under USE_C10D_GLOO, which LibTorch's CMake config does
// not export; the headers of Gloo itself come from the system (Debian's libgloo-dev).
#ifndef USE_C10D_GLOO
#define USE_C10D_GLOO
#endif
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupWrapper.hpp>
#endif

#ifdef TRAINWRECK_WITH_NCCL
#ifndef USE_C10D_NCCL
#define USE_C10D_NCCL
#endif
#include <c10/cuda/CUDAFunctions.h>
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

namespace tw {
using nlohmann::json;
using std::chrono::milliseconds;
using BackendType = c10d::ProcessGroup::BackendType;

namespace {

bool contains(const std::string& s, const char* what) { return s.find(what) != std::string::npos; }

// The first `limit` characters of `message`, for evidence that must stay one screen.
std::string clipped(const std::string& message, std::size_t limit = 1500) {
  return message.size() <= limit ? message : message.substr(0, limit) + " ...";
}

#ifdef TRAINWRECK_WITH_GLOO
// A Gloo backend on its own prefix of the store. Single-host cells bind loopback (as the store
// does); a cell that joined an external rendezvous takes Gloo's default device, which resolves
// this host's name or follows GLOO_SOCKET_IFNAME, as torch.distributed does.
c10::intrusive_ptr<c10d::Backend> make_gloo(const c10::intrusive_ptr<c10d::Store>& store, const std::string& prefix,
                                            int rank, int world, milliseconds timeout, const std::string& host) {
  auto options = c10d::ProcessGroupGloo::Options::create(timeout);
  const bool loopback = is_loopback_host(host);
  options->devices.push_back(loopback ? c10d::ProcessGroupGloo::createDeviceForHostname(
                                            host == "localhost" ? "127.0.0.1" : host)
                                      : c10d::ProcessGroupGloo::createDefaultDevice());
  auto backend = c10::make_intrusive<c10d::ProcessGroupGloo>(c10::make_intrusive<c10d::PrefixStore>(prefix, store),
                                                             rank, world, options);
  backend->setSequenceNumberForGroup();
  return backend;
}
#endif

#ifdef TRAINWRECK_WITH_NCCL
c10::intrusive_ptr<c10d::Backend> make_nccl(const c10::intrusive_ptr<c10d::Store>& store, int rank, int world,
                                            c10::Device device, milliseconds timeout, const std::string& host) {
  // NCCL's bootstrap and proxy listen on the interface NCCL_SOCKET_IFNAME names, by default the
  // first one that is not loopback, reachable from other machines: a single-host group keeps
  // them on lo ("=": that name exactly), as its store and Gloo are. A user's setting wins.
  if (is_loopback_host(host)) setenv("NCCL_SOCKET_IFNAME", "=lo", /*overwrite=*/0);
  // A collective that runs past its timeout raises in wait() on the host (instead of the stream
  // waiting forever), and the communicator is torn down rather than the process. A user's
  // settings win.
  setenv("TORCH_NCCL_BLOCKING_WAIT", "1", /*overwrite=*/0);
  setenv("TORCH_NCCL_ASYNC_ERROR_HANDLING", "2", /*overwrite=*/0);
  // Creating the communicator waits for every rank; nonblocking, it gives up after this many
  // seconds (a rank that died on its device), so the collective timeout bounds every wait.
  const long long seconds = std::max<long long>(1, (timeout.count() + 999) / 1000);
  setenv("TORCH_NCCL_NONBLOCKING_TIMEOUT", std::to_string(seconds).c_str(), /*overwrite=*/0);
  c10::cuda::set_device(device.index());
  auto options = c10d::ProcessGroupNCCL::Options::create();
  options->timeout = timeout;
#ifdef NCCL_HAS_CONFIG
  options->config.blocking = 0;
#endif
  auto backend = c10::make_intrusive<c10d::ProcessGroupNCCL>(c10::make_intrusive<c10d::PrefixStore>("nccl", store),
                                                             rank, world, options);
  backend->setSequenceNumberForGroup();
  return backend;
}
#endif

c10::intrusive_ptr<c10d::Backend> make_device_backend(const c10::intrusive_ptr<c10d::Store>& store, int rank,
                                                      int world, c10::Device device, const GroupSettings& s) {
  if (device.is_cuda()) {
#ifdef TRAINWRECK_WITH_NCCL
    return make_nccl(store, rank, world, device, s.timeout, s.host);
#else
    throw std::runtime_error("this LibTorch build has no NCCL, so no ProcessGroupNCCL");
#endif
  }
#ifdef TRAINWRECK_WITH_GLOO
  return make_gloo(store, "gloo", rank, world, s.timeout, s.host);
#else
  throw std::runtime_error(gloo_unavailable_reason());
#endif
}

// "TensorShape=[64, 16]" of each fingerprint ProcessGroupWrapper printed, in order.
json fingerprint_shapes(const std::string& message) {
  static const std::regex shape(R"(Rank (\d+) is running collective: CollectiveFingerPrint\(SequenceNumber=(\d+), OpType=(\w+), TensorShape=\[([^\]]*)\])");
  json out = json::array();
  for (auto it = std::sregex_iterator(message.begin(), message.end(), shape); it != std::sregex_iterator(); ++it)
    out.push_back({{"rank", std::stoi((*it)[1])}, {"sequence", std::stoll((*it)[2])}, {"op", (*it)[3]},
                   {"shape", "[" + (*it)[4].str() + "]"}});
  return out;
}

// "Rank 1 failed to pass monitoredBarrier" / "Ranks 1, 3 failed to pass monitoredBarrier".
json absent_ranks(const std::string& message) {
  static const std::regex ranks(R"(Ranks? ([\d, ]+) failed to pass monitoredBarrier)");
  static const std::regex number(R"(\d+)");
  json out = json::array();
  std::smatch m;
  if (std::regex_search(message, m, ranks)) {
    const std::string list = m[1];
    for (auto it = std::sregex_iterator(list.begin(), list.end(), number); it != std::sregex_iterator(); ++it)
      out.push_back(std::stoi(it->str()));
  }
  return out;
}

}  // namespace

bool gloo_available() {
#ifdef TRAINWRECK_WITH_GLOO
  return true;
#else
  return false;
#endif
}

std::string gloo_unavailable_reason() {
#ifdef TRAINWRECK_WITH_GLOO
  return "";
#elif defined(TRAINWRECK_GLOO_OFF_REASON)
  return TRAINWRECK_GLOO_OFF_REASON;
#else
  return "c10d's Gloo backend is not in this build (its headers, Debian's libgloo-dev, were not found)";
#endif
}

DistributedGroup make_group(c10::intrusive_ptr<c10d::Store> store, int rank, int world, c10::Device device,
                            const GroupSettings& s) {
  DistributedGroup g;
  g.rank = rank;
  g.world = world;
  g.timeout = s.timeout;
  c10::intrusive_ptr<c10d::Backend> backend = make_device_backend(store, rank, world, device, s);
  g.name = device.is_cuda() ? "nccl" : "gloo";
  if (s.detail || s.monitored_barrier) {
#ifdef TRAINWRECK_WITH_GLOO
    // As torch.distributed: the wrapper's helper is a Gloo group on a prefix of its own.
    // monitoredBarrier is Gloo's: the CPU backend itself, on CUDA the helper. A CPU group with
    // only the barrier makes no helper: one group fewer to connect before the barrier, whose
    // timeout counts from the first rank to arrive.
    c10::intrusive_ptr<c10d::Backend> helper;
    if (s.detail || device.is_cuda()) helper = make_gloo(store, "gloo_helper", rank, world, s.timeout, s.host);
    g.barrier = device.is_cuda() ? helper : backend;
    if (s.detail) {
      backend = c10::make_intrusive<c10d::ProcessGroupWrapper>(backend, helper);
      g.name += "+detail";
    }
#else
    throw std::runtime_error("ProcessGroupWrapper and monitoredBarrier run on Gloo: " + gloo_unavailable_reason());
#endif
  }
  g.backend = backend;
  g.group = c10::make_intrusive<c10d::ProcessGroup>(store, rank, world);
  const c10::DeviceType type = device.is_cuda() ? c10::DeviceType::CUDA : c10::DeviceType::CPU;
  const BackendType kind = device.is_cuda() ? BackendType::NCCL : BackendType::GLOO;
  g.group->setBackend(type, kind, backend);
  g.group->setDefaultBackend(kind);
  return g;
}

void allreduce_sum(DistributedGroup& g, at::Tensor& tensor) {
  std::vector<at::Tensor> tensors{tensor};
  g.group->allreduce(tensors)->wait();
}

void monitored_barrier(DistributedGroup& g, const std::string& where, std::chrono::milliseconds timeout) {
  TORCH_CHECK(g.barrier, "monitored_barrier needs a group made with monitored_barrier set");
  c10d::BarrierOptions options;
  options.timeout = timeout;
  try {
    g.barrier->monitoredBarrier(options, /*waitAllRanks=*/true);
  } catch (const c10::Error& e) {
    const std::string message = e.what_without_backtrace();
    const json absent = absent_ranks(message);
    if (absent.empty()) throw;
    throw DistributedStop("monitored_barrier",
                          "rank " + std::to_string(g.rank) + " at the monitored barrier " + where + ": " +
                              first_line(message),
                          {{"rank", g.rank}, {"absent_ranks", absent}, {"where", where},
                           {"timeout_seconds", static_cast<double>(timeout.count()) / 1000.0}});
  }
}

void group_barrier(DistributedGroup& g) { g.group->barrier()->wait(); }

void close_group(DistributedGroup& g, bool failed) noexcept {
  if (!g.group) return;
  try {
    if (failed) g.group->abort();
    else g.group->shutdown();
  } catch (const std::exception&) {
  }
}

void enable_flight_recorder() {
  setenv("TORCH_FR_BUFFER_SIZE", "2000", /*overwrite=*/0);
  setenv("TORCH_NCCL_TRACE_BUFFER_SIZE", "2000", /*overwrite=*/0);
}

json flight_recorder_summary(c10::Device device) {
  std::string dump;
#ifdef TRAINWRECK_WITH_NCCL
  if (device.is_cuda()) dump = c10d::dump_nccl_trace_json(/*includeCollectives=*/true, /*onlyActive=*/false);
#endif
  if (!device.is_cuda()) dump = c10d::dump_fr_trace_json(/*includeCollectives=*/true, /*onlyActive=*/false);
  const json trace = json::parse(dump, nullptr, /*allow_exceptions=*/false);
  if (trace.is_discarded() || !trace.contains("entries") || trace["entries"].empty()) return nullptr;
  auto brief = [](const json& e) {
    return json{{"sequence", e.value("collective_seq_id", -1LL)}, {"op", e.value("profiling_name", "")},
                {"state", e.value("state", "")}, {"input_sizes", e.value("input_sizes", json::array())}};
  };
  // Gloo's entries stay "scheduled" (it records no start or completion, even with collective
  // timing on), so the last entries are the collectives a stuck rank was in.
  const json& entries = trace["entries"];
  json out = {{"entries", entries.size()}, {"states", json::object()}, {"last", json::array()}};
  for (const json& e : entries) {
    const std::string state = e.value("state", "unknown");
    out["states"][state] = out["states"].value(state, 0) + 1;
  }
  for (std::size_t i = entries.size() > 3 ? entries.size() - 3 : 0; i < entries.size(); ++i)
    out["last"].push_back(brief(entries[i]));
  return out;
}

void rethrow_as_diagnosis(const DistributedGroup& g) {
  try {
    throw;
  } catch (const DistributedStop&) {
    throw;
  } catch (const std::exception& e) {
    // c10d raises c10::Error; Gloo's own errors (gloo::IoException: timeouts, lost peers) come
    // through ProcessGroupGloo's work unchanged.
    const auto* c10_error = dynamic_cast<const c10::Error*>(&e);
    const std::string message = c10_error ? c10_error->what_without_backtrace() : e.what();
    const json base = {{"rank", g.rank}, {"backend", g.name}};
    if (contains(message, "Detected mismatch between collectives on ranks")) {
      json d = base;
      d["fingerprints"] = fingerprint_shapes(message);
      d["message"] = clipped(message);
      throw CollectiveMismatch("collective_fingerprint", first_line(message), d);
    }
    if (contains(message, "DDP expects same model across all ranks") ||
        contains(message, "appears not to match sizes of the same param in process")) {
      json d = base;
      d["message"] = clipped(message);
      throw DistributedStop("ddp_model_check", first_line(message), d);
    }
    if (contains(message, "Expected to have finished reduction in the prior iteration")) {
      json d = base;
      static const std::regex unused(R"(Parameter indices which did not receive grad for rank (\d+): ([\d ]+))");
      std::smatch m;
      if (std::regex_search(message, m, unused)) {
        d["unused_on_rank"] = std::stoi(m[1]);
        d["unused_parameter_indices"] = m[2].str();
      }
      d["message"] = clipped(message);
      throw DistributedStop("ddp_unused_parameters", first_line(message), d);
    }
    // "NCCL timeout in: NCCLUtils.cpp": NCCL's communicator setup waited out the group's timeout
    // for a rank that never joined (seen on the H200 when the peer had failed on its device).
    if (contains(message, "Timed out") || contains(message, "timed out") || contains(message, "Timeout") ||
        contains(message, "NCCL timeout")) {
      json d = base;
      d["timeout_seconds"] = static_cast<double>(g.timeout.count()) / 1000.0;
      d["message"] = clipped(message);
      throw CollectiveTimeout("collective_timeout",
                              "rank " + std::to_string(g.rank) + ": a " + g.name + " collective ran past its timeout: " +
                                  first_line(message),
                              d);
    }
    throw;
  }
}

}  // namespace tw
