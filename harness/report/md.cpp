// --format md: render_markdown (report.h), then the diff against --baseline in Markdown. The
// evidence pages of --out DIR are cmd_report's (render_evidence_pages).
#include "harness/diff.h"
#include "harness/report.h"
#include "harness/report/reporter.h"

namespace tw {
namespace {

class MarkdownReporter final : public Reporter {
 public:
  std::string_view name() const override { return "md"; }
  std::string_view description() const override {
    return "tables by article row (matrix.md); --out DIR writes the evidence pages";
  }
  bool takes_baseline() const override { return true; }
  std::string render(const Matrix& matrix, const nlohmann::json& diff, bool) const override {
    std::string out = render_markdown(matrix);
    if (diff.is_object()) out += '\n' + render_diff_markdown(diff);
    return out;
  }
};

}  // namespace

const Reporter& markdown_reporter() {
  static const MarkdownReporter reporter;
  return reporter;
}

}  // namespace tw
