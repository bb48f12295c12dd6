// SPDX-License-Identifier: MIT
/// \file
/// fev/loop_wait_any.hpp — a coroutine on a fev::Loop waits until any one of several
/// events is set: fev::wait_any (fev/wait_many.hpp) for coroutines.
///
/// ```
///   co_await async_wait_any(loop, Event&...)                       -> std::size_t
///   co_await async_wait_any(loop, stop, Event&...)                 -> std::optional<std::size_t>
///   co_await async_wait_any_for(loop, timeout, [stop,] Event&...)  -> std::optional<std::size_t>
///   co_await async_wait_any_until(loop, when, [stop,] Event&...)   -> std::optional<std::size_t>
/// ```
///
/// Each also takes a range of event pointers in place of the pack (a std::vector<Event*>,
/// a std::span, an array), at most kMaxWaitMany of them; a null pointer, an empty range or
/// too many events are std::invalid_argument, from the call that builds the awaitable.
/// The answer is the one fev::wait_any gives: the lowest index that counted as set when
/// the coroutine last looked ("set" as for Event::wait: a set() during the wait counts
/// even if clear() undid it at once). nullopt once the deadline has passed or a stop was
/// requested on `stop` and no event counted as set. A timeout of zero or below checks
/// once without suspending; an event already set answers without suspending. The events
/// may mix backends (Event, SharedEvent), one kind per entry.
///
/// How: the steps of the thread form's fast path. The coroutine reads every word once
/// (its entry values), sets the "parked" bit on each (fev/event_access.hpp), and queues
/// one IORING_OP_FUTEX_WAITV on all of them with the values it wrote, linked to an
/// IORING_OP_LINK_TIMEOUT when there is a deadline. A set() of any of them wakes the
/// request; the loop reaps it and the coroutine re-reads every word on the loop's thread.
/// A stop_token cancels through IORING_OP_ASYNC_CANCEL, as for async_wait. Without futex
/// waits in io_uring (Loop::futex_waits() false, or an event whose backend has no futex)
/// it polls every kFallbackPoll, as every other wait of the loop then does.
///
/// Lifetimes: as in fev/loop.hpp. The futex_waitv array lives in the awaitable, in the
/// coroutine frame, until the request's completion has been reaped. While the coroutine
/// is suspended, each in-process Event it waits on is registered by address (as for
/// async_wait(loop, event)): destroying one of them then stops the program with one line
/// on stderr (abort) instead of letting the kernel's request or the coroutine touch freed
/// memory. The awaitable holds about 65 bytes per event of a pack, and about 8.3 KiB for a
/// range (kMaxWaitMany places); no allocation.
///
/// Memory ordering: as for fev::wait_any: everything a thread did before a set() that
/// made event i count as set happens-before the code after the co_await that returned i.
#pragma once

#include "fev/cxx20.hpp"  // first: below C++20, one clear error instead of many

#include <atomic>
#include <chrono>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <ranges>
#include <stop_token>
#include <type_traits>
#include <utility>

#include "fev/deadline.hpp"
#include "fev/detail_error.hpp"
#include "fev/event.hpp"
#include "fev/event_access.hpp"
#include "fev/loop.hpp"
#include "fev/wait_many.hpp"

namespace fev {
namespace detail {

// Room for `Capacity` events: a pack's size, or kMaxWaitMany for a range.
template <std::size_t Capacity>
class WaitAnyAwaiter : private ParkedOp {
 public:
  template <class... E>
    requires(sizeof...(E) == Capacity && (EventLike<E> && ...))
  WaitAnyAwaiter(Loop& loop, Deadline deadline, std::stop_token stop, E&... events) noexcept
      : ParkedOp(loop, std::move(stop)),
        deadline_(deadline),
        count_(Capacity),
        words_{&EventAccess::word<WaitOf<E>>(events)...},
        kinds_{word_kind<WaitOf<E>>...},
        in_process_{!process_shared<WaitOf<E>>...} {
    on_done = &WaitAnyAwaiter::done;
  }

