// SPDX-License-Identifier: MIT
// GoogleTest's main for every unit test program, with one difference: a run in which no
// test case reached a verdict (every selected case skipped, or none selected) exits 77,
// which meson reports as SKIP. Such a run checked nothing and must not read as a pass.
// Linked as a source of each program, so the main of the gtest_main library is unused.
#include <gtest/gtest.h>

#include <cstdio>

namespace {
constexpr int kExitSkipped = 77;  // meson's (and automake's) "skipped" exit status
}  // namespace

int main(int argc, char** argv) {
  testing::InitGoogleTest(&argc, argv);
  const int status = RUN_ALL_TESTS();
  const testing::UnitTest& unit_test = *testing::UnitTest::GetInstance();
  if (status == 0 && !GTEST_FLAG_GET(list_tests) && unit_test.successful_test_count() == 0) {
    std::printf("no test case passed or failed (%d skipped, %d selected): exit status %d (skipped)\n",
                unit_test.skipped_test_count(), unit_test.test_to_run_count(), kExitSkipped);
    return kExitSkipped;
  }
  return status;
}
