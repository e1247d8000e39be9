// --format junit: render_junit (report.h), what CI systems read as test results.
#include "harness/report.h"
#include "harness/report/reporter.h"

namespace tw {

const Reporter& junit_reporter() {
  static const MatrixReporter reporter("junit", "JUnit XML (junit.xml): a testsuite per scenario, a testcase per cell",
                                       render_junit);
  return reporter;
}

}  // namespace tw
