#include "harness/process.h"

#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <map>
#include <system_error>

extern char** environ;

namespace tw {

namespace {
// AddressSanitizer reserves terabytes of shadow memory at start-up and RLIMIT_DATA counts it:
// a sanitized cell could not even start under the backstop, so sanitized builds go without it.
#if defined(__SANITIZE_ADDRESS__)
constexpr bool kDataLimitUsable = false;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool kDataLimitUsable = false;
#else
constexpr bool kDataLimitUsable = true;
#endif
#else
constexpr bool kDataLimitUsable = true;
#endif

[[noreturn]] void throw_errno(const char* what) { throw std::system_error(errno, std::generic_category(), what); }
}  // namespace

void make_nonblocking(int fd) {
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  fcntl(fd, F_SETFD, FD_CLOEXEC);
}

namespace {

// This process's environment with `extra` ("KEY=VALUE") added or replacing, sorted by key.
std::vector<std::string> child_environment(const std::vector<std::string>& extra) {
  std::map<std::string, std::string> env_map;
  for (char** e = environ; *e; ++e) {
    std::string kv(*e);
    const auto eq = kv.find('=');
    env_map[kv.substr(0, eq)] = kv;
  }
  for (const auto& kv : extra) env_map[kv.substr(0, kv.find('='))] = kv;
  std::vector<std::string> env_store;
  for (auto& [k, kv] : env_map) env_store.push_back(kv);
  return env_store;
}

// In the child, between fork and exec: async-signal-safe calls only. Joins the process group,
// dies with the harness, puts the pipes on stdout, stderr and the event descriptor, and execs;
// when exec fails, its errno goes up the status pipe.
[[noreturn]] void exec_child(const ProcessSpec& spec, pid_t parent, char* const* argv, char* const* envp, int events_w,
                             int output_w, int status_w) {
  setpgid(0, spec.process_group);
  // A harness killed outright (SIGKILL, the OOM killer) takes its cells along instead of
  // leaving them running on the device. The harness starts cells from its main thread.
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != parent) _exit(127);
  signal(SIGPIPE, SIG_DFL);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  const int devnull = open("/dev/null", O_RDONLY);
  if (devnull >= 0) dup2(devnull, 0);
  dup2(output_w, 1);
  dup2(output_w, 2);
  dup2(events_w, kEventFd);  // dup2 clears FD_CLOEXEC on the copy
  if (kDataLimitUsable && spec.data_limit_bytes > 0) {
    struct rlimit rl = {static_cast<rlim_t>(spec.data_limit_bytes), static_cast<rlim_t>(spec.data_limit_bytes)};
    setrlimit(RLIMIT_DATA, &rl);
  }
  execve(argv[0], argv, envp);
  const int err = errno;
  ssize_t ignored = write(status_w, &err, sizeof err);
  (void)ignored;
  _exit(127);
}

}  // namespace

ChildProcess spawn_process(const ProcessSpec& spec) {
  // Everything the child needs is prepared before fork: between fork and exec only
  // async-signal-safe calls are made.
  std::vector<std::string> argv_store = {spec.exe};
  argv_store.insert(argv_store.end(), spec.args.begin(), spec.args.end());
  std::vector<char*> argv;
  for (auto& a : argv_store) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<std::string> env_store = child_environment(spec.env);
  std::vector<char*> envp;
  for (auto& e : env_store) envp.push_back(e.data());
  envp.push_back(nullptr);

  int events[2], output[2], status_pipe[2];
  if (pipe2(events, O_CLOEXEC) != 0) throw_errno("pipe");
  if (pipe2(output, O_CLOEXEC) != 0) {
    close(events[0]);
    close(events[1]);
    throw_errno("pipe");
  }
  if (pipe2(status_pipe, O_CLOEXEC) != 0) {
    for (int fd : {events[0], events[1], output[0], output[1]}) close(fd);
    throw_errno("pipe");
  }

  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid < 0) {
    for (int fd : {events[0], events[1], output[0], output[1], status_pipe[0], status_pipe[1]}) close(fd);
    throw_errno("fork");
  }
  if (pid == 0) exec_child(spec, parent, argv.data(), envp.data(), events[1], output[1], status_pipe[1]);
  // Both sides set the group, so it exists before either relies on it.
  setpgid(pid, spec.process_group == 0 ? pid : spec.process_group);
  close(events[1]);
  close(output[1]);
  close(status_pipe[1]);
  int exec_errno = 0;
  ssize_t n;
  do {
    n = read(status_pipe[0], &exec_errno, sizeof exec_errno);
  } while (n < 0 && errno == EINTR);
  close(status_pipe[0]);
  if (n == sizeof exec_errno) {
    waitpid(pid, nullptr, 0);
    close(events[0]);
    close(output[0]);
    throw std::system_error(exec_errno, std::generic_category(), "exec " + spec.exe);
  }
  make_nonblocking(events[0]);
  make_nonblocking(output[0]);
  return ChildProcess{pid, events[0], output[0]};
}

bool signal_group(pid_t pgid, int sig) { return pgid > 0 && kill(-pgid, sig) == 0; }

std::string self_executable() {
  char buf[4096];
  const ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) throw_errno("readlink /proc/self/exe");
  return std::string(buf, static_cast<std::size_t>(n));
}

std::string signal_name(int sig) {
  switch (sig) {
    case SIGSEGV: return "SIGSEGV";
    case SIGABRT: return "SIGABRT";
    case SIGKILL: return "SIGKILL";
    case SIGTERM: return "SIGTERM";
    case SIGBUS: return "SIGBUS";
    case SIGFPE: return "SIGFPE";
    case SIGILL: return "SIGILL";
    case SIGINT: return "SIGINT";
    case SIGPIPE: return "SIGPIPE";
    case SIGXCPU: return "SIGXCPU";
    default: return "signal " + std::to_string(sig);
  }
}

}  // namespace tw
