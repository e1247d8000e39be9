// Proves that the sanitizer pass (scripts/sanitize, part of scripts/test) checks something: in a
// sanitized build a heap overflow and a signed overflow each end a child process with the
// sanitizer's report. In a plain build these tests skip.
#include <gtest/gtest.h>

#include <climits>
#include <cstdlib>
#include <memory>

namespace {

#ifdef TRAINWRECK_SANITIZED
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif

// volatile: keeps the compiler from proving the faults at compile time.
int read_past_end(int index_in) {
  volatile int index = index_in;
  std::unique_ptr<int[]> data(new int[4]());
  return data[index];
}

int overflow(int value_in) {
  volatile int value = value_in;
  return value + 1;
}

TEST(Sanitizers, HeapOverflowIsFatal) {
  if (!kSanitized) GTEST_SKIP() << "plain build: scripts/sanitize runs this under ASan";
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(read_past_end(4), "AddressSanitizer: heap-buffer-overflow");
}

TEST(Sanitizers, SignedOverflowIsFatal) {
  if (!kSanitized) GTEST_SKIP() << "plain build: scripts/sanitize runs this under UBSan";
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  // The threadsafe death test re-executes this binary, which reads the options at start-up.
  ::setenv("UBSAN_OPTIONS", "halt_on_error=1:print_stacktrace=0", 1);
  EXPECT_DEATH(overflow(INT_MAX), "signed integer overflow");
}

}  // namespace
