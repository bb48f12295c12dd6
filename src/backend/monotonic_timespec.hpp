// SPDX-License-Identifier: MIT
// Internal: a steady_clock deadline as the absolute CLOCK_MONOTONIC timespec that the
// futex system calls take. std::chrono::steady_clock is CLOCK_MONOTONIC on Linux
// (libstdc++ and libc++), so the count since the epoch is the kernel's time.
#pragma once

#include <chrono>
#include <ctime>

#include "fev/wait.hpp"

namespace fev::backend {

inline timespec monotonic_timespec(Deadline deadline) noexcept {
  using namespace std::chrono;
  auto since_epoch = deadline.time_since_epoch();
  if (since_epoch < nanoseconds::zero()) since_epoch = nanoseconds::zero();
  const auto secs = duration_cast<seconds>(since_epoch);
  timespec ts{};
  ts.tv_sec = static_cast<time_t>(secs.count());
  ts.tv_nsec = static_cast<long>(duration_cast<nanoseconds>(since_epoch - secs).count());
  return ts;
}

}  // namespace fev::backend
