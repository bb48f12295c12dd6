// fev/deadline.hpp — turning the user's timeout into one steady_clock deadline.
//
// Every timed operation converts its argument exactly once, on entry, so a wait that
// is woken spuriously or interrupted never restarts its full timeout (no over-waiting,
// no drift). Timeouts too large to represent saturate to "no deadline".
#pragma once

#include "fev/cxx20.hpp"  // first: below C++20, one clear error instead of many

#include <chrono>
#include <type_traits>

#include "fev/wait.hpp"

namespace fev::detail {

// now + timeout, rounded up to the clock's tick, saturating at Deadline::max().
// Callers handle timeout <= 0 ("check once, do not block") before calling this.
template <class Rep, class Period>
Deadline deadline_after(const std::chrono::duration<Rep, Period>& timeout) noexcept {
  using std::chrono::steady_clock;
  const Deadline now = steady_clock::now();
  const auto room = Deadline::max() - now;
  // Compare in long double seconds: exact enough for saturation, and safe for every
  // Rep (integer, floating point) and Period without overflow.
  using Seconds = std::chrono::duration<long double>;
  if (Seconds(timeout) >= Seconds(room)) return Deadline::max();
  return now + std::chrono::ceil<steady_clock::duration>(timeout);
}

// A time point of any clock as a steady_clock deadline. steady_clock passes through;
// other clocks (system_clock) are converted once, against their own now().
template <class Clock, class Duration>
Deadline to_deadline(const std::chrono::time_point<Clock, Duration>& when) noexcept {
  if constexpr (std::is_same_v<Clock, std::chrono::steady_clock>) {
    return std::chrono::time_point_cast<Deadline::duration>(when);
  } else {
    const auto remaining = when - Clock::now();
    if (remaining <= decltype(remaining)::zero()) return std::chrono::steady_clock::now();
    return deadline_after(remaining);
  }
}

}  // namespace fev::detail
