// SPDX-License-Identifier: MIT
// fev/deadline.hpp — turning the user's timeout into one steady_clock deadline.
//
// Every timed operation converts its argument exactly once, on entry, so a wait that
// is woken spuriously or interrupted never restarts its full timeout (no over-waiting,
// no drift). Every conversion saturates instead of overflowing, whatever the clock,
// the count type (integer or floating point) and the unit:
//  - a timeout or time point beyond what steady_clock's nanoseconds can hold (about 292
//    years after boot), within a second of that limit, or +infinity: no deadline;
//  - a timeout of zero or below, a time point already past (down to the clock's min()),
//    -infinity, or NaN: already expired, so the operation checks once and does not
//    block. NaN counts as expired because a timed wait that cannot say how long to
//    wait must not wait for ever.
#pragma once

#include <chrono>
#include <cmath>
#include <type_traits>

#include "fev/wait.hpp"

namespace fev::detail {

// Comparisons happen in long double seconds: every Rep and Period converts to it
// without overflow, with more precision than the nanosecond the deadline keeps.
using WideSeconds = std::chrono::duration<long double>;

// A second of slack at both ends of steady_clock's range: a count within it is taken
// as the end itself, so the rounding of a floating-point count never carries it past
// the range in the exact conversion that follows.
inline constexpr WideSeconds kDeadlineSlack{1.0L};

// `d` rounded up to steady_clock ticks, for a `d` that lies more than kDeadlineSlack
// inside the range of Deadline::duration (the callers check). Whole seconds and the
// fraction convert apart, so no intermediate count * ratio product overflows.
template <class Rep, class Period>
Deadline::duration ceil_ticks(const std::chrono::duration<Rep, Period>& d) noexcept {
  const auto whole = std::chrono::floor<std::chrono::seconds>(d);
  return whole + std::chrono::ceil<Deadline::duration>(d - whole);
}

// now + timeout, rounded up to the clock's tick. Deadline::min() (check once, never
// block) for a timeout of zero or below or NaN; Deadline::max() (no deadline) for one
// too large to represent.
template <class Rep, class Period>
Deadline deadline_after(const std::chrono::duration<Rep, Period>& timeout) noexcept {
  const WideSeconds wanted(timeout);
  if (!(wanted > WideSeconds::zero())) return Deadline::min();  // also NaN
  const Deadline now = std::chrono::steady_clock::now();
  if (wanted >= WideSeconds(Deadline::max() - now) - kDeadlineSlack) return Deadline::max();
  return now + ceil_ticks(timeout);
}

// A time point of any clock as a steady_clock deadline: Deadline::min() once it has
// passed, Deadline::max() when steady_clock cannot represent it. steady_clock time
// points convert exactly (rounded up to a tick); other clocks (system_clock) are
// converted once, against their own now(), with the difference taken in WideSeconds
// so that neither the subtraction nor the unit conversion can overflow.
template <class Clock, class Duration>
Deadline to_deadline(const std::chrono::time_point<Clock, Duration>& when) noexcept {
  const WideSeconds since_epoch(when.time_since_epoch());
  if constexpr (std::is_same_v<Clock, std::chrono::steady_clock>) {
    if (std::isnan(since_epoch.count())) return Deadline::min();
    if (since_epoch <= WideSeconds(Deadline::min().time_since_epoch()) + kDeadlineSlack) return Deadline::min();
    if (since_epoch >= WideSeconds(Deadline::max().time_since_epoch()) - kDeadlineSlack) return Deadline::max();
    return Deadline(ceil_ticks(when.time_since_epoch()));
  } else {
    // Clock::now() is read before deadline_after reads steady_clock::now(): the gap
    // between the two reads only makes the deadline later, never earlier.
    return deadline_after(since_epoch - WideSeconds(Clock::now().time_since_epoch()));
  }
}

}  // namespace fev::detail
