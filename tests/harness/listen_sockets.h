#pragma once
// The listening TCP sockets of given processes, read from /proc (Linux): what `ss -ltnp` shows,
// without needing ss or the privileges -p takes for other users' processes.
#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace tw::test {

struct ListenSocket {
  std::string address;  // "127.0.0.1", "::", ...
  int port = 0;
  bool loopback = false;
  std::string text() const {
    return (address.find(':') != std::string::npos ? "[" + address + "]" : address) + ":" + std::to_string(port);
  }
};

// Socket inodes among the open files of process `pid` ("socket:[12345]" links in /proc/PID/fd).
inline std::set<std::string> socket_inodes(int pid) {
  std::set<std::string> out;
  const std::string dir = "/proc/" + std::to_string(pid) + "/fd";
  DIR* d = opendir(dir.c_str());
  if (!d) return out;  // gone already, or not ours
  while (dirent* e = readdir(d)) {
    char target[256];
    const ssize_t n = readlink((dir + "/" + e->d_name).c_str(), target, sizeof target - 1);
    if (n <= 0) continue;
    target[n] = '\0';
    const std::string t = target;
    if (t.rfind("socket:[", 0) == 0) out.insert(t.substr(8, t.size() - 9));
  }
  closedir(d);
  return out;
}

// Every TCP socket in LISTEN state (st 0A) of the network namespace, by inode.
inline std::map<std::string, ListenSocket> listen_sockets() {
  std::map<std::string, ListenSocket> out;
  for (const bool v6 : {false, true}) {
    std::ifstream in(v6 ? "/proc/net/tcp6" : "/proc/net/tcp");
    std::string line;
    std::getline(in, line);  // header
    while (std::getline(in, line)) {
      std::istringstream s(line);
      std::string slot, local, remote, state, queues, timer, retransmits, uid, timeout, inode;
      if (!(s >> slot >> local >> remote >> state >> queues >> timer >> retransmits >> uid >> timeout >> inode))
        continue;
      if (state != "0A") continue;
      const auto colon = local.find(':');
      const std::string hex = local.substr(0, colon);
      ListenSocket ls;
      ls.port = static_cast<int>(std::stoul(local.substr(colon + 1), nullptr, 16));
      // The kernel prints the address as 32-bit words in host byte order.
      unsigned char bytes[16] = {};
      for (std::size_t w = 0; w < hex.size() / 8 && w < 4; ++w) {
        const auto word = static_cast<std::uint32_t>(std::stoul(hex.substr(w * 8, 8), nullptr, 16));
        std::memcpy(bytes + w * 4, &word, 4);
      }
      char text[INET6_ADDRSTRLEN] = {};
      if (!v6) {
        inet_ntop(AF_INET, bytes, text, sizeof text);
        ls.loopback = bytes[0] == 127;
      } else {
        in6_addr a;
        std::memcpy(&a, bytes, 16);
        inet_ntop(AF_INET6, &a, text, sizeof text);
        ls.loopback = IN6_IS_ADDR_LOOPBACK(&a) || (IN6_IS_ADDR_V4MAPPED(&a) && bytes[12] == 127);
      }
      ls.address = text;
      out[inode] = ls;
    }
  }
  return out;
}

// The listening sockets that process `pid` holds.
inline std::vector<ListenSocket> listen_sockets_of(int pid) {
  std::vector<ListenSocket> out;
  const auto all = listen_sockets();
  for (const auto& inode : socket_inodes(pid))
    if (auto it = all.find(inode); it != all.end()) out.push_back(it->second);
  return out;
}

// `root` and every process below it (by the parent pid in /proc/PID/stat).
inline std::vector<int> process_tree(int root) {
  std::map<int, std::vector<int>> children;
  DIR* d = opendir("/proc");
  if (!d) return {root};
  while (dirent* e = readdir(d)) {
    const int pid = std::atoi(e->d_name);
    if (pid <= 0) continue;
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
    const auto close_paren = text.rfind(')');  // the command name may hold spaces
    if (close_paren == std::string::npos) continue;
    std::istringstream rest(text.substr(close_paren + 1));
    std::string state;
    int ppid = 0;
    if (rest >> state >> ppid) children[ppid].push_back(pid);
  }
  closedir(d);
  std::vector<int> out{root};
  for (std::size_t i = 0; i < out.size(); ++i)
    for (int c : children[out[i]]) out.push_back(c);
  return out;
}

}  // namespace tw::test
