#include "backend/checkpoint.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <sstream>

namespace tw {

namespace {

constexpr char kMagic[4] = {'T', 'W', 'C', 'K'};

template <typename T>
void put(std::string& out, T value) {
  out.append(reinterpret_cast<const char*>(&value), sizeof value);
}

template <typename T>
bool get(const std::string& in, std::size_t& at, T& value) {
  if (in.size() - at < sizeof value) return false;
  std::memcpy(&value, in.data() + at, sizeof value);
  at += sizeof value;
  return true;
}

const char* errno_name(int e) {
  switch (e) {
    case EFBIG:
      return "EFBIG";
    case ENOSPC:
      return "ENOSPC";
    case EDQUOT:
      return "EDQUOT";
    case EIO:
      return "EIO";
    case EACCES:
      return "EACCES";
    case EROFS:
      return "EROFS";
    default:
      return nullptr;
  }
}

std::string errno_text(int e) {
  std::string s = std::strerror(e);
  if (const char* n = errno_name(e)) s += std::string(" (") + n + ")";
  return s;
}

std::string mib(int64_t bytes) {
  std::ostringstream s;
  s.precision(2);
  s << std::fixed << static_cast<double>(bytes) / (1 << 20) << " MiB";
  return s.str();
}

std::string directory_of(const std::string& path) {
  const auto slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

// Writes everything or returns the errno of the write that failed (short writes are retried,
// so a write that ends exactly at a limit reports the limit's error on the next call).
int write_all(int fd, const char* data, std::size_t size) {
  while (size > 0) {
    const ssize_t n = ::write(fd, data, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    data += n;
    size -= static_cast<std::size_t>(n);
  }
  return 0;
}

}  // namespace

DiskRoom disk_room(const std::string& directory) {
  DiskRoom room;
  rlimit lim{};
  if (getrlimit(RLIMIT_FSIZE, &lim) == 0 && lim.rlim_cur != RLIM_INFINITY)
    room.file_size_limit = static_cast<int64_t>(lim.rlim_cur);
  struct statvfs fs {};
  if (statvfs(directory.c_str(), &fs) == 0)
    room.free_bytes = static_cast<int64_t>(fs.f_bavail) * static_cast<int64_t>(fs.f_frsize);
  return room;
}

void remove_directory(const std::string& directory) {
  if (DIR* dir = opendir(directory.c_str())) {
    while (const dirent* e = readdir(dir)) {
      const std::string name = e->d_name;
      if (name != "." && name != "..") ::unlink((directory + "/" + name).c_str());
    }
    closedir(dir);
  }
  ::rmdir(directory.c_str());
}

CheckpointWriter::CheckpointWriter(CheckpointOptions options) : options_(std::move(options)) {
  if (options_.every < 1) options_.every = 1;
}

std::string CheckpointWriter::serialize(int64_t step, torch::nn::Module& model) {
  std::string body(kMagic, sizeof kMagic);
  put<int64_t>(body, step);
  const auto params = model.named_parameters(/*recurse=*/true);
  put<uint32_t>(body, static_cast<uint32_t>(params.size()));
  for (const auto& item : params) {
    const at::Tensor t = item.value().detach().to(at::kCPU).contiguous();
    put<uint32_t>(body, static_cast<uint32_t>(item.key().size()));
    body += item.key();
    put<uint64_t>(body, static_cast<uint64_t>(t.nbytes()));
    body.append(static_cast<const char*>(t.data_ptr()), t.nbytes());
  }
  std::string record;
  put<uint64_t>(record, static_cast<uint64_t>(body.size()));
  return record + body;
}

std::vector<int64_t> CheckpointWriter::read_steps(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  const std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<int64_t> steps;
  std::size_t at = 0;
  uint64_t length = 0;
  while (get(data, at, length) && data.size() - at >= length && length >= sizeof kMagic + sizeof(int64_t)) {
    int64_t step = 0;
    std::size_t field = at + sizeof kMagic;
    if (std::memcmp(data.data() + at, kMagic, sizeof kMagic) != 0 || !get(data, field, step)) break;
    steps.push_back(step);
    at += length;
  }
  return steps;
}

trainwreck::GuardReport CheckpointWriter::after_step(const trainwreck::StepContext& ctx) {
  if (ctx.step % options_.every != 0) return {};
  const std::string record = serialize(ctx.step, ctx.model);
  const bool rotating = options_.keep_last > 0;
  int64_t kept_bytes = 0;
  if (rotating) {
    // The records that stay next to the new one.
    const std::size_t stay = static_cast<std::size_t>(options_.keep_last - 1);
    for (std::size_t i = kept_.size() > stay ? kept_.size() - stay : 0; i < kept_.size(); ++i)
      kept_bytes += static_cast<int64_t>(kept_[i].size());
  }
  const int64_t file_after = (rotating ? kept_bytes : history_bytes_) + static_cast<int64_t>(record.size());
  if (options_.preflight) {
    const DiskRoom room = disk_room(directory_of(options_.path));
    // A rewrite holds the old and the new file until the rename.
    const int64_t new_bytes = rotating ? file_after : static_cast<int64_t>(record.size());
    std::ostringstream why;
    if (room.file_size_limit >= 0 && file_after > room.file_size_limit)
      why << "would grow " << options_.path << " to " << mib(file_after) << ", past the file-size limit of "
          << mib(room.file_size_limit) << " (RLIMIT_FSIZE)";
    else if (room.free_bytes >= 0 && new_bytes > room.free_bytes)
      why << "needs " << mib(new_bytes) << " but " << mib(room.free_bytes) << " are free on the file system";
    if (!why.str().empty()) {
      trainwreck::GuardReport r;
      r.action = trainwreck::GuardReport::Action::kStop;
      r.guard = "free_space_preflight";
      r.step = r.symptom_step = ctx.step;
      r.message = "checkpoint of step " + std::to_string(ctx.step) + " " + why.str() + "; stopped before writing it (" +
                  std::to_string(written_) + " checkpoints written, " + mib(history_bytes_) + " on disk)";
      r.details = {{"history_bytes", history_bytes_},
                   {"checkpoint_bytes", record.size()},
                   {"file_size_limit", room.file_size_limit},
                   {"free_bytes", room.free_bytes}};
      return r;
    }
  }
  if (rotating)
    rewrite(ctx.step, record);
  else
    append(ctx.step, record);
  ++written_;
  bytes_written_ += static_cast<int64_t>(record.size());
  history_bytes_ = file_after;
  return {};
}

void CheckpointWriter::append(int64_t step, const std::string& record) {
  const int fd = ::open(options_.path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  int error = fd < 0 ? errno : write_all(fd, record.data(), record.size());
  if (fd >= 0 && ::close(fd) != 0 && error == 0) error = errno;
  if (error != 0)
    throw CheckpointWriteError(step, error,
                               "writing the checkpoint of step " + std::to_string(step) + " to " + options_.path +
                                   " (" + mib(history_bytes_) + " already there): " + errno_text(error));
}

void CheckpointWriter::rewrite(int64_t step, const std::string& record) {
  while (!kept_.empty() && static_cast<int64_t>(kept_.size()) >= options_.keep_last) kept_.pop_front();
  kept_.push_back(record);
  const std::string tmp = options_.path + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  int error = fd < 0 ? errno : 0;
  for (std::size_t i = 0; error == 0 && i < kept_.size(); ++i) error = write_all(fd, kept_[i].data(), kept_[i].size());
  if (fd >= 0 && ::close(fd) != 0 && error == 0) error = errno;
  if (error == 0 && std::rename(tmp.c_str(), options_.path.c_str()) != 0) error = errno;
  if (error != 0) {
    ::unlink(tmp.c_str());
    throw CheckpointWriteError(
        step, error,
        "writing the checkpoint of step " + std::to_string(step) + " to " + options_.path + ": " + errno_text(error));
  }
}

}  // namespace tw
