#include "kernel/collective.h"
#include "kernel/registry.h"

#include <ATen/ATen.h>
#include <c10/util/Exception.h>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <sstream>

namespace tw {
using nlohmann::json;
using std::chrono::milliseconds;

namespace {

std::string dtype_name(at::ScalarType t) {
  switch (t) {
    case at::kFloat: return "float32";
    case at::kDouble: return "float64";
    case at::kHalf: return "float16";
    case at::kBFloat16: return "bfloat16";
    case at::kLong: return "int64";
    case at::kInt: return "int32";
    default: return c10::toString(t);
  }
}

double seconds(milliseconds ms) { return static_cast<double>(ms.count()) / 1000.0; }

std::string seconds_text(milliseconds ms) {
  std::ostringstream s;
  s << seconds(ms) << " s";
  return s.str();
}


std::vector<uint8_t> to_bytes(const std::string& s) { return {s.begin(), s.end()}; }
std::string from_bytes(const std::vector<uint8_t>& b) { return {b.begin(), b.end()}; }

// Waits for `keys` written by `peer` (-1: any other rank); a wait that runs out becomes
// CollectiveTimeout.
void wait_for_peer(c10d::Store& store, const std::vector<std::string>& keys, milliseconds timeout, int rank, int peer,
                   const std::string& what, json details) {
  try {
    store.wait(keys, timeout);
  } catch (const c10::DistStoreError& e) {
    details["rank"] = rank;
    if (peer >= 0) details["waiting_for_rank"] = peer;
    details["waited_seconds"] = seconds(timeout);
    details["waited_for_keys"] = keys;
    details["store_message"] = first_line(e.what_without_backtrace());
    const std::string whom = peer >= 0 ? "rank " + std::to_string(peer) : "the other ranks";
    throw CollectiveTimeout("collective_timeout",
                            "rank " + std::to_string(rank) + " waited " + seconds_text(timeout) + " for " + whom + " in " +
                                what + ": nothing matching arrived",
                            std::move(details));
  } catch (const c10::DistNetworkError& e) {
    // The store lives in rank 0: a lost connection means rank 0 is gone.
    throw std::runtime_error("rank " + std::to_string(rank) + " lost the store connection in " + what + ": " +
                             first_line(e.what_without_backtrace()));
  }
}

class StoreCollective : public Collective {
 public:
  StoreCollective(c10::intrusive_ptr<c10d::Store> store, int rank, int world, milliseconds timeout, int64_t chunk)
      : store_(std::move(store)), rank_(rank), world_(world), timeout_(timeout), chunk_(chunk) {
    TORCH_CHECK(chunk_ > 0, "chunk size must be positive");
  }

  std::string backend() const override { return "store"; }

