#include "harness/context.h"

#include <signal.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <ctime>
#include <fstream>

#include "harness/process.h"
#include "trainwreck/build_info.h"

#ifndef TRAINWRECK_VERSION
#define TRAINWRECK_VERSION "0.0.0"
#endif

namespace tw {
using nlohmann::json;

namespace {

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("model name", 0) == 0) {
      const auto colon = line.find(':');
      if (colon != std::string::npos) return line.substr(line.find_first_not_of(' ', colon + 1));
    }
  return "unknown";
}

long long mem_total_mb() {
  std::ifstream in("/proc/meminfo");
  std::string key;
  long long kb = 0;
  while (in >> key >> kb) {
    if (key == "MemTotal:") return kb / 1024;
    in.ignore(1 << 10, '\n');
  }
  return 0;
}


}  // namespace

std::string utc_timestamp() {
  const std::time_t t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

json host_context() {
  utsname u{};
  uname(&u);
  // What the binary was built from (recorded at build time), not what the source folder holds now.
  const std::string rev = TRAINWRECK_GIT_REVISION;
  const bool dirty = TRAINWRECK_GIT_DIRTY != 0;
  return {{"trainwreck", TRAINWRECK_VERSION},
          {"git_revision", dirty ? rev + "-dirty" : rev},
          {"git_dirty", dirty},
          {"compiler", std::string(
#if defined(__clang__)
                           "clang "
#elif defined(__GNUC__)
                           "g++ "
#endif
                           ) + __VERSION__},
          {"cpu", cpu_model()},
          {"cpu_cores", static_cast<int>(sysconf(_SC_NPROCESSORS_ONLN))},
          {"memory_mb", mem_total_mb()},
          {"os", std::string(u.sysname) + " " + u.release},
          {"arch", u.machine}};
}

Capabilities capabilities_from(const json& info) {
  Capabilities c;
  c.gpus = info.value("cuda_device_count", 0);
  c.gloo = info.value("c10d_gloo", false);
  c.nccl = info.value("c10d_nccl", false);
  return c;
}

ProbeResult run_probe(const std::string& exe, double timeout_seconds) {
  ProbeResult result;
  {
    ProcessSpec ps;
    ps.exe = exe;
    ps.args = {"probe"};
    ChildProcess child;
    try {
      child = spawn_process(ps);
    } catch (const std::exception& e) {
      result.error = e.what();
      return result;
    }
    std::string buffer, output;
    const auto start = std::chrono::steady_clock::now();
    int status = 0;
    bool done = false;
    while (!done) {
      char buf[4096];
      ssize_t n;
      while ((n = read(child.event_fd, buf, sizeof buf)) > 0) buffer.append(buf, static_cast<std::size_t>(n));
      while ((n = read(child.output_fd, buf, sizeof buf)) > 0)
        if (output.size() < 4096) output.append(buf, static_cast<std::size_t>(n));
      const pid_t w = waitpid(child.pid, &status, WNOHANG);
      if (w == child.pid) {
        done = true;
        while ((n = read(child.event_fd, buf, sizeof buf)) > 0) buffer.append(buf, static_cast<std::size_t>(n));
      } else if (std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() > timeout_seconds) {
        signal_group(child.pid, SIGKILL);
        waitpid(child.pid, &status, 0);
        result.error = "probe timed out after " + std::to_string(static_cast<int>(timeout_seconds)) + " s";
        done = true;
      } else {
        usleep(10000);
      }
    }
    signal_group(child.pid, SIGKILL);
    close(child.event_fd);
    close(child.output_fd);
    std::size_t pos = 0, nl;
    while ((nl = buffer.find('\n', pos)) != std::string::npos) {
      json e = json::parse(buffer.substr(pos, nl - pos), nullptr, false);
      if (!e.is_discarded() && e.is_object() && e.value("event", "") == "probe") result.info = e;
      pos = nl + 1;
    }
    if (result.info.empty() && result.error.empty())
      result.error = "probe exited without a report" + (output.empty() ? std::string() : ": " + output.substr(0, 400));
  }
  result.info.erase("event");
  result.info.erase("rank");
  result.caps = capabilities_from(result.info);
  return result;
}

}  // namespace tw
