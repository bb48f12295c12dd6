// SPDX-License-Identifier: MIT
// Command-line options of tools/async_stress.
#pragma once

#include <cstdint>
#include <string>

namespace async_stress {

struct Options {
  double seconds = 3.0;
  std::uint64_t seed = 1;
  bool fallback = false;     // force the loops' polling path (no io_uring futex waits)
  int threads = 4;           // plain worker threads
  int coroutines = 6;        // coroutines on each of the two loops
  int pool_threads = 2;      // threads of the executor (when the library has one)
  int pool_coroutines = 4;   // coroutines on that executor
  double stall_seconds = 10.0;  // watchdog: one operation this long, or no progress this long, fails
  double progress_seconds = 1.0;
  bool lose_one = false;        // drop one popped value on purpose (self-test of the ledger)
  bool stuck_coroutine = false;  // one coroutine waits on an event nobody sets (self-test of the watchdog)
  bool expect_failure = false;  // exit 0 only if the run fails
  int churn_ms = 0;             // destroy each loop after about this long, live, and build a new one (0: never)
};

// Parses argv; a value follows its option as the next argument or after '='. --help
// prints the usage and exits 0; a bad argument prints one line and a hint to stderr and
// exits 2.
Options parse(int argc, char** argv);

// Prints "async_stress: <reason>" and a one-line hint to stderr and exits 2.
[[noreturn]] void reject(const std::string& reason);

}  // namespace async_stress
