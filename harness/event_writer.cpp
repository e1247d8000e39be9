#include "harness/event_writer.h"

#include <errno.h>
#include <unistd.h>

#include <utility>

namespace tw {

void EventWriter::emit(EventType type, nlohmann::json fields) const {
  if (fd_ < 0) return;
  fields["event"] = to_string(type);
  // Non-finite numbers become null in JSON; callers that care send them as strings.
  const std::string line = fields.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  const char* p = line.data();
  std::size_t left = line.size();
  while (left > 0) {
    const ssize_t n = ::write(fd_, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    p += n;
    left -= static_cast<std::size_t>(n);
  }
}

void EventWriter::error(ErrorKind kind, const std::string& message, nlohmann::json fields) const {
  fields["kind"] = to_string(kind);
  fields["message"] = message;
  emit(EventType::kError, std::move(fields));
}

}  // namespace tw
