#include "backend/collective.h"
#include "backend/registry.h"

#include <c10/util/Exception.h>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <sstream>

namespace tw {
using nlohmann::json;
using std::chrono::milliseconds;

namespace {

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

}  // namespace

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

milliseconds to_ms(double seconds) { return milliseconds(static_cast<int64_t>(std::llround(seconds * 1000.0))); }

RendezvousAddress rendezvous_address() {
  const char* host = std::getenv("MASTER_ADDR");
  const char* port = std::getenv("MASTER_PORT");
  if (!port || !*port)
    throw std::runtime_error("MASTER_PORT is not set: distributed cells need the harness's (or a launcher's) environment");
  return {host && *host ? host : "127.0.0.1", std::stoi(port)};
}

bool is_loopback_host(const std::string& host) {
  if (host == "localhost") return true;
  in_addr v4{};
  if (inet_pton(AF_INET, host.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
  in6_addr v6{};
  return inet_pton(AF_INET6, host.c_str(), &v6) == 1 && IN6_IS_ADDR_LOOPBACK(&v6);
}

c10::intrusive_ptr<c10d::Store> rendezvous(const std::string& host, int port, int rank, int world,
                                           milliseconds timeout) {
  // The Python interpreter ignores SIGPIPE, so under torch.distributed a write to a peer that
  // already closed its socket (it stopped on an error of its own) is an error of this rank, not
  // a signal that kills it. The same here, for every distributed cell.
  std::signal(SIGPIPE, SIG_IGN);
  c10d::TCPStoreOptions options;
  options.port = static_cast<std::uint16_t>(port);
  // Under torchrun the agent already hosts the store on MASTER_PORT and every worker is its
  // client, with keys under the attempt's prefix, as torch.distributed's env:// does.
  const char* agent_store = std::getenv("TORCHELASTIC_USE_AGENT_STORE");
  if (agent_store && std::string(agent_store) == "True") {
    options.isServer = false;
    options.timeout = timeout;
    const char* attempt = std::getenv("TORCHELASTIC_RESTART_COUNT");
    auto client = c10::make_intrusive<c10d::TCPStore>(host, options);
    return c10::make_intrusive<c10d::PrefixStore>(
        std::string("/worker/attempt_") + (attempt && *attempt ? attempt : "0"), std::move(client));
  }
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

}  // namespace tw