  void allreduce_sum(at::Tensor& tensor, const std::string& tag) override {
    TORCH_CHECK(tensor.device().is_cpu() && tensor.scalar_type() == at::kFloat,
                "the store all-reduce takes float32 CPU tensors, got ", tensor.toString());
    const int64_t seq = sequence_++;
    at::Tensor flat = tensor.contiguous().view(-1);
    const int64_t n = flat.numel();
    // Keys carry offset and length: a peer with another size writes keys nobody reads.
    auto key = [&](int r, int64_t off, int64_t len) {
      return "ar/" + std::to_string(seq) + "/" + std::to_string(r) + "/" + std::to_string(off) + "+" +
             std::to_string(len);
    };
    std::vector<std::pair<int64_t, int64_t>> chunks;  // (offset, length)
    for (int64_t off = 0; off < n; off += chunk_) chunks.emplace_back(off, std::min(chunk_, n - off));
    if (n == 0) chunks.emplace_back(0, 0);
    std::vector<std::string> mine;
    std::vector<std::vector<uint8_t>> values;
    const auto* data = reinterpret_cast<const uint8_t*>(flat.data_ptr<float>());
    for (const auto& [off, len] : chunks) {
      mine.push_back(key(rank_, off, len));
      values.emplace_back(data + off * sizeof(float), data + (off + len) * sizeof(float));
    }
    store_->multiSet(mine, values);

    // Summed in rank order on every rank, so all ranks get the same bits.
    at::Tensor sum = at::zeros_like(flat);
    for (int r = 0; r < world_; ++r) {
      if (r == rank_) {
        sum.add_(flat);
        continue;
      }
      std::vector<std::string> keys;
      for (const auto& [off, len] : chunks) keys.push_back(key(r, off, len));
      wait_for_peer(*store_, keys, timeout_, rank_, r,
                    "all-reduce #" + std::to_string(seq) + " of " + Fingerprint::of("", tensor, seq, tag).describe(),
                    {{"sequence", seq}, {"tag", tag}, {"numel", n}});
      const std::vector<std::vector<uint8_t>> got = store_->multiGet(keys);
      at::Tensor peer = at::empty({n}, flat.options());
      auto* out = reinterpret_cast<uint8_t*>(peer.data_ptr<float>());
      for (std::size_t i = 0; i < chunks.size(); ++i) {
        TORCH_CHECK(got[i].size() == static_cast<std::size_t>(chunks[i].second) * sizeof(float),
                    "store all-reduce: chunk ", keys[i], " has ", got[i].size(), " bytes");
        std::memcpy(out + chunks[i].first * sizeof(float), got[i].data(), got[i].size());
      }
      sum.add_(peer);
    }
    tensor.copy_(sum.view_as(tensor));

    // Every peer has written sequence seq, so it has read what this rank wrote for seq - 1.
    for (const auto& k : previous_) store_->deleteKey(k);
    previous_ = std::move(mine);
  }

 private:
  c10::intrusive_ptr<c10d::Store> store_;
  int rank_, world_;
  milliseconds timeout_;
  int64_t chunk_;
  int64_t sequence_ = 0;
  std::vector<std::string> previous_;
};

class FingerprintCheck : public Collective {
 public:
  FingerprintCheck(std::unique_ptr<Collective> inner, c10::intrusive_ptr<c10d::Store> store, int rank, int world,
                   milliseconds timeout)
      : inner_(std::move(inner)), store_(std::move(store)), rank_(rank), world_(world), timeout_(timeout) {}

  std::string backend() const override { return inner_->backend() + "+fingerprint"; }

  void allreduce_sum(at::Tensor& tensor, const std::string& tag) override {
    const int64_t seq = sequence_++;
    const Fingerprint mine = Fingerprint::of("allreduce_sum", tensor, seq, tag);
    const std::string key = "fp/" + std::to_string(seq);
    const std::vector<std::string> values = store_all_gather(*store_, key, mine.to_json().dump(), rank_, world_, timeout_,
                                                             "the fingerprint exchange before collective #" +
                                                                 std::to_string(seq) + " " + mine.describe());
    std::vector<Fingerprint> all;
    for (const auto& v : values) all.push_back(Fingerprint::from_json(json::parse(v)));
    bool agree = true;
    for (const auto& f : all) agree = agree && f.agrees_with(mine);
    if (!agree) {
      std::string message = "collective #" + std::to_string(seq) + " differs across ranks:";
      json fingerprints = json::array();
      for (int r = 0; r < world_; ++r) {
        const Fingerprint& f = all[static_cast<std::size_t>(r)];
        message += (r == 0 ? " rank " : "; rank ") + std::to_string(r) + " calls " + f.describe();
        json j = f.to_json();
        j["rank"] = r;
        fingerprints.push_back(j);
      }
      throw CollectiveMismatch("collective_fingerprint", message,
                               {{"rank", rank_}, {"sequence", seq}, {"fingerprints", fingerprints}});
    }
    // Every peer has published sequence seq, so it has read this rank's seq - 1.
    if (!previous_.empty()) store_->deleteKey(previous_);
    previous_ = key + "/" + std::to_string(rank_);
    inner_->allreduce_sum(tensor, tag);
  }

