#include "harness/report/reporter.h"

#include "harness/report.h"

namespace tw {

// Each format's file defines its reporter; this is where they are registered, in the order the
// usage text and the --format error message give them. A new format: its file under
// harness/report/, its declaration here, and its entry in the list.
const Reporter& text_reporter();
const Reporter& markdown_reporter();
const Reporter& html_reporter();
const Reporter& junit_reporter();
const Reporter& csv_reporter();
const Reporter& json_reporter();
const Reporter& tap_reporter();
const Reporter& github_reporter();

const std::vector<const Reporter*>& reporters() {
  static const std::vector<const Reporter*> all = {
      &text_reporter(), &markdown_reporter(), &html_reporter(), &junit_reporter(),
      &csv_reporter(),  &json_reporter(),     &tap_reporter(),  &github_reporter(),
  };
  return all;
}

const Reporter* find_reporter(std::string_view name) {
  for (const Reporter* r : reporters())
    if (r->name() == name) return r;
  return nullptr;
}

std::string value_text(const nlohmann::json& value) {
  if (value.is_string()) return value.get<std::string>();
  return value.is_null() ? "" : value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace tw
