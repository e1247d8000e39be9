// --format json: render_json (report.h), the matrix as it was loaded.
#include "harness/report/reporter.h"

#include "harness/report.h"

namespace tw {
namespace {

class JsonReporter final : public Reporter {
 public:
  std::string_view name() const override { return "json"; }
  std::string_view description() const override { return "the matrix.json value"; }
  std::string render(const Matrix& matrix, const nlohmann::json&, bool) const override {
    return render_json(matrix);
  }
};

}  // namespace

const Reporter& json_reporter() {
  static const JsonReporter reporter;
  return reporter;
}

}  // namespace tw
