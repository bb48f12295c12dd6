// SPDX-License-Identifier: MIT
/// \file
/// Wait until any one, or all, of several events are set.
///
/// ```
///   std::size_t                wait_any(Event&...)                       blocks; index
///   std::optional<std::size_t> wait_any_for(timeout, Event&...)          nullopt: timeout
///   std::optional<std::size_t> wait_any_until(time_point, Event&...)
///   void                       wait_all(Event&...)
///   bool                       wait_all_for(timeout, Event&...)          false: timeout
///   bool                       wait_all_until(time_point, Event&...)
/// ```
///
/// Each also takes a range of event pointers instead of the pack (a std::vector<Event*>,
/// a std::span<Event*>, an array), at most kMaxWaitMany of them. The events may be any
/// BasicEvent<Wait> (fev::Event, fev::SharedEvent, ...), all of one backend per call.
///
/// What "set" means here is what it means for Event::wait(): event i counts as set for
/// this call when a read during the call found it set, or when a set() of it happened
/// during the call, even if clear() undid it at once (Python's rule: that set() released
/// every waiter). So:
///  - wait_any returns the lowest index that counted as set when the call last looked;
///    nullopt only once the deadline has passed and no event counted as set.
///  - wait_all returns true once every event has counted as set at some moment during
///    the call: not necessarily all at the same moment, since another thread may clear
///    one while the call waits for another. The events themselves are not changed (no
///    event is consumed; compare AutoResetEvent). false once the deadline has passed
///    and some event has not counted as set. An empty range is all-set: true at once.
/// A timeout of zero or below checks once and never blocks; deadlines are converted
/// once, so spurious wakes never make a call over-wait (as for Event::wait_for).
///
/// How it waits. First the calls poll within fev::spin_limit(), like Event::wait. Then:
///  - fast path, Linux 5.16+ and events on backend::Futex or backend::FutexShared: one
///    futex_waitv(2) on all the words still pending, with an absolute CLOCK_MONOTONIC
///    deadline. It is probed once at run time; ENOSYS (older kernel), EPERM (a seccomp
///    filter) or EINVAL switch the whole process to the slow path for good.
///  - slow path, every other backend and kernel: it parks on one pending event at a
///    time, with a timed wait of 50 us doubling up to 1 ms, rotating over the events. A
///    set() of the event it is parked on wakes it at once; a set() of any other is seen
///    within the current slice (at most about 1 ms late). Correct, but it wakes up to
///    1000 times a second while it waits.
/// Before it sleeps on an event's word, either path sets the word's "parked" bit exactly
/// as Event::wait does, so set() wakes it through the backend (see fev/event_access.hpp).
/// A call that returns leaves the bit on events it did not wait out: their next set()
/// makes one futex wake that finds nobody, as after a timed-out Event::wait_for.
///
/// Memory ordering: as for Event::wait: everything a thread did before a set() that made
/// event i count as set happens-before everything the caller does after the call returns
/// i (wait_any) or true (wait_all; for every event).
///
/// Stack use: about 7 KiB per call (fixed arrays of kMaxWaitMany entries), no allocation.
#pragma once

#include "fev/cxx20.hpp"  // first: below C++20, one clear error instead of many

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <ranges>
#include <stdexcept>
#include <tuple>
#include <type_traits>
#include <utility>

#include "fev/deadline.hpp"
#include "fev/detail_error.hpp"
#include "fev/event.hpp"
#include "fev/event_access.hpp"
#include "fev/wait.hpp"

