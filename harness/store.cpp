#include "harness/store.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

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
  struct stat st {};
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

namespace {
// Reads a regular file, at most `max_bytes` + 1 bytes (one more shows that it is too large).
// O_NONBLOCK: open() of a FIFO without a writer would otherwise wait forever. Returns an errno
// value (0: read), or -1 when the path is not a regular file.
int read_regular(const std::string& path, std::size_t max_bytes, std::string& out) {
  const int fd = open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) return errno;
  struct stat st {};
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    return -1;
  }
  out.clear();
  char buf[64 << 10];
  while (out.size() <= max_bytes) {
    const std::size_t want = std::min(sizeof buf, max_bytes + 1 - out.size());
    const ssize_t n = ::read(fd, buf, want);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      close(fd);
      return err;
    }
    if (n == 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  close(fd);
  return 0;
}

// Results trainwreck reads back (matrix.json, run.json, results) are far below this.
constexpr std::size_t kMaxResultFileBytes = std::size_t{1} << 30;
}  // namespace

std::string read_file(const std::string& path) {
  std::string out;
  const int err = read_regular(path, kMaxResultFileBytes, out);
  if (err < 0) throw ResultsError("cannot read " + path + ": not a regular file");
  if (err > 0) fail(path, "read", err);
  if (out.size() > kMaxResultFileBytes) throw ResultsError("cannot read " + path + ": larger than 1 GiB");
  return out;
}

std::string read_input_file(const std::string& path, std::size_t max_bytes, const std::string& flag) {
  std::string out;
  const int err = read_regular(path, max_bytes, out);
  if (err < 0) throw InputError(path, flag, "is not a regular file (a FIFO, device or socket is not read)");
  if (err > 0) throw InputError(path, flag, std::string("cannot be read: ") + strerror(err));
  if (out.size() > max_bytes)
    throw InputError(path, flag, "file is too large (the limit is " + std::to_string(max_bytes) + " bytes)");
  return out;
}

void check_results_directory(const std::string& dir, const std::string& flag) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::file_status st = fs::status(dir, ec);
  if (fs::exists(st)) {
    if (!fs::is_directory(st))
      throw InputError(dir, flag, "exists and is not a directory (results go into a directory)");
  } else {
    // Nothing could be created below a file: that is the argument's fault, not the disk's.
    for (fs::path p = fs::path(dir).parent_path(); !p.empty(); p = p.parent_path()) {
      const fs::file_status ps = fs::status(p, ec);
      if (!fs::exists(ps)) {
        if (p == p.parent_path()) break;
        continue;
      }
      if (!fs::is_directory(ps)) throw InputError(dir, flag, p.string() + " is not a directory");
      break;
    }
    return;
  }
  if (fs::exists(dir + "/" + kResultsMarker, ec)) return;
  bool empty = true;
  for (auto it = fs::directory_iterator(dir, ec); !ec && it != fs::directory_iterator(); it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name != "run.lock") empty = false;
  }
  if (ec) throw InputError(dir, flag, "cannot list the directory: " + ec.message());
  if (empty) return;
  // A run from before the marker: its run.json (or a merge's matrix.json) has trainwreck's shape.
  auto ours = [&](const std::string& file, std::initializer_list<const char*> keys) {
    std::string text;
    if (read_regular(dir + "/" + file, 64u << 20, text) != 0) return false;
    const nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
    if (!j.is_object()) return false;
    for (const char* k : keys)
      if (!j.contains(k)) return false;
    return true;
  };
  if (ours("run.json", {"scenarios", "shard_count", "seed"}) || ours("matrix.json", {"context", "cells"})) return;
  throw InputError(dir, flag,
                   "is not empty and is not a trainwreck results directory (no " + std::string(kResultsMarker) +
                       "); trainwreck never deletes or overwrites files it did not write: name a new or empty "
                       "directory");
}

void claim_results_directory(const std::string& dir) {
  ensure_directory(dir);
  std::error_code ec;
  if (!std::filesystem::exists(dir + "/" + kResultsMarker, ec))
    write_file_atomic(dir + "/" + kResultsMarker,
                      "This directory holds trainwreck results; trainwreck may replace the files it wrote here.\n");
}

namespace {
bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

bool round_folder(const std::string& name) {
  for (const char* prefix : {"repeat-", "seed-"}) {
    const std::string p = prefix;
    if (name.size() > p.size() && name.compare(0, p.size(), p) == 0 &&
        name.find_first_not_of("0123456789", p.size()) == std::string::npos)
      return true;
  }
  return false;
}
}  // namespace

void remove_cell_files(const std::string& cells_dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  std::vector<fs::path> files, folders;
  for (auto it = fs::directory_iterator(cells_dir, ec); !ec && it != fs::directory_iterator(); it.increment(ec)) {
    const std::string name = it->path().filename().string();
    const fs::file_status st = it->symlink_status(ec);
    if (fs::is_directory(st) && round_folder(name)) {
      folders.push_back(it->path());
    } else if (fs::is_regular_file(st) &&
               (ends_with(name, ".jsonl") || ends_with(name, ".log") || ends_with(name, ".result.json") ||
                ends_with(name, ".partial") || name.find(".tmp.") != std::string::npos)) {
      files.push_back(it->path());
    }
  }
  if (ec && ec != std::errc::no_such_file_or_directory) fail(cells_dir, "list", ec.value());
  for (const auto& f : files)
    if (::remove(f.c_str()) != 0 && errno != ENOENT) fail(f.string(), "remove", errno);
  for (const auto& d : folders) {
    remove_cell_files(d.string());
    fs::remove(d, ec);  // only when empty: a user's file inside keeps its folder
  }
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
