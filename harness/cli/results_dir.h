#pragma once
// A results directory as run and merge write it: one writer at a time, and reports that are
// either all there (matrix.json last) or not claimed.
#include <nlohmann/json.hpp>
#include <string>

#include "harness/matrix_records.h"

namespace tw::cli {

// One run per results directory at a time. The lock dies with the process, so a killed run
// leaves nothing to clean up before --resume.
class DirectoryLock {
 public:
  // Throws InputError when another run holds DIR, ResultsError when the lock file cannot be made.
  explicit DirectoryLock(const std::string& dir);
  ~DirectoryLock();
  DirectoryLock(const DirectoryLock&) = delete;
  DirectoryLock& operator=(const DirectoryLock&) = delete;

 private:
  int fd_ = -1;
};

// Leftovers of a run that was killed while writing: temporary files that were never renamed.
void remove_half_written(const std::string& dir);

// Writes the reports of a complete matrix; matrix.json goes last, so that its presence means
// every other file was written too. `diff`: against a baseline, or null for none.
void write_reports(const std::string& dir, const Matrix& matrix, const nlohmann::json& diff);

// Removes the reports an earlier run or merge left in DIR: the files write_reports writes and
// the figures (figures/<scenario>-<device>.svg; any other file in figures/ is left where it is).
void remove_stale_reports(const std::string& dir);

}  // namespace tw::cli
