#include "backend/errors.h"

#include <c10/util/Exception.h>

#include <utility>

#include "backend/registry.h"

namespace tw {
namespace {

constexpr const char* kTorchScriptError = "The following operation failed in the TorchScript interpreter";

std::string error_text(const std::exception& e) {
  if (const auto* c10 = dynamic_cast<const c10::Error*>(&e)) return c10->what_without_backtrace();
  return e.what();
}

}  // namespace

bool from_torchscript(const std::exception& e) { return error_text(e).rfind(kTorchScriptError, 0) == 0; }

bool is_out_of_memory(const std::exception& e) {
  if (dynamic_cast<const c10::OutOfMemoryError*>(&e)) return true;
  return from_torchscript(e) && error_text(e).find("out of memory") != std::string::npos;
}

std::string error_cause(const std::exception& e) {
  std::string text = error_text(e);
  if (!from_torchscript(e)) return first_line(text);
  while (!text.empty() && text.back() == '\n') text.pop_back();
  return text.substr(text.find_last_of('\n') + 1);
}

ErrorReport error_report(const std::exception& e) {
  return {is_out_of_memory(e) ? ErrorKind::kOom : ErrorKind::kException, error_cause(e)};
}

void emit_error(const EventWriter& events, const std::exception& e, nlohmann::json fields, const std::string& prefix) {
  const ErrorReport r = error_report(e);
  events.error(r.kind, prefix + r.message, std::move(fields));
}

}  // namespace tw
