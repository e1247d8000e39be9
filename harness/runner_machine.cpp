// What the machine offers the runner's cells (runner.h): its memory, and a free local port.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <string>

#include "harness/runner.h"

namespace tw {

namespace {
// The smallest memory limit on the way from `leaf` up to `root` (cgroups nest), in MiB; 0: none.
long long cgroup_limit_mb(const std::string& root, std::string leaf, const char* file) {
  while (!leaf.empty() && (leaf.back() == '\n' || leaf.back() == '/')) leaf.pop_back();
  long long mb = 0;
  for (std::string rel = leaf;; rel = rel.substr(0, rel.rfind('/'))) {
    if (std::FILE* f = std::fopen((root + rel + "/" + file).c_str(), "r")) {
      unsigned long long limit = 0;  // "max" (v2) does not scan: no limit
      if (std::fscanf(f, "%llu", &limit) == 1 && limit > 0 && limit < (1ULL << 62)) {
        const long long limit_mb = static_cast<long long>(limit >> 20);
        if (mb == 0 || limit_mb < mb) mb = limit_mb;
      }
      std::fclose(f);
    }
    if (rel.empty()) break;
  }
  return mb;
}
}  // namespace

long long machine_memory_mb() {
  const long pages = sysconf(_SC_PHYS_PAGES);
  const long page_size = sysconf(_SC_PAGE_SIZE);
  long long mb = pages > 0 && page_size > 0 ? (static_cast<long long>(pages) * page_size) >> 20 : 0;
  // A container's limit is what a cell can really have: cgroup v2 ("0::/path") or v1's memory
  // controller ("N:memory:/path").
  if (std::FILE* f = std::fopen("/proc/self/cgroup", "r")) {
    char line[4096];
    while (std::fgets(line, sizeof line, f)) {
      const std::string l = line;
      long long limit = 0;
      if (l.rfind("0::", 0) == 0) {
        limit = cgroup_limit_mb("/sys/fs/cgroup", l.substr(3), "memory.max");
      } else if (const auto at = l.find(":memory:"); at != std::string::npos) {
        limit = cgroup_limit_mb("/sys/fs/cgroup/memory", l.substr(at + 8), "memory.limit_in_bytes");
      }
      if (limit > 0 && (mb == 0 || limit < mb)) mb = limit;
    }
    std::fclose(f);
  }
  return mb;
}

int free_local_port() {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return 29500;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  int port = 29500;
  socklen_t len = sizeof addr;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0)
    port = ntohs(addr.sin_port);
  close(fd);
  return port;
}

}  // namespace tw
