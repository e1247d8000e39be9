// --format text: render_console (report.h), then the diff against --baseline as text.
#include "harness/diff.h"
#include "harness/report.h"
#include "harness/report/reporter.h"

namespace tw {
namespace {

class TextReporter final : public Reporter {
 public:
  std::string_view name() const override { return "text"; }
  std::string_view description() const override { return "the matrix for a terminal"; }
  bool takes_baseline() const override { return true; }
  std::string render(const Matrix& matrix, const nlohmann::json& diff, bool color) const override {
    std::string out = render_console(matrix, color);
    if (diff.is_object()) out += '\n' + render_diff_text(diff, color);
    return out;
  }
};

}  // namespace

const Reporter& text_reporter() {
  static const TextReporter reporter;
  return reporter;
}

}  // namespace tw
