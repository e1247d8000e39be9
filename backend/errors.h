#pragma once
// LibTorch's exceptions as the protocol's error events: the one place that decides whether an
// exception is an out-of-memory error (LibTorch's, or the same error inside a scripted module)
// and which line of it says what went wrong. Used by every loop (trainer, data-parallel, model
// split) and the cell's entry.
#include <exception>
#include <nlohmann/json.hpp>
#include <string>

#include "harness/event_writer.h"

namespace tw {

// An error inside a scripted module: the TorchScript interpreter rethrows it (LibTorch 2.11 as a
// std::runtime_error, 2.15 as a c10::Error) with a text that starts with a fixed line.
bool from_torchscript(const std::exception& e);
// An allocation that failed: c10::OutOfMemoryError, or the same error in a scripted module (only
// its text survives the interpreter).
bool is_out_of_memory(const std::exception& e);
// The line that says what went wrong: a LibTorch error's first line (without its backtrace), or
// the last line of a TorchScript traceback.
std::string error_cause(const std::exception& e);

struct ErrorReport {
  ErrorKind kind;
  std::string message;
};
ErrorReport error_report(const std::exception& e);

// Emits `e` as an error event with `fields` (a step, ...); `prefix` goes before the message.
void emit_error(const EventWriter& events, const std::exception& e, nlohmann::json fields = nlohmann::json::object(),
                const std::string& prefix = "");

}  // namespace tw
