#include "harness/context.h"

#include <signal.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <vector>

#include "harness/process.h"
#include "protocol/events.h"
#include "trainwreck/build_info.h"

#ifndef TRAINWRECK_VERSION
#define TRAINWRECK_VERSION "0.0.0"
#endif

namespace tw {
using nlohmann::json;

// Instruction sets that change which kernels LibTorch picks, and so its speed and its rounding
// (bf16/fp16 paths, fused multiply-add, matrix units).
const char* const kNumericsCpuFlags[] = {"sse4_1", "sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512dq",
                                         "avx512bw", "avx512vl", "avx512_vnni", "avx512_bf16", "avx512_fp16",
                                         "avx_vnni", "amx_tile", "amx_bf16", "amx_int8", "amx_fp16",
                                         // aarch64
                                         "asimd", "asimdhp", "fphp", "sve", "sve2", "bf16", "i8mm"};

namespace {

std::string read_text(const char* path) {
  std::ifstream in(path);
  std::ostringstream os;
  os << in.rdbuf();
  return os.str();
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

json cpu_info_from(const std::string& cpuinfo) {
  // The first processor's block describes the host (a mixed-core machine still shares its
  // instruction sets).
  std::map<std::string, std::string> fields;
  std::istringstream in(cpuinfo);
  for (std::string line; std::getline(in, line);) {
    if (line.empty()) {
      if (!fields.empty()) break;
      continue;
    }
    const auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string key = line.substr(0, colon);
    while (!key.empty() && (key.back() == ' ' || key.back() == '\t')) key.pop_back();
    const auto start = line.find_first_not_of(" \t", colon + 1);
    fields.emplace(key, start == std::string::npos ? "" : line.substr(start));
  }
  auto get = [&](const char* key) {
    auto it = fields.find(key);
    return it == fields.end() ? std::string() : it->second;
  };
  auto integer = [&](const char* key) -> json {
    const std::string v = get(key);
    if (v.empty()) return nullptr;
    char* end = nullptr;
    const long long n = std::strtoll(v.c_str(), &end, 0);  // "0x41" on aarch64, "6" on x86
    return end && *end == '\0' ? json(n) : json(v);
  };
  json info = json::object();
  // x86 names the model; aarch64 names implementer and part only.
  std::string model = get("model name");
  if (model.empty()) model = get("Processor");
  if (model.empty()) model = get("cpu model");
  info["cpu"] = model.empty() ? "unknown" : model;
  std::string vendor = get("vendor_id");
  if (vendor.empty()) vendor = get("CPU implementer");
  if (!vendor.empty()) info["cpu_vendor"] = vendor;
  if (fields.count("cpu family")) {
    info["cpu_family"] = integer("cpu family");
    info["cpu_model"] = integer("model");
    info["cpu_stepping"] = integer("stepping");
  } else if (fields.count("CPU part")) {
    info["cpu_family"] = integer("CPU architecture");
    info["cpu_model"] = integer("CPU part");
    info["cpu_stepping"] = integer("CPU revision");
  }
  const std::string flag_text = fields.count("flags") ? get("flags") : get("Features");
  std::set<std::string> flags;
  std::istringstream fs(flag_text);
  for (std::string f; fs >> f;) flags.insert(f);
  if (!flags.empty()) {
    json relevant = json::array();
    for (const char* f : kNumericsCpuFlags)
      if (flags.count(f)) relevant.push_back(f);
    info["cpu_flags"] = relevant;
    // Every flag, in a short form: a new microcode or hypervisor that hides an instruction set
    // the list above does not name still shows.
    std::string all;
    for (const auto& f : flags) all += f + " ";
    std::uint64_t h = 1469598103934665603ULL;  // FNV-1a
    for (const unsigned char ch : all) h = (h ^ ch) * 1099511628211ULL;
    char hex[17];
    std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(h));
    info["cpu_flags_hash"] = std::string(hex, 12);
    info["cpu_flags_count"] = flags.size();
  }
  return info;
}

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
  const std::string compiler = std::string(
#if defined(__clang__)
                                   "clang "
#elif defined(__GNUC__)
                                   "g++ "
#endif
                                   ) +
                               __VERSION__;
  json host = {{"trainwreck", TRAINWRECK_VERSION},
               {"git_revision", dirty ? rev + "-dirty" : rev},
               {"git_dirty", dirty},
               {"compiler", compiler},
               {"cpu_cores", static_cast<int>(sysconf(_SC_NPROCESSORS_ONLN))},
               {"memory_mb", mem_total_mb()},
               {"os", std::string(u.sysname) + " " + u.release},
               {"arch", u.machine}};
  host.update(cpu_info_from(read_text("/proc/cpuinfo")));
  return host;
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
      if (!e.is_discarded() && e.is_object() && event_type_of(e) == EventType::kProbe) result.info = e;
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
