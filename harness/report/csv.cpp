// --format csv: render_csv (report.h), for spreadsheets and scripts.
#include "harness/report.h"
#include "harness/report/reporter.h"

namespace tw {

const Reporter& csv_reporter() {
  static const MatrixReporter reporter("csv", "a row per cell, numbers exactly as the matrix holds them", render_csv);
  return reporter;
}

}  // namespace tw
