#include "backend/visible_devices.h"

#include <dirent.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <fstream>
#include <set>
#include <sstream>

namespace tw {

namespace {

std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t\n");
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(" \t\n") - b + 1);
}

bool is_integer(const std::string& s) {
  const std::size_t start = !s.empty() && (s[0] == '-' || s[0] == '+') ? 1 : 0;
  return s.size() > start && s.size() < 10 &&
         std::all_of(s.begin() + static_cast<std::ptrdiff_t>(start), s.end(),
                     [](unsigned char c) { return std::isdigit(c) != 0; });
}

std::string gpus_phrase(const GpuInventory& gpus) {
  if (gpus.count == 0) return "this machine has no NVIDIA GPU (" + gpus.source + ")";
  return "this machine has " + std::to_string(gpus.count) + " GPU" + (gpus.count == 1 ? "" : "s") + " (ordinals 0.." +
         std::to_string(gpus.count - 1) + ", from " + gpus.source + ")";
}

GpuInventory proc_gpus() {
  GpuInventory inv;
  inv.source = "/proc/driver/nvidia/gpus";
  DIR* dir = opendir("/proc/driver/nvidia/gpus");
  if (!dir) return inv;
  while (const dirent* e = readdir(dir)) {
    const std::string name = e->d_name;
    if (name == "." || name == "..") continue;
    ++inv.count;
    std::ifstream info("/proc/driver/nvidia/gpus/" + name + "/information");
    for (std::string line; std::getline(info, line);)
      if (line.rfind("GPU UUID:", 0) == 0) inv.uuids.push_back(trim(line.substr(9)));
  }
  closedir(dir);
  return inv;
}

}  // namespace

GpuInventory parse_nvidia_smi_list(const std::string& text) {
  GpuInventory inv;
  inv.source = "nvidia-smi -L";
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("GPU ", 0) != 0) continue;  // MIG lines are indented under their GPU
    ++inv.count;
    const auto at = line.find("UUID: ");
    if (at != std::string::npos) inv.uuids.push_back(trim(line.substr(at + 6, line.find(')', at) - at - 6)));
  }
  return inv;
}

GpuInventory probe_gpus() {
  if (FILE* p = popen("nvidia-smi -L 2>/dev/null", "r")) {
    std::string text;
    char buf[512];
    while (fgets(buf, sizeof buf, p)) text += buf;
    const int status = pclose(p);
    GpuInventory inv = parse_nvidia_smi_list(text);
    if (status == 0 && inv.count > 0) return inv;
  }
  return proc_gpus();
}

std::string check_visible_devices(const std::string& value, const GpuInventory& gpus) {
  const std::string shown = "CUDA_VISIBLE_DEVICES=\"" + value + "\"";
  if (trim(value).empty()) return shown + " hides every GPU; " + gpus_phrase(gpus);
  std::set<std::string> seen;
  std::stringstream list(value);
  int position = 0;
  for (std::string entry; std::getline(list, entry, ','); ++position) {
    entry = trim(entry);
    const std::string where = shown + ": entry " + std::to_string(position) + " ('" + entry + "') ";
    const std::string tail = position == 0 ? "; CUDA will see no device" : "; CUDA ignores it and every entry after it";
    std::string key = entry;
    if (is_integer(entry)) {
      const long ordinal = std::stol(entry);
      if (ordinal < 0 || ordinal >= gpus.count) return where + "is not a GPU here: " + gpus_phrase(gpus) + tail;
      key = std::to_string(ordinal);
    } else if (entry.rfind("GPU-", 0) == 0 || entry.rfind("MIG-", 0) == 0) {
      if (gpus.count == 0) return where + "is not a GPU here: " + gpus_phrase(gpus) + tail;
      if (!gpus.uuids.empty() && entry.rfind("GPU-", 0) == 0) {
        const auto n = std::count_if(gpus.uuids.begin(), gpus.uuids.end(),
                                     [&](const std::string& u) { return u.rfind(entry, 0) == 0; });
        if (n == 0) return where + "matches no GPU UUID here: " + gpus_phrase(gpus) + tail;
        if (n > 1) return where + "is a prefix of several GPU UUIDs" + tail;
      }
    } else {
      return where + "is neither an ordinal nor a GPU-/MIG- UUID" + tail;
    }
    if (!seen.insert(key).second) return where + "names a GPU already listed";
  }
  return "";
}

}  // namespace tw
