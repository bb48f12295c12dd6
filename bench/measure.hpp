// SPDX-License-Identifier: MIT
// What the plain benchmark programs measure with: a nanosecond clock and absolute
// sleeps on it, nearest-rank percentiles, and the whole process's CPU time and context
// switches.
#pragma once

#include <sys/resource.h>
#include <time.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace fev_bench {

using Clock = std::chrono::steady_clock;

inline std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count();
}

inline void sleep_until(Clock::time_point when) {
  // steady_clock is CLOCK_MONOTONIC on Linux; an absolute sleep does not drift.
  const auto since_epoch = std::chrono::duration_cast<std::chrono::nanoseconds>(when.time_since_epoch()).count();
  timespec at{static_cast<time_t>(since_epoch / 1000000000), static_cast<long>(since_epoch % 1000000000)};
  while (::clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &at, nullptr) == EINTR) {
  }
}

inline double percentile(const std::vector<std::int64_t>& sorted, double p) {
  if (sorted.empty()) return 0;
  // Nearest rank: the smallest sample with at least p of all samples at or below it.
  auto rank = static_cast<std::size_t>(p * static_cast<double>(sorted.size()) + 0.999999);
  rank = std::clamp<std::size_t>(rank, 1, sorted.size());
  return static_cast<double>(sorted[rank - 1]);
}

// Sets a row's p50_ns and p99_ns from unsorted samples.
template <class Row>
void add_percentiles(Row& row, std::vector<std::int64_t> samples) {
  std::sort(samples.begin(), samples.end());
  row.p50_ns = percentile(samples, 0.50);
  row.p99_ns = percentile(samples, 0.99);
}

// The process's CPU time (all threads) and context switches (voluntary + involuntary)
// so far.
struct Usage {
  double cpu_s = 0;
  long switches = 0;

  static Usage now() {
    Usage usage;
    timespec cpu{};
    (void)::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &cpu);
    usage.cpu_s = static_cast<double>(cpu.tv_sec) + static_cast<double>(cpu.tv_nsec) * 1e-9;
    rusage self{};
    (void)::getrusage(RUSAGE_SELF, &self);
    usage.switches = self.ru_nvcsw + self.ru_nivcsw;
    return usage;
  }
};

// CPU microseconds and context switches per unit of work between two readings.
struct PerUnit {
  double cpu_us;
  double switches;
};

inline PerUnit per_unit(const Usage& before, const Usage& after, std::size_t count) {
  const double n = static_cast<double>(count);
  return {(after.cpu_s - before.cpu_s) * 1e6 / n, static_cast<double>(after.switches - before.switches) / n};
}

}  // namespace fev_bench
