#include "harness/store.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "harness/errors.h"

namespace tw {

namespace {
[[noreturn]] void fail(const std::string& path, const std::string& what, int err) {
  throw ResultsError("cannot " + what + " " + path + ": " + strerror(err));
}
}  // namespace

void ensure_directory(const std::string& path) {
  std::error_code ec;
  std::filesystem::create_directories(path, ec);
  if (ec) throw ResultsError("cannot create directory " + path + ": " + ec.message());
  if (access(path.c_str(), W_OK) != 0) fail(path, "write into", errno);
}

namespace {
int remove_entry(const char* path, const struct stat*, int, struct FTW*) { return ::remove(path) == 0 ? 0 : errno; }
}  // namespace

void remove_tree(const std::string& path) {
  struct stat st{};
  if (lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return;
    fail(path, "inspect", errno);
  }
  const int err = nftw(path.c_str(), remove_entry, 16, FTW_DEPTH | FTW_PHYS);
  if (err != 0) fail(path, "remove", err > 0 ? err : errno);
}

void write_file_atomic(const std::string& path, const std::string& content) {
  const std::string tmp = path + ".tmp." + std::to_string(getpid());
  const int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) fail(tmp, "create", errno);
  const char* p = content.data();
  std::size_t left = content.size();
  while (left > 0) {
    const ssize_t n = ::write(fd, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int err = n < 0 ? errno : ENOSPC;
      close(fd);
      unlink(tmp.c_str());
      fail(path, "write", err);
    }
    p += n;
    left -= static_cast<std::size_t>(n);
  }
  if (fsync(fd) != 0 && errno != EINVAL) {
    const int err = errno;
    close(fd);
    unlink(tmp.c_str());
    fail(path, "sync", err);
  }
  if (close(fd) != 0) {
    const int err = errno;
    unlink(tmp.c_str());
    fail(path, "close", err);
  }
  if (rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    unlink(tmp.c_str());
    fail(path, "rename into", err);
  }
}

void write_json_atomic(const std::string& path, const nlohmann::json& value) {
  write_file_atomic(path, value.dump(1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n");
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ResultsError("cannot read " + path + ": " + strerror(errno));
  std::ostringstream buf;
  buf << in.rdbuf();
  return buf.str();
}

PartialFile::PartialFile(std::string path) : path_(std::move(path)) {
  file_ = std::fopen((path_ + ".partial").c_str(), "wb");
  if (!file_) error_ = errno;
}

PartialFile::~PartialFile() {
  if (file_) std::fclose(file_);
}

void PartialFile::write(const std::string& data) {
  if (!file_ || error_) return;
  if (std::fwrite(data.data(), 1, data.size(), file_) != data.size()) error_ = errno ? errno : ENOSPC;
}

void PartialFile::commit() {
  if (!file_) fail(path_, "create", error_ ? error_ : EIO);
  if (std::fflush(file_) != 0 && !error_) error_ = errno;
  if (!error_ && fsync(fileno(file_)) != 0 && errno != EINVAL) error_ = errno;
  if (std::fclose(file_) != 0 && !error_) error_ = errno;
  file_ = nullptr;
  if (error_) fail(path_, "write", error_);
  if (rename((path_ + ".partial").c_str(), path_.c_str()) != 0) fail(path_, "rename into", errno);
}

}  // namespace tw
