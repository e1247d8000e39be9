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
// Reads a file a user named, as input: a FIFO would block in open() and a device such as
// /dev/zero never ends, so only a regular file is read, and never more than max_bytes of it.
// Throws InputError naming the file (and `flag`, if given, as the field).
std::string read_input_file(const std::string& path, std::size_t max_bytes, const std::string& flag = "");
void ensure_directory(const std::string& path);  // throws ResultsError
// Removes a file or a directory tree (POSIX nftw: std::filesystem::remove_all is not used
// because LibTorch exports its own copies of those symbols into the executable). Throws
// ResultsError when something cannot be removed.
void remove_tree(const std::string& path);

// A results directory is trainwreck's only when it says so: this file, written when a run (or a
// merge) first claims the directory. Nothing is deleted or overwritten in a directory without it.
constexpr const char* kResultsMarker = ".trainwreck-results";
// Before anything is written to DIR (given by `flag`): throws InputError when it names something
// that is not a directory, or a non-empty directory trainwreck did not write (no marker, and not
// the run.json or matrix.json of a run made before the marker existed).
void check_results_directory(const std::string& dir, const std::string& flag);
// Creates DIR if needed and writes the marker; throws ResultsError when it cannot.
void claim_results_directory(const std::string& dir);
// Removes what an earlier run left in a results directory's cells/ folder: only file names
// trainwreck writes (<cell>.jsonl, .log, .result.json, half-written .partial and .tmp. files) and
// the repeat-N/seed-N folders that hold them. Anything else (a user's file) is left where it is.
void remove_cell_files(const std::string& cells_dir);

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
