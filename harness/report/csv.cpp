// --format csv: render_csv (report.h), for spreadsheets and scripts.
#include "harness/report/reporter.h"

#include "harness/report.h"

namespace tw {
namespace {

class CsvReporter final : public Reporter {
 public:
  std::string_view name() const override { return "csv"; }
  std::string_view description() const override { return "a row per cell, numbers exactly as the matrix holds them"; }
  std::string render(const Matrix& matrix, const nlohmann::json&, bool) const override {
    return render_csv(matrix);
  }
};

}  // namespace

const Reporter& csv_reporter() {
  static const CsvReporter reporter;
  return reporter;
}

}  // namespace tw
