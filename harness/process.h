#pragma once
// Starting cell processes by fork+exec (the harness never initialized CUDA, so forking here is
// safe; the cell itself never forks) and tearing down their process groups.
#include <sys/types.h>

#include <string>
#include <vector>

namespace tw {

// Descriptor numbers a cell process finds open.
constexpr int kEventFd = 3;  // JSON-line events, cell -> harness

struct ProcessSpec {
  std::string exe;
  std::vector<std::string> args;   // argv[1..]
  std::vector<std::string> env;    // "KEY=VALUE" added to (or replacing in) the environment
  long long data_limit_bytes = 0;  // RLIMIT_DATA backstop; 0 = none
  pid_t process_group = 0;         // 0: lead a new group; else join this one
};

struct ChildProcess {
  pid_t pid = -1;
  int event_fd = -1;   // read end of the event pipe
  int output_fd = -1;  // read end of stdout+stderr
};

// Throws std::system_error when the process cannot be started.
ChildProcess spawn_process(const ProcessSpec& spec);

// Signals a whole process group; returns true if any process received it.
bool signal_group(pid_t pgid, int sig);

// Sets O_NONBLOCK and FD_CLOEXEC.
void make_nonblocking(int fd);

// Path of the running executable (/proc/self/exe).
std::string self_executable();

// "SIGSEGV", "SIGABRT", ... or "signal N".
std::string signal_name(int sig);

}  // namespace tw
