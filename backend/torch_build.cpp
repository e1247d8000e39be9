#include "backend/torch_build.h"

#include <ATen/Version.h>

#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>

namespace tw {
using nlohmann::json;

namespace {
std::string trim(std::string s) {
  const auto b = s.find_first_not_of(" \t-");
  const auto e = s.find_last_not_of(" \t,");
  return b == std::string::npos ? std::string() : s.substr(b, e - b + 1);
}

// "KEY=value, KEY=value, ..." of show_config's "Build settings" line; CXX_FLAGS holds spaces
// but no commas.
std::map<std::string, std::string> build_settings(const std::string& line) {
  std::map<std::string, std::string> out;
  std::stringstream ss(line);
  std::string item;
  while (std::getline(ss, item, ',')) {
    item = trim(item);
    const auto eq = item.find('=');
    if (eq != std::string::npos) out[item.substr(0, eq)] = item.substr(eq + 1);
  }
  return out;
}

std::string major_minor(const std::string& version) {
  const auto first = version.find('.');
  if (first == std::string::npos) return version;
  const auto second = version.find('.', first + 1);
  return second == std::string::npos ? version : version.substr(0, second);
}
}  // namespace

json libtorch_build_info() {
  json info = json::object();
  std::stringstream lines(at::show_config());
  std::string line;
  bool first_item = true;
  while (std::getline(lines, line)) {
    const std::string item = trim(line);
    if (item.empty() || item.rfind("PyTorch built with", 0) == 0) continue;
    if (first_item) {  // the compiler that built LibTorch ("GCC 13.3")
      info["compiler"] = item;
      first_item = false;
    }
    if (item.rfind("C++ Version: ", 0) == 0) info["cxx_standard"] = item.substr(13);
    if (item.rfind("CPU capability usage: ", 0) == 0) info["cpu_capability_built"] = item.substr(22);
    if (item.rfind("Build settings: ", 0) == 0) {
      const auto settings = build_settings(item.substr(16));
      const std::map<std::string, std::string> wanted = {
          {"CUDA_VERSION", "cuda"},       {"CUDNN_VERSION", "cudnn"},   {"BLAS_INFO", "blas"},
          {"USE_MKLDNN", "onednn_enabled"}, {"USE_GLOO", "gloo_built"}, {"USE_NCCL", "nccl_built"},
          {"USE_OPENMP", "openmp_enabled"}, {"COMMIT_SHA", "commit"}};
      for (const auto& [key, name] : wanted)
        if (auto it = settings.find(key); it != settings.end() && !it->second.empty()) info[name] = it->second;
    }
  }
  if (std::string v = at::get_mkl_version(); !v.empty()) info["mkl"] = trim(v);
  if (std::string v = at::get_mkldnn_version(); !v.empty()) info["onednn"] = trim(v);
  if (std::string v = at::get_openmp_version(); !v.empty()) info["openmp"] = trim(v);
  info["cpu_capability"] = at::get_cpu_capability();  // what ATen's dispatch picked on this CPU
#ifdef _GLIBCXX_USE_CXX11_ABI
  info["cxx11_abi"] = _GLIBCXX_USE_CXX11_ABI == 1;  // LibTorch's flag, as this binary was compiled
#endif
  info["trainwreck_cxx_standard"] = static_cast<long>(__cplusplus);
#ifdef TRAINWRECK_CUDA_OFF_REASON
  info["trainwreck_cuda_paths"] = std::string("off: ") + TRAINWRECK_CUDA_OFF_REASON;
#endif
  return info;
}

json loaded_runtime_libraries() {
  // The shared objects this process mapped, by family: which CUDA runtime, NCCL, cuDNN and
  // cuBLAS really serve LibTorch (a second copy or a toolkit's copy shows up here).
  const std::map<std::string, std::string> families = {
      {"libcudart.so", "cudart"}, {"libnccl.so", "nccl"},   {"libcudnn.so", "cudnn"},
      {"libcublas.so", "cublas"}, {"libtorch_cpu.so", "libtorch"}, {"libgomp", "openmp"},
      {"libiomp5", "openmp"}};
  std::map<std::string, std::set<std::string>> found;
  std::ifstream maps("/proc/self/maps");
  std::string line;
  while (std::getline(maps, line)) {
    const auto slash = line.find('/');
    if (slash == std::string::npos) continue;
    const std::string path = line.substr(slash);
    const std::string base = path.substr(path.rfind('/') + 1);
    for (const auto& [prefix, family] : families)
      if (base.rfind(prefix, 0) == 0) found[family].insert(path);
  }
  json out = json::object();
  for (const auto& [family, paths] : found) out[family] = json(std::vector<std::string>(paths.begin(), paths.end()));
  return out;
}

std::vector<std::string> runtime_mismatches(const json& build, const json& loaded, const std::string& cuda_runtime) {
  std::vector<std::string> out;
  for (const char* family : {"cudart", "nccl"}) {
    if (loaded.contains(family) && loaded[family].size() > 1) {
      std::string list;
      for (const auto& p : loaded[family]) {
        if (!list.empty()) list += ", ";
        list += p.get<std::string>();
      }
      out.push_back(std::string("more than one ") + family + " loaded: " + list);
    }
  }
  if (!cuda_runtime.empty() && build.contains("cuda")) {
    const std::string built = major_minor(build["cuda"].get<std::string>());
    if (built != major_minor(cuda_runtime))
      out.push_back("CUDA runtime " + cuda_runtime + " loaded, LibTorch is built for CUDA " + built);
  }
  return out;
}

}  // namespace tw
