#pragma once
// The cell's side of the event protocol: one JSON object per line on descriptor 3, written
// unbuffered so that a cell that crashes right after an event still delivered it.
#include <nlohmann/json.hpp>

namespace tw {

class EventWriter {
 public:
  explicit EventWriter(int fd) : fd_(fd) {}
  // Adds "event": type and writes the line; failures (closed pipe) are ignored on purpose:
  // the harness classifies from what it received.
  void emit(const char* type, nlohmann::json fields = nlohmann::json::object()) const;
  int fd() const { return fd_; }

 private:
  int fd_;
};

}  // namespace tw