  template <EventPointerRange R>
  WaitAnyAwaiter(Loop& loop, Deadline deadline, std::stop_token stop, R&& events)
      : ParkedOp(loop, std::move(stop)), deadline_(deadline) {
    static_assert(Capacity == kMaxWaitMany, "a range of events goes to an awaiter with kMaxWaitMany places");
    using Wait = WaitOf<std::remove_pointer_t<std::ranges::range_value_t<R>>>;
    for (auto* event : events) {
      if (event == nullptr) fail_invalid_argument("fev::async_wait_any: null event pointer");
      if (count_ == kMaxWaitMany) fail_invalid_argument("fev::async_wait_any: more than kMaxWaitMany events");
      kinds_[count_] = word_kind<Wait>;
      in_process_[count_] = !process_shared<Wait>;
      words_[count_++] = &EventAccess::word<Wait>(*event);
    }
    if (count_ == 0) fail_invalid_argument("fev::async_wait_any: no events to wait for");
    on_done = &WaitAnyAwaiter::done;
  }

  bool await_ready() noexcept {
    for (std::size_t i = 0; i < count_; ++i) {
      // acquire: pairs with set()'s release, for an event that is set on entry.
      entry_[i] = seen_[i] = words_[i]->load(std::memory_order_acquire);
    }
    if (scan()) return true;
    return passed() || stop_requested();  // a zero timeout checks once
  }
  bool await_suspend(std::coroutine_handle<> waiter) noexcept {
    waiter_ = waiter;
    watch_stop();
    if (arm()) return true;
    unwatch_stop();
    return false;  // decided without waiting: resume now
  }
  /// The lowest index that counted as set; nullopt at the deadline or on a stop.
  std::optional<std::size_t> await_resume() const noexcept {
    return found_ == kNoIndex ? std::nullopt : std::optional<std::size_t>(found_);
  }

  // A frame destroyed while its wait is in flight (~Loop) leaves the registry.
  ~WaitAnyAwaiter() { unregister_all(); }
  WaitAnyAwaiter(const WaitAnyAwaiter&) = delete;
  WaitAnyAwaiter& operator=(const WaitAnyAwaiter&) = delete;

 protected:
  std::size_t found() const noexcept { return found_; }

 private:
  bool passed() const noexcept { return deadline_ != Deadline::max() && std::chrono::steady_clock::now() >= deadline_; }

  // In-process events refuse to be destroyed under a registered wait (fev/event.hpp).
  // Registered once, when the first request is queued; left when the coroutine resumes
  // or its frame goes away.
  void register_all() noexcept {
    if (registered_) return;
    registered_ = true;
    for (std::size_t i = 0; i < count_; ++i) {
      if (in_process_[i]) register_loop_event_wait(registrations_[i], words_[i]);
    }
  }
  void unregister_all() noexcept {
    if (!registered_) return;
    registered_ = false;
    for (std::size_t i = 0; i < count_; ++i) unregister_loop_event_wait(registrations_[i]);
  }

  void reload() noexcept {
    // acquire: pairs with set()'s release (directly, or through clear()'s RMW).
    for (std::size_t i = 0; i < count_; ++i) seen_[i] = words_[i]->load(std::memory_order_acquire);
  }

  // The lowest index whose last read value releases this waiter, into found_.
  bool scan() noexcept {
    for (std::size_t i = 0; i < count_; ++i) {
      if (EventAccess::released(entry_[i], seen_[i])) {
        found_ = i;
        return true;
      }
    }
    return false;
  }

  // Announces "parked" on every word and queues the wait on the values written: true;
  // or decides (found_ set, or deadline / stop with found_ unset): false.
  bool arm() noexcept {
    for (std::size_t i = 0; i < count_; ++i) {
      if (!EventAccess::announce_parked(*words_[i], entry_[i], seen_[i])) {
        // Word i releases us: look at them all again for the lowest index, as the
        // thread form does; word i counted as set in any case.
        reload();
        if (!scan()) found_ = i;
        return false;
      }
    }
    if (passed() || stop_requested()) return false;
    for (std::size_t i = 0; i < count_; ++i) {
      // The kernel wants the address of the 32-bit value; std::atomic<uint32_t> is a
      // standard-layout wrapper around exactly that value.
      waitv_[i].uaddr = reinterpret_cast<std::uintptr_t>(words_[i]);
      waitv_[i].val = seen_[i];
    }
    register_all();
    LoopAccess::queue_waitv(*loop_, *this, waitv_, kinds_, count_, deadline_);
    return true;
  }

