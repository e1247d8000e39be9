#pragma once
// Error kinds the harness distinguishes, and the process exit codes they map to.
#include <stdexcept>
#include <string>

namespace tw {

// Documented exit codes of the trainwreck executable (README, "Exit codes").
enum ExitCode : int {
  kExitAsExpected = 0,   // every cell matched its expectation
  kExitUnexpected = 1,   // at least one cell did not (or a diff found changes)
  kExitBadInput = 2,     // bad scenario, flag or argument: nothing was run
  kExitInternal = 3,     // a defect in trainwreck itself
  kExitResultsLost = 4,  // results could not be written (unwritable directory, disk full)
  // 128 + SIGINT/SIGTERM (130, 143): the run was interrupted; finished cells are kept for --resume
};

// A mistake a user can make: reported with the file (or flag) and the field, never a crash.
class InputError : public std::runtime_error {
 public:
  InputError(std::string where, std::string field, const std::string& message)
      : std::runtime_error(message), where_(std::move(where)), field_(std::move(field)) {}
  const std::string& where() const { return where_; }
  const std::string& field() const { return field_; }
  // "scenarios/x.json: field 'recipe.lr': must be > 0"
  std::string describe() const;

 private:
  std::string where_;
  std::string field_;
};

// The results directory could not be written: the run cannot claim to be complete.
class ResultsError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class InternalError : public std::logic_error {
 public:
  using std::logic_error::logic_error;
};

[[noreturn]] void check_failed(const char* file, int line, const char* expr, const std::string& msg);

}  // namespace tw

// Internal invariants only; user mistakes are InputError.
#define TW_CHECK(cond, msg)                                            \
  do {                                                                 \
    if (!(cond)) ::tw::check_failed(__FILE__, __LINE__, #cond, (msg)); \
  } while (0)