 private:
  std::unique_ptr<Collective> inner_;
  c10::intrusive_ptr<c10d::Store> store_;
  int rank_, world_;
  milliseconds timeout_;
  int64_t sequence_ = 0;
  std::string previous_;
};

}  // namespace

bool Fingerprint::agrees_with(const Fingerprint& o) const {
  return op == o.op && dtype == o.dtype && shape == o.shape && sequence == o.sequence;
}

std::string Fingerprint::describe() const {
  std::string s = op.empty() ? "" : op + " ";
  s += dtype + "[";
  for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  s += "]";
  if (!tag.empty()) s += " (" + tag + ")";
  return s;
}

json Fingerprint::to_json() const {
  return {{"op", op}, {"dtype", dtype}, {"shape", shape}, {"sequence", sequence}, {"tag", tag}};
}

Fingerprint Fingerprint::from_json(const json& j) {
  Fingerprint f;
  f.op = j.at("op").get<std::string>();
  f.dtype = j.at("dtype").get<std::string>();
  f.shape = j.at("shape").get<std::vector<int64_t>>();
  f.sequence = j.at("sequence").get<int64_t>();
  f.tag = j.value("tag", "");
  return f;
}

Fingerprint Fingerprint::of(const std::string& op, const at::Tensor& tensor, int64_t sequence, const std::string& tag) {
  Fingerprint f;
  f.op = op;
  f.dtype = dtype_name(tensor.scalar_type());
  f.shape = tensor.sizes().vec();
  f.sequence = sequence;
  f.tag = tag;
  return f;
}

namespace {

// A socket bound to loopback `host` (localhost: 127.0.0.1) and `port`, listening, for rank 0's
// TCPStore to take over (TCPStoreOptions::masterListenFd); the store closes it.
int loopback_listen_socket(const std::string& host, int port) {
  sockaddr_storage address{};
  socklen_t length = 0;
  in6_addr v6{};
  if (inet_pton(AF_INET6, host.c_str(), &v6) == 1) {
    auto* a = reinterpret_cast<sockaddr_in6*>(&address);
    a->sin6_family = AF_INET6;
    a->sin6_addr = v6;
    a->sin6_port = htons(static_cast<std::uint16_t>(port));
    length = sizeof *a;
  } else {
    auto* a = reinterpret_cast<sockaddr_in*>(&address);
    a->sin_family = AF_INET;
    if (inet_pton(AF_INET, host.c_str(), &a->sin_addr) != 1) a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a->sin_port = htons(static_cast<std::uint16_t>(port));
    length = sizeof *a;
  }
  const int fd = socket(address.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    throw std::runtime_error(std::string("rank 0 could not open its rendezvous socket: ") + std::strerror(errno));
  // As c10d's own socket: a port left in TIME_WAIT by an earlier run can be bound again.
  const int on = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
  if (bind(fd, reinterpret_cast<const sockaddr*>(&address), length) != 0 || listen(fd, SOMAXCONN) != 0) {
    const int error = errno;
    close(fd);
    throw std::runtime_error("rank 0 could not listen on " + host + ":" + std::to_string(port) +
                             " for the rendezvous: " + std::strerror(error));
  }
  return fd;
}

}  // namespace

bool is_loopback_host(const std::string& host) {
  if (host == "localhost") return true;
  in_addr v4{};
  if (inet_pton(AF_INET, host.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
  in6_addr v6{};
  return inet_pton(AF_INET6, host.c_str(), &v6) == 1 && IN6_IS_ADDR_LOOPBACK(&v6);
}

c10::intrusive_ptr<c10d::Store> rendezvous(const std::string& host, int port, int rank, int world,
                                           milliseconds timeout) {
  c10d::TCPStoreOptions options;
  options.port = static_cast<std::uint16_t>(port);
  options.isServer = rank == 0;
  options.numWorkers = static_cast<std::size_t>(world);
  options.waitWorkers = true;
  options.timeout = timeout;
  // c10d's server listens on every interface, and the store has no authentication: anyone who
  // reaches the machine could join or write keys. A single-host rendezvous hands it a socket
  // that listens on loopback only.
  if (rank == 0 && is_loopback_host(host)) options.masterListenFd = loopback_listen_socket(host, port);
  const auto start = std::chrono::steady_clock::now();
  try {
    return c10::make_intrusive<c10d::TCPStore>(host, options);
  } catch (const c10::DistError& e) {
    const double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    // Failing early (a port in use, ...) is an error of its own, not a rank that never came.
    if (waited < 0.9 * seconds(timeout)) throw;
    // Rank 0 gave up waiting for the other ranks, or another rank never reached rank 0's store.
    std::ostringstream message;
    message.precision(2);
    message << "rank " << rank << " gave up after " << std::fixed << waited << " s (timeout " << seconds_text(timeout)
            << ") waiting " << (rank == 0 ? "for all " + std::to_string(world) + " ranks to join the rendezvous at "
                                          : std::string("to reach the rendezvous store at "))
            << host << ":" << port << ": " << first_line(e.what_without_backtrace());
    throw CollectiveTimeout("rendezvous_timeout", message.str(),
                            {{"rank", rank}, {"world_size", world}, {"store", host + ":" + std::to_string(port)},
                             {"timeout_seconds", seconds(timeout)}, {"waited_seconds", waited},
                             {"store_message", first_line(e.what_without_backtrace())}});
  }
}

std::vector<std::string> store_all_gather(c10d::Store& store, const std::string& key, const std::string& value, int rank,
                                          int world, milliseconds timeout, const std::string& what) {
  auto rank_key = [&](int r) { return key + "/" + std::to_string(r); };
  store.set(rank_key(rank), to_bytes(value));
  std::vector<std::string> all(static_cast<std::size_t>(world));
  all[static_cast<std::size_t>(rank)] = value;
  for (int r = 0; r < world; ++r) {
    if (r == rank) continue;
    wait_for_peer(store, {rank_key(r)}, timeout, rank, r, what, {{"key", key}});
    all[static_cast<std::size_t>(r)] = from_bytes(store.get(rank_key(r)));
  }
  return all;
}

void store_barrier(c10d::Store& store, const std::string& name, int rank, int world, milliseconds timeout) {
  if (world <= 1) return;
  const std::string all = "barrier/" + name + "/all", gone = "barrier/" + name + "/gone";
  if (store.add("barrier/" + name + "/arrived", 1) == world) store.set(all, to_bytes("1"));
  wait_for_peer(store, {all}, timeout, rank, -1, "barrier " + name, {{"barrier", name}});
  // Rank 0 hosts the store: it leaves only after every other rank got its answer.
  if (rank != 0) {
    if (store.add("barrier/" + name + "/left", 1) == world - 1) store.set(gone, to_bytes("1"));
  } else {
    wait_for_peer(store, {gone}, timeout, rank, -1, "barrier " + name, {{"barrier", name}});
  }
}

std::unique_ptr<Collective> make_store_collective(c10::intrusive_ptr<c10d::Store> store, int rank, int world,
                                                  milliseconds timeout, int64_t chunk_elements) {
  return std::make_unique<StoreCollective>(std::move(store), rank, world, timeout, chunk_elements);
}

std::unique_ptr<Collective> with_fingerprint_check(std::unique_ptr<Collective> inner,
                                                   c10::intrusive_ptr<c10d::Store> store, int rank, int world,
                                                   milliseconds timeout) {
  return std::make_unique<FingerprintCheck>(std::move(inner), std::move(store), rank, world, timeout);
}

}  // namespace tw
