// --format html: render_html (html_report.h), the diff against --baseline inside the page.
#include "harness/html_report.h"
#include "harness/report/reporter.h"

namespace tw {
namespace {

class HtmlReporter final : public Reporter {
 public:
  std::string_view name() const override { return "html"; }
  std::string_view description() const override { return "one self-contained page (report.html)"; }
  bool takes_baseline() const override { return true; }
  std::string render(const Matrix& matrix, const nlohmann::json& diff, bool) const override {
    return render_html(matrix, diff);
  }
};

}  // namespace

const Reporter& html_reporter() {
  static const HtmlReporter reporter;
  return reporter;
}

}  // namespace tw