  static void done(LoopOp& op) noexcept {
    auto& self = static_cast<WaitAnyAwaiter&>(op);
    self.reload();
    if (!self.scan() && self.arm()) return;  // a stale wake or a poll: waiting again
    self.unregister_all();
    self.unwatch_stop();
    self.waiter_.resume();  // the frame (and this awaiter) may be gone after this
  }

  Deadline deadline_;
  std::size_t count_ = 0;
  std::size_t found_ = kNoIndex;
  std::atomic<std::uint32_t>* words_[Capacity] = {};
  WordKind kinds_[Capacity] = {};
  bool in_process_[Capacity] = {};       // the event's destructor checks the registry
  bool registered_ = false;              // registrations_ are in the registry
  std::uint32_t entry_[Capacity] = {};  // the words as first read: this waiter's generations
  std::uint32_t seen_[Capacity] = {};   // the last values read (or written by announcing)
  FutexWaitvEntry waitv_[Capacity];     // the kernel's copy source; kept until on_done
  LoopEventWait registrations_[Capacity];  // while the coroutine is suspended
};

// The forms without deadline and stop always end with an index.
template <std::size_t Capacity>
class WaitAnyIndexAwaiter : public WaitAnyAwaiter<Capacity> {
 public:
  using WaitAnyAwaiter<Capacity>::WaitAnyAwaiter;
  std::size_t await_resume() const noexcept { return this->found(); }
};

}  // namespace detail

// ---- A pack of events. `loop` is the loop that runs the awaiting coroutine. ----

/// co_await: the lowest index of `events` that counted as set (see fev/loop_wait_any.hpp).
template <class... E>
  requires(sizeof...(E) >= 1 && sizeof...(E) <= kMaxWaitMany && (detail::EventLike<E> && ...))
[[nodiscard]] detail::WaitAnyIndexAwaiter<sizeof...(E)> async_wait_any(Loop& loop, E&... events) noexcept {
  return {loop, Deadline::max(), std::stop_token{}, events...};
}

/// co_await: as async_wait_any(), or nullopt once a stop is requested on `stop` while no
/// event counts as set.
template <class... E>
  requires(sizeof...(E) >= 1 && sizeof...(E) <= kMaxWaitMany && (detail::EventLike<E> && ...))
[[nodiscard]]
detail::WaitAnyAwaiter<sizeof...(E)> async_wait_any(Loop& loop, std::stop_token stop, E&... events) noexcept {
  return {loop, Deadline::max(), std::move(stop), events...};
}

/// co_await: as async_wait_any(), or nullopt once `timeout` has passed (no earlier) and
/// no event counted as set. A timeout of zero or below checks once.
template <class Rep, class Period, class... E>
  requires(sizeof...(E) >= 1 && sizeof...(E) <= kMaxWaitMany && (detail::EventLike<E> && ...))
[[nodiscard]]
detail::WaitAnyAwaiter<sizeof...(E)> async_wait_any_for(Loop& loop, const std::chrono::duration<Rep, Period>& timeout,
                                                        E&... events) noexcept {
  return {loop, detail::many_deadline(timeout), std::stop_token{}, events...};
}

/// co_await: as async_wait_any_for(), and nullopt once a stop is requested on `stop`.
template <class Rep, class Period, class... E>
  requires(sizeof...(E) >= 1 && sizeof...(E) <= kMaxWaitMany && (detail::EventLike<E> && ...))
[[nodiscard]]
detail::WaitAnyAwaiter<sizeof...(E)> async_wait_any_for(Loop& loop, const std::chrono::duration<Rep, Period>& timeout,
                                                        std::stop_token stop, E&... events) noexcept {
  return {loop, detail::many_deadline(timeout), std::move(stop), events...};
}

/// co_await: as async_wait_any_for(), until a time point of steady_clock or system_clock.
template <class Clock, class Duration, class... E>
  requires(sizeof...(E) >= 1 && sizeof...(E) <= kMaxWaitMany && (detail::EventLike<E> && ...))
[[nodiscard]] detail::WaitAnyAwaiter<sizeof...(E)> async_wait_any_until(Loop& loop,
                                                          const std::chrono::time_point<Clock, Duration>& when,
                                                          E&... events) noexcept {
  return {loop, detail::to_deadline(when), std::stop_token{}, events...};
}

/// co_await: as async_wait_any_until(), and nullopt once a stop is requested on `stop`.
template <class Clock, class Duration, class... E>
  requires(sizeof...(E) >= 1 && sizeof...(E) <= kMaxWaitMany && (detail::EventLike<E> && ...))
[[nodiscard]] detail::WaitAnyAwaiter<sizeof...(E)> async_wait_any_until(Loop& loop,
                                                          const std::chrono::time_point<Clock, Duration>& when,
                                                          std::stop_token stop, E&... events) noexcept {
  return {loop, detail::to_deadline(when), std::move(stop), events...};
}

// ---- A range of event pointers: the index into the range. std::invalid_argument for a
// null pointer, an empty range or more than kMaxWaitMany events. The range is read
// once, by the call. ----

/// async_wait_any() over a range of event pointers.
template <detail::EventPointerRange R>
[[nodiscard]] detail::WaitAnyIndexAwaiter<kMaxWaitMany> async_wait_any(Loop& loop, R&& events) {
  return {loop, Deadline::max(), std::stop_token{}, std::forward<R>(events)};
}

/// async_wait_any(loop, stop, ...) over a range of event pointers.
template <detail::EventPointerRange R>
[[nodiscard]] detail::WaitAnyAwaiter<kMaxWaitMany> async_wait_any(Loop& loop, std::stop_token stop, R&& events) {
  return {loop, Deadline::max(), std::move(stop), std::forward<R>(events)};
}

/// async_wait_any_for() over a range of event pointers.
template <class Rep, class Period, detail::EventPointerRange R>
[[nodiscard]]
detail::WaitAnyAwaiter<kMaxWaitMany> async_wait_any_for(Loop& loop, const std::chrono::duration<Rep, Period>& timeout,
                                                        R&& events) {
  return {loop, detail::many_deadline(timeout), std::stop_token{}, std::forward<R>(events)};
}

/// async_wait_any_for(loop, timeout, stop, ...) over a range of event pointers.
template <class Rep, class Period, detail::EventPointerRange R>
[[nodiscard]]
detail::WaitAnyAwaiter<kMaxWaitMany> async_wait_any_for(Loop& loop, const std::chrono::duration<Rep, Period>& timeout,
                                                        std::stop_token stop, R&& events) {
  return {loop, detail::many_deadline(timeout), std::move(stop), std::forward<R>(events)};
}

/// async_wait_any_until() over a range of event pointers.
template <class Clock, class Duration, detail::EventPointerRange R>
[[nodiscard]] detail::WaitAnyAwaiter<kMaxWaitMany> async_wait_any_until(Loop& loop,
                                                          const std::chrono::time_point<Clock, Duration>& when,
                                                          R&& events) {
  return {loop, detail::to_deadline(when), std::stop_token{}, std::forward<R>(events)};
}

/// async_wait_any_until(loop, when, stop, ...) over a range of event pointers.
template <class Clock, class Duration, detail::EventPointerRange R>
[[nodiscard]] detail::WaitAnyAwaiter<kMaxWaitMany> async_wait_any_until(Loop& loop,
                                                          const std::chrono::time_point<Clock, Duration>& when,
                                                          std::stop_token stop, R&& events) {
  return {loop, detail::to_deadline(when), std::move(stop), std::forward<R>(events)};
}

}  // namespace fev
