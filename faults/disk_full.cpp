// The run writes a checkpoint every few steps and keeps every one of them in its checkpoint
// history, on a volume that is too small for the whole history. The cell's file-size limit
// (RLIMIT_FSIZE, which needs no privileges and works in any container) stands for the volume:
// the write that crosses it fails with EFBIG the way a full disk fails with ENOSPC.
#include <csignal>
#include <sys/resource.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "backend/checkpoint.h"
#include "backend/registry.h"
#include "backend/trainer.h"

namespace tw {
namespace {

std::shared_ptr<CheckpointWriter> find_writer(const Recipe& r) {
  for (const auto& g : r.guards)
    if (auto w = std::dynamic_pointer_cast<CheckpointWriter>(g)) return w;
  return nullptr;
}

struct DiskFull : Fault {
  // Runs after the mitigation, so the writer sees checkpoint_keep and disk_preflight.
  bool before_device(Recipe& r, const nlohmann::json& p, const EventWriter& events) const override {
    const auto cap = static_cast<rlim_t>(param(p, "cap_mb", 1.0) * (1 << 20));
    // Otherwise the kernel ends the process with SIGXFSZ instead of failing the write.
    ::signal(SIGXFSZ, SIG_IGN);
    rlimit lim{};
    if (getrlimit(RLIMIT_FSIZE, &lim) == 0) {
      lim.rlim_cur = lim.rlim_max == RLIM_INFINITY || cap < lim.rlim_max ? cap : lim.rlim_max;
      if (setrlimit(RLIMIT_FSIZE, &lim) != 0) lim.rlim_cur = RLIM_INFINITY;
    }
    if (lim.rlim_cur == RLIM_INFINITY) {
      events.error(ErrorKind::kException, std::string("cannot cap the file size: ") + std::strerror(errno));
      return false;
    }
    const char* tmp = std::getenv("TMPDIR");
    std::string dir = std::string(tmp && *tmp ? tmp : "/tmp") + "/trainwreck-checkpoints-XXXXXX";
    if (!mkdtemp(dir.data())) {
      events.error(ErrorKind::kException, "mkdtemp " + dir + ": " + std::strerror(errno));
      return false;
    }
    r.guards.push_back(std::make_shared<CheckpointWriter>(CheckpointOptions{
        dir + "/checkpoints.bin", param_int(p, "every", 5), r.loop.checkpoint_keep, r.checks.disk_preflight}));
    return true;
  }

  void run(CellEnv& env, Recipe& recipe) const override {
    const auto writer = find_writer(recipe);
    if (!writer) throw std::runtime_error("disk_full: no checkpoint writer (before_device did not run)");
    const std::string& path = writer->options().path;
    struct RemoveDir {
      std::string dir;
      ~RemoveDir() { remove_directory(dir); }
    } cleanup{path.substr(0, path.rfind('/'))};
    auto evidence = [&] {
      rlimit lim{};
      getrlimit(RLIMIT_FSIZE, &lim);
      const auto on_disk = CheckpointWriter::read_steps(writer->options().path);
      env.events.emit(EventType::kEvidence, {{"checkpoints_written", writer->checkpoints_written()},
                                             {"checkpoint_bytes_written", writer->bytes_written()},
                                             {"checkpoints_on_disk", on_disk.size()},
                                             {"history_bytes", writer->history_bytes()},
                                             {"file_size_limit", static_cast<int64_t>(lim.rlim_cur)}});
    };
    try {
      train(env, recipe);
    } catch (const CheckpointWriteError& e) {
      evidence();
      env.events.error(ErrorKind::kException, e.what(), {{"step", e.step()}, {"errno", e.error()}});
      return;
    }
    evidence();
  }
};

}  // namespace
TW_REGISTER_FAULT(DiskFull,
                  {"disk_full",
                   "every checkpoint kept on a volume too small for them all",
                   "hardware",
                   {{"cap_mb", ParamSpec::Type::kNumber, 0, 1e6, true, {}, "capacity for the checkpoint history (MiB)"},
                    {"every", ParamSpec::Type::kInteger, 1, 1 << 30, false, {}, "steps between checkpoints"}}});
}  // namespace tw
