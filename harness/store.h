#pragma once
// Result files are never half-written: whole files go through a temporary file, fsync and
// rename; streamed files grow as "<name>.partial" and are renamed when complete.
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>

namespace tw {

// Throws ResultsError (with the path and the system's reason) when it cannot.
void write_file_atomic(const std::string& path, const std::string& content);
void write_json_atomic(const std::string& path, const nlohmann::json& value);
std::string read_file(const std::string& path);  // throws ResultsError
void ensure_directory(const std::string& path);  // throws ResultsError
// Removes a file or a directory tree (POSIX nftw: std::filesystem::remove_all is not used
// because LibTorch exports its own copies of those symbols into the executable). Throws
// ResultsError when something cannot be removed.
void remove_tree(const std::string& path);

class PartialFile {
 public:
  explicit PartialFile(std::string path);
  ~PartialFile();
  PartialFile(const PartialFile&) = delete;
  PartialFile& operator=(const PartialFile&) = delete;
  void write(const std::string& data);  // errors are remembered and raised by commit()
  void commit();                        // flush, fsync, rename to the final name

 private:
  std::string path_;
  std::FILE* file_ = nullptr;
  int error_ = 0;
};

}  // namespace tw
