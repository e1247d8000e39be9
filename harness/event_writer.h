#pragma once
// The cell's side of the event protocol (protocol/events.h): one JSON object per line on
// descriptor 3, written unbuffered so that a cell that crashes right after an event still
// delivered it. The only writer of event lines.
#include <nlohmann/json.hpp>
#include <string>

#include "protocol/events.h"

namespace tw {

class EventWriter {
 public:
  explicit EventWriter(int fd) : fd_(fd) {}
  // Adds "event": type and writes the line; failures (closed pipe) are ignored on purpose:
  // the harness classifies from what it received.
  void emit(EventType type, nlohmann::json fields = nlohmann::json::object()) const;
  // An error event: {"kind", "message"} and the extra fields (a step, ...).
  void error(ErrorKind kind, const std::string& message, nlohmann::json fields = nlohmann::json::object()) const;
  int fd() const { return fd_; }

 private:
  int fd_;
};

}  // namespace tw
