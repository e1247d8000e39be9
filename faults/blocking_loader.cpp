// The data source stops producing at a given step and the loop waits for its next batch with
// no deadline, the way a loader blocks on a queue whose workers died or stalled. Its remedy
// (loader_timeout) gives the wait a deadline, and the run stops with the reason.
#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <sstream>

#include "backend/loop_hooks.h"
#include "backend/registry.h"

namespace tw {
namespace {

// A data source that stops producing: a pipe nobody writes, read the way a loader waits on its
// workers' queue. With a deadline the wait gives up; without one it blocks for good.
class StalledSource {
 public:
  StalledSource() {
    if (pipe(fds_) != 0) fds_[0] = fds_[1] = -1;
  }
  ~StalledSource() {
    for (int fd : fds_)
      if (fd >= 0) close(fd);
  }
  // True when a batch arrived (never, here); false when the deadline passed.
  bool wait(double timeout_s) const {
    pollfd p{fds_[0], POLLIN, 0};
    const int ms = timeout_s > 0 ? static_cast<int>(timeout_s * 1000) : -1;
    int n;
    do {
      n = poll(&p, 1, ms);
    } while (n < 0 && errno == EINTR);
    return n > 0;
  }

 private:
  int fds_[2];
};

class StallingLoader : public LoopHook {
 public:
  std::optional<HookStop> before_step(const LoopView& v) override {
    const Recipe& r = v.recipe;
    if (r.data.loader_stall_step <= 0 || v.step < r.data.loader_stall_step) return std::nullopt;
    StalledSource source;
    if (source.wait(r.data.loader_timeout_s)) return std::nullopt;
    std::ostringstream msg;
    msg << "no batch from the data source within " << r.data.loader_timeout_s << " s at step " << v.step;
    return HookStop{"loader_timeout", msg.str()};
  }
};

struct BlockingLoader : Fault {
  void apply(Recipe& r, const nlohmann::json& p) const override {
    r.data.loader_stall_step = param_int(p, "stall_step", 20);
    r.data.loader_timeout_s = 0;
    r.hooks.push_back(std::make_shared<StallingLoader>());
  }
};
}  // namespace
TW_REGISTER_FAULT(
    BlockingLoader,
    {"blocking_loader",
     "the data source stops producing and the loop waits forever",
     "data",
     {{"stall_step", ParamSpec::Type::kInteger, 1, 1 << 30, false, {}, "step whose batch never arrives"}}});
}  // namespace tw
