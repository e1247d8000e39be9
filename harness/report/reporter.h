#pragma once
// The formats of `trainwreck report --format`: one Reporter each, in a registry. A format is one
// file under harness/report/ that defines its reporter, and its registration in reporter.cpp (a
// declaration and an entry in the list); the command, its usage text and its error messages read
// the registry.
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "harness/matrix_records.h"

namespace tw {

class Reporter {
 public:
  virtual ~Reporter() = default;
  // The --format word: "text", "md", ...
  virtual std::string_view name() const = 0;
  // One line for the usage text.
  virtual std::string_view description() const = 0;
  // Whether it renders the diff against --baseline; report refuses --baseline for the others.
  virtual bool takes_baseline() const { return false; }
  // A finished run; `diff` is diff_matrices(baseline, matrix), or null for none; `color`: ANSI
  // colours, for a terminal.
  virtual std::string render(const Matrix& matrix, const nlohmann::json& diff, bool color) const = 0;
};

// A format that renders the matrix alone (no --baseline diff, no colour): its word, its line for
// the usage text and the function that renders it.
class MatrixReporter final : public Reporter {
 public:
  using Render = std::string (*)(const Matrix&);
  constexpr MatrixReporter(std::string_view name, std::string_view description, Render render)
      : name_(name), description_(description), render_(render) {}
  std::string_view name() const override { return name_; }
  std::string_view description() const override { return description_; }
  std::string render(const Matrix& matrix, const nlohmann::json&, bool) const override { return render_(matrix); }

 private:
  std::string_view name_, description_;
  Render render_;
};

// Every format, in the order the usage text lists them.
const std::vector<const Reporter*>& reporters();
// The reporter of a --format word; null when there is none.
const Reporter* find_reporter(std::string_view name);

// ---- for the reporters ---------------------------------------------------------------------------

// A value of the matrix as a reader sees it: a string as it is, null as "", anything else as JSON.
std::string value_text(const nlohmann::json& value);

}  // namespace tw