namespace fev {

/// The most events one call takes: futex_waitv's own limit (FUTEX_WAITV_MAX).
inline constexpr std::size_t kMaxWaitMany = 128;

namespace detail {

// What the out-of-line code needs to know about the events' backend.
enum class ManyKind : unsigned char { futex_private, futex_shared, other };
using WaitOneFn = WaitResult (*)(const std::atomic<std::uint32_t>&, std::uint32_t, Deadline) noexcept;
inline constexpr std::size_t kNoIndex = static_cast<std::size_t>(-1);

// src/wait_many.cpp. `words`: `count` event words, 1 <= count <= kMaxWaitMany.
// all == false: the lowest index that counted as set, or kNoIndex at the deadline.
// all == true: 0 once every word counted as set, or kNoIndex at the deadline.
// `wait_one` is the backend's wait, for the slow path.
std::size_t wait_many(std::atomic<std::uint32_t>* const* words, std::size_t count, bool all, Deadline deadline,
                      ManyKind kind, WaitOneFn wait_one) noexcept;

// For tests: true makes every later call take the slow path, whatever the kernel has.
void force_waitv_fallback(bool on) noexcept;
// Whether calls on futex events take the futex_waitv path now: built for a platform
// with futex_waitv, the running kernel accepts it, and no fallback is forced.
bool futex_waitv_live() noexcept;

// Deduces the backend of an event type (Event derives from BasicEvent<DefaultWait>).
// Declared only: used in unevaluated contexts. Const events do not match: waiting
// writes the parked bit.
template <class Wait>
Wait* wait_of(BasicEvent<Wait>*);
template <class E>
concept EventLike = requires(E* event) { detail::wait_of(event); };
template <class E>
using WaitOf = std::remove_pointer_t<decltype(detail::wait_of(std::declval<E*>()))>;

template <class R>
concept EventPointerRange =
    std::ranges::input_range<R> && std::is_pointer_v<std::ranges::range_value_t<R>> &&
    EventLike<std::remove_pointer_t<std::ranges::range_value_t<R>>>;

template <class Wait>
constexpr ManyKind many_kind() noexcept {
  if constexpr (std::is_same_v<Wait, backend::Futex>) {
    return ManyKind::futex_private;
  } else if constexpr (std::is_same_v<Wait, backend::FutexShared>) {
    return ManyKind::futex_shared;
  } else {
    return ManyKind::other;
  }
}

template <class... E>
std::size_t wait_pack(bool all, Deadline deadline, E&... events) noexcept {
  static_assert(sizeof...(E) >= 1 && sizeof...(E) <= kMaxWaitMany, "fev::wait_any/wait_all take 1 to 128 events");
  using Wait = WaitOf<std::tuple_element_t<0, std::tuple<E...>>>;
  static_assert((std::is_same_v<WaitOf<E>, Wait> && ...), "all events of one call must use the same wait backend");
  std::atomic<std::uint32_t>* const words[] = {&EventAccess::word<Wait>(events)...};
  return wait_many(words, sizeof...(E), all, deadline, many_kind<Wait>(), &Wait::wait);
}

template <class R>
std::size_t wait_range(bool all, Deadline deadline, R&& events) {
  using Wait = WaitOf<std::remove_pointer_t<std::ranges::range_value_t<R>>>;
  std::atomic<std::uint32_t>* words[kMaxWaitMany];
  std::size_t count = 0;
  for (auto* event : events) {
    if (event == nullptr) fail_invalid_argument("fev::wait_any/wait_all: null event pointer");
    if (count == kMaxWaitMany) fail_invalid_argument("fev::wait_any/wait_all: more than kMaxWaitMany events");
    words[count++] = &EventAccess::word<Wait>(*event);
  }
  if (count == 0) {
    if (all) return 0;  // every one of no events is set
    fail_invalid_argument("fev::wait_any: no events to wait for");
  }
  return wait_many(words, count, all, deadline, many_kind<Wait>(), &Wait::wait);
}

template <class Rep, class Period>
Deadline many_deadline(const std::chrono::duration<Rep, Period>& timeout) noexcept {
  // Deadline::min(): check once, never block (a timeout of zero or below).
  return timeout <= timeout.zero() ? Deadline::min() : deadline_after(timeout);
}

inline std::optional<std::size_t> as_index(std::size_t index) noexcept {
  return index == kNoIndex ? std::nullopt : std::optional<std::size_t>(index);
}

}  // namespace detail

// ---- A pack of events. ----

/// Blocks until one of `events` counts as set; returns the lowest such index
/// (see fev/wait_many.hpp for what "set" means and how it waits).
template <class... E>
  requires(sizeof...(E) >= 1 && (detail::EventLike<E> && ...))
std::size_t wait_any(E&... events) noexcept {
  return detail::wait_pack(false, Deadline::max(), events...);
}

/// As wait_any(), waiting at most `timeout`: nullopt once it has passed and no event
/// counted as set. A timeout of zero or below checks once.
template <class Rep, class Period, class... E>
  requires(sizeof...(E) >= 1 && (detail::EventLike<E> && ...))
[[nodiscard]] std::optional<std::size_t> wait_any_for(const std::chrono::duration<Rep, Period>& timeout,
                                                       E&... events) noexcept {
  return detail::as_index(detail::wait_pack(false, detail::many_deadline(timeout), events...));
}

/// As wait_any_for(), until a time point of steady_clock or system_clock.
template <class Clock, class Duration, class... E>
  requires(sizeof...(E) >= 1 && (detail::EventLike<E> && ...))
[[nodiscard]] std::optional<std::size_t> wait_any_until(const std::chrono::time_point<Clock, Duration>& when,
                                                         E&... events) noexcept {
  return detail::as_index(detail::wait_pack(false, detail::to_deadline(when), events...));
}

/// Blocks until every one of `events` has counted as set at some moment during the call
/// (not necessarily all at once). No event is consumed (see fev/wait_many.hpp).
template <class... E>
  requires(sizeof...(E) >= 1 && (detail::EventLike<E> && ...))
void wait_all(E&... events) noexcept {
  (void)detail::wait_pack(true, Deadline::max(), events...);
}

/// As wait_all(), waiting at most `timeout`: false once it has passed and some event
/// has not counted as set. A timeout of zero or below checks once.
template <class Rep, class Period, class... E>
  requires(sizeof...(E) >= 1 && (detail::EventLike<E> && ...))
[[nodiscard]] bool wait_all_for(const std::chrono::duration<Rep, Period>& timeout, E&... events) noexcept {
  return detail::wait_pack(true, detail::many_deadline(timeout), events...) != detail::kNoIndex;
}

/// As wait_all_for(), until a time point of steady_clock or system_clock.
template <class Clock, class Duration, class... E>
  requires(sizeof...(E) >= 1 && (detail::EventLike<E> && ...))
[[nodiscard]] bool wait_all_until(const std::chrono::time_point<Clock, Duration>& when, E&... events) noexcept {
  return detail::wait_pack(true, detail::to_deadline(when), events...) != detail::kNoIndex;
}

// ---- A range of event pointers. std::invalid_argument for a null pointer, more than
// kMaxWaitMany events, or (wait_any only) none at all. ----

/// wait_any() over a range of event pointers (a std::vector<Event*>, a std::span, an
/// array): the index into the range. std::invalid_argument for a null pointer, an empty
/// range, or more than kMaxWaitMany events.
template <detail::EventPointerRange R>
std::size_t wait_any(R&& events) {
  return detail::wait_range(false, Deadline::max(), std::forward<R>(events));
}

/// wait_any_for() over a range of event pointers (see wait_any(R&&)).
template <class Rep, class Period, detail::EventPointerRange R>
[[nodiscard]] std::optional<std::size_t> wait_any_for(const std::chrono::duration<Rep, Period>& timeout, R&& events) {
  return detail::as_index(detail::wait_range(false, detail::many_deadline(timeout), std::forward<R>(events)));
}

/// wait_any_until() over a range of event pointers (see wait_any(R&&)).
template <class Clock, class Duration, detail::EventPointerRange R>
[[nodiscard]] std::optional<std::size_t> wait_any_until(const std::chrono::time_point<Clock, Duration>& when,
                                                         R&& events) {
  return detail::as_index(detail::wait_range(false, detail::to_deadline(when), std::forward<R>(events)));
}

/// wait_all() over a range of event pointers. An empty range is all-set: returns at
/// once. std::invalid_argument for a null pointer or more than kMaxWaitMany events.
template <detail::EventPointerRange R>
void wait_all(R&& events) {
  (void)detail::wait_range(true, Deadline::max(), std::forward<R>(events));
}

/// wait_all_for() over a range of event pointers (see wait_all(R&&)).
template <class Rep, class Period, detail::EventPointerRange R>
[[nodiscard]] bool wait_all_for(const std::chrono::duration<Rep, Period>& timeout, R&& events) {
  return detail::wait_range(true, detail::many_deadline(timeout), std::forward<R>(events)) != detail::kNoIndex;
}

/// wait_all_until() over a range of event pointers (see wait_all(R&&)).
template <class Clock, class Duration, detail::EventPointerRange R>
[[nodiscard]] bool wait_all_until(const std::chrono::time_point<Clock, Duration>& when, R&& events) {
  return detail::wait_range(true, detail::to_deadline(when), std::forward<R>(events)) != detail::kNoIndex;
}

}  // namespace fev
