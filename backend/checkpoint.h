#pragma once
// Periodic checkpoints written as a guard: every `every` steps the model's parameters (their raw
// bytes) go to one checkpoint history file, as a run that keeps every checkpoint of its history.
// keep_last > 0 keeps only the last checkpoints (the history is rewritten to a new file that
// replaces the old one); preflight checks the room left before each write and stops the run
// instead of failing in the middle of a write.
#include <cstdint>
#include <deque>
#include <stdexcept>
#include <string>
#include <vector>

#include "trainwreck/guards.h"

namespace tw {

struct CheckpointOptions {
  std::string path;       // the history file; its directory must exist
  int64_t every = 5;      // steps between checkpoints
  int64_t keep_last = 0;  // 0: every checkpoint stays
  bool preflight = false;
};

// A write that the file system refused; what() names the step, the file and errno's text.
class CheckpointWriteError : public std::runtime_error {
 public:
  CheckpointWriteError(int64_t step, int error, const std::string& what)
      : std::runtime_error(what), step_(step), errno_(error) {}
  int64_t step() const { return step_; }
  int error() const { return errno_; }

 private:
  int64_t step_;
  int errno_;
};

// How much a file in a directory may still hold: the process's file-size limit
// (RLIMIT_FSIZE, -1 when unlimited) and the file system's free space for this user.
struct DiskRoom {
  int64_t file_size_limit = -1;
  int64_t free_bytes = -1;
};
DiskRoom disk_room(const std::string& directory);

// Removes the files in `directory`, then the directory (not recursive). std::filesystem is not
// used: libtorch.so exports its own copies of those symbols, and remove_all crashes through them.
void remove_directory(const std::string& directory);

class CheckpointWriter : public trainwreck::Guard {
 public:
  explicit CheckpointWriter(CheckpointOptions options);
  std::string name() const override { return "checkpoint_writer"; }
  // Writes when the step is due; throws CheckpointWriteError when a write fails.
  trainwreck::GuardReport after_step(const trainwreck::StepContext& ctx) override;

  // One checkpoint: a length-prefixed record with the step and each parameter's name and bytes.
  static std::string serialize(int64_t step, torch::nn::Module& model);
  // Steps of the complete checkpoints in a history file, read back from disk.
  static std::vector<int64_t> read_steps(const std::string& path);

  const CheckpointOptions& options() const { return options_; }
  int64_t checkpoints_written() const { return written_; }
  int64_t bytes_written() const { return bytes_written_; }
  int64_t history_bytes() const { return history_bytes_; }  // the history file's size now

 private:
  void append(int64_t step, const std::string& record);
  void rewrite(int64_t step, const std::string& record);

  CheckpointOptions options_;
  std::deque<std::string> kept_;  // records in the history when keeping the last ones
  int64_t written_ = 0;
  int64_t bytes_written_ = 0;
  int64_t history_bytes_ = 0;
};

}  // namespace tw
