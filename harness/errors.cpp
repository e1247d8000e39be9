#include "harness/errors.h"

namespace tw {

std::string InputError::describe() const {
  std::string out = where_;
  if (!field_.empty()) out += (out.empty() ? "" : ": ") + std::string("field '") + field_ + "'";
  out += (out.empty() ? "" : ": ") + std::string(what());
  return out;
}

void check_failed(const char* file, int line, const char* expr, const std::string& msg) {
  throw InternalError(std::string(file) + ":" + std::to_string(line) + ": check '" + expr + "' failed: " + msg);
}

}  // namespace tw
