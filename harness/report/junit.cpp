// --format junit: render_junit (report.h), what CI systems read as test results.
#include "harness/report/reporter.h"

#include "harness/report.h"

namespace tw {
namespace {

class JunitReporter final : public Reporter {
 public:
  std::string_view name() const override { return "junit"; }
  std::string_view description() const override {
    return "JUnit XML (junit.xml): a testsuite per scenario, a testcase per cell";
  }
  std::string render(const Matrix& matrix, const nlohmann::json&, bool) const override {
    return render_junit(matrix);
  }
};

}  // namespace

const Reporter& junit_reporter() {
  static const JunitReporter reporter;
  return reporter;
}

}  // namespace tw
