#include "harness/cli/results_dir.h"

#include <fcntl.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <system_error>

#include "harness/diff.h"
#include "harness/errors.h"
#include "harness/html_report.h"
#include "harness/report.h"
#include "harness/store.h"

namespace tw::cli {
using nlohmann::json;
namespace fs = std::filesystem;

DirectoryLock::DirectoryLock(const std::string& dir) {
  const std::string path = dir + "/run.lock";
  fd_ = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0) throw ResultsError("cannot create " + path + ": " + strerror(errno));
  if (flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    close(fd_);
    throw InputError(dir, "", "another trainwreck run is using this results directory");
  }
}

DirectoryLock::~DirectoryLock() {
  if (fd_ >= 0) close(fd_);
}

void remove_half_written(const std::string& dir) {
  std::error_code ec;
  for (auto it = fs::directory_iterator(dir, ec); !ec && it != fs::directory_iterator(); it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (it->is_regular_file(ec) && (name.find(".tmp.") != std::string::npos ||
                                    (name.size() > 8 && name.compare(name.size() - 8, 8, ".partial") == 0)))
      fs::remove(it->path(), ec);
  }
}

void write_reports(const std::string& dir, const Matrix& matrix, const json& diff) {
  const auto figures = render_figures(matrix);
  if (!figures.empty()) ensure_directory(dir + "/figures");
  for (const auto& [name, svg] : figures) write_file_atomic(dir + "/" + name, svg);
  write_file_atomic(dir + "/matrix.md", render_markdown(matrix));
  write_file_atomic(dir + "/junit.xml", render_junit(matrix));
  write_file_atomic(dir + "/report.html", render_html(matrix, diff));
  if (diff.is_object()) write_file_atomic(dir + "/diff.md", render_diff_markdown(diff));
  write_json_atomic(dir + "/matrix.json", matrix.raw());
}

namespace {

// What write_reports writes, besides the figures.
const char* const kReportFiles[] = {"matrix.json", "matrix.md", "junit.xml", "report.html", "diff.md"};

}  // namespace

void remove_stale_reports(const std::string& dir) {
  std::error_code ec;
  for (const char* stale : kReportFiles) fs::remove(dir + "/" + stale, ec);
  for (auto it = fs::directory_iterator(dir + "/figures", ec); !ec && it != fs::directory_iterator();
       it.increment(ec)) {
    const std::string name = it->path().filename().string();
    for (const char* device : {"-cpu.svg", "-cuda.svg"}) {
      const std::string tail = device;
      if (name.size() > tail.size() && name.compare(name.size() - tail.size(), tail.size(), tail) == 0 &&
          it->is_regular_file(ec)) {
        std::error_code rm;
        fs::remove(it->path(), rm);
      }
    }
  }
}

}  // namespace tw::cli
