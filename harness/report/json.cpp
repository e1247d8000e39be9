// --format json: render_json (report.h), the matrix as it was loaded.
#include "harness/report.h"
#include "harness/report/reporter.h"

namespace tw {

const Reporter& json_reporter() {
  static const MatrixReporter reporter("json", "the matrix.json value", render_json);
  return reporter;
}

}  // namespace tw
