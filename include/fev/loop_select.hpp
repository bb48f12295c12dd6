// SPDX-License-Identifier: MIT
/// \file
/// fev/loop_select.hpp — fev::select (fev/select.hpp) for a coroutine on a fev::Loop.
///
/// ```
///   co_await async_select(loop, case...)                          -> Selected
///   co_await async_select(loop, stop, case...)                    -> Selected (cancelled)
///   co_await async_select_for(loop, timeout, [stop,] case...)     -> Selected (timeout)
///   co_await async_select_until(loop, when, [stop,] case...)      -> Selected (timeout)
/// ```
///
/// The cases are fev::on_pop, fev::on_push and fev::on_set, and the answer is the one the
/// thread form gives: exactly one case performed (Status::ok), a closed ring
/// (Status::closed), or none at the deadline or on a stop. The rotation of the case tried
/// first is per thread, hence per loop. A case ready at once answers without suspending;
/// a timeout of zero or below looks once.
///
/// How: the thread form's steps, on the loop's thread. The coroutine registers as a
/// sleeper on every ring's parking word, takes issued wakes over, tries every case,
/// announces "parked" on every event's word, and queues one IORING_OP_FUTEX_WAITV on all
/// the words with the values it read (linked to a timeout when there is a deadline). A
/// push, pop, set(), close() or wake of any of them completes the request; the loop runs
/// the coroutine's next step, which re-reads every word. A stop_token cancels the request
/// (IORING_OP_ASYNC_CANCEL), as for the other awaitables. Without futex waits in io_uring
/// it polls every kFallbackPoll, as the loop's other waits then do.
///
/// Relays: when the select leaves (it fired, timed out, was cancelled, or its frame is
/// destroyed by ~Loop) it passes on every ring wake it took over and did not use, as a
/// thread does. Unlike async_pop, whose futex wait is linked to a wake of one thread, a
/// wake that completes this request while the loop runs user code reaches a thread
/// sleeping on the same ring only when the loop turns and the coroutine takes its step
/// (as for coroutines on other loops, see fev/loop.hpp).
///
/// Lifetimes: as in fev/loop.hpp. The cases' rings and events, and a pop case's `out` and
/// a push case's `value`, must outlive the co_await. A ring destroyed while the select is
/// registered on it stops the program (the ring's own check of its sleepers); an
/// in-process event destroyed under it too (the registry of fev/detail_loop_waits.hpp).
///
/// Memory ordering: as for fev::select.
#pragma once

#include "fev/cxx20.hpp"  // first: below C++20, one clear error instead of many

#include <atomic>
#include <chrono>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <stop_token>
#include <utility>

#include "fev/deadline.hpp"
#include "fev/detail_loop_ops.hpp"
#include "fev/detail_loop_waits.hpp"
#include "fev/loop.hpp"
#include "fev/select.hpp"

namespace fev {
namespace detail {

template <class... Cases>
class SelectAwaiter : private ParkedOp {
  using Set = SelectSet<Cases...>;
  static constexpr std::size_t kCount = Set::kCount;

 public:
  SelectAwaiter(Loop& loop, Deadline deadline, std::stop_token stop, const Cases&... cases) noexcept
      : ParkedOp(loop, std::move(stop)), deadline_(deadline), set_(cases...) {
    on_done = &SelectAwaiter::done;
  }
  ~SelectAwaiter() { abandon(); }
  SelectAwaiter(const SelectAwaiter&) = delete;
  SelectAwaiter& operator=(const SelectAwaiter&) = delete;

  bool await_ready() noexcept {
    if ((fired_ = set_.try_each()).index != Selected::none) return true;
    if (deadline_ == Deadline::min()) return true;  // a zero timeout looks once
    if (stop_requested()) {
      fired_ = {Selected::none, Status::cancelled};
      return true;
    }
    return false;
  }
  bool await_suspend(std::coroutine_handle<> waiter) noexcept {
    waiter_ = waiter;
    watch_stop();
    polling_ = !set_.register_all();
    registered_ = true;
    if (!advance()) return true;
    unwatch_stop();
    return false;  // decided without waiting: resume now
  }
  Selected await_resume() const noexcept { return fired_; }

 private:
  // Runs the steps until the select must wait (a request queued: false) or has decided
  // (fired_ says how, the words are left: true).
  bool advance() noexcept {
    set_.take_over_wakes();
    if ((fired_ = set_.try_each()).index != Selected::none) return finish();
    if (select_passed(deadline_)) return finish();
    if (stop_requested()) {
      fired_ = {Selected::none, Status::cancelled};
      return finish();
    }
    if (polling_) {
      LoopAccess::queue_pause(*loop_, *this);  // a word with every sleeper place taken
      return false;
    }
    if (!set_.rings_must_wait()) {
      LoopAccess::queue_yield(*loop_, *this);  // another thread is between claim and publish
      return false;
    }
    if (const std::size_t released = set_.announce_events(); released != Selected::none) {
      fired_ = {released, Status::ok};
      return finish();
    }
    std::uint32_t expected[kCount];
    set_.expected_values(expected);
    for (std::size_t i = 0; i < kCount; ++i) {
      // The kernel wants the address of the 32-bit value; std::atomic<uint32_t> is a
      // standard-layout wrapper around exactly that value.
      waitv_[i].uaddr = reinterpret_cast<std::uintptr_t>(set_.state(i).word);
      waitv_[i].val = expected[i];
      kinds_[i] = word_kind<typename Set::Wait>;
    }
    register_events();
    LoopAccess::queue_waitv(*loop_, *this, waitv_, kinds_, kCount, deadline_);
    return false;
  }

  bool finish() noexcept {
    set_.leave();
    registered_ = false;
    unregister_events();
    return true;
  }

  // A frame destroyed while registered (its loop went away after reaping its requests):
  // leave as after a cancel, taking over any wake issued meanwhile to pass it on.
  void abandon() noexcept {
    if (registered_) {
      set_.reload();
      set_.take_over_wakes();
      set_.leave();
      registered_ = false;
    }
    unregister_events();
  }

  // In-process events refuse to be destroyed under a waiting coroutine.
  void register_events() noexcept {
    if (events_registered_) return;
    events_registered_ = true;
    for (std::size_t i = 0; i < kCount; ++i) {
      if (!set_.state(i).ring) register_loop_event_wait(registrations_[i], set_.state(i).word);
    }
  }
  void unregister_events() noexcept {
    if (!events_registered_) return;
    events_registered_ = false;
    for (std::size_t i = 0; i < kCount; ++i) unregister_loop_event_wait(registrations_[i]);
  }

  static void done(LoopOp& op) noexcept {
    auto& self = static_cast<SelectAwaiter&>(op);
    self.set_.reload();
    if (!self.advance()) return;  // waiting again
    self.unwatch_stop();
    self.waiter_.resume();  // the frame (and this awaiter) may be gone after this
  }

  Deadline deadline_;
  Set set_;
  Selected fired_;
  bool polling_ = false;             // some ring word had every sleeper place taken
  bool registered_ = false;          // counted among the sleepers of the rings' words
  bool events_registered_ = false;   // registrations_ are in the registry
  FutexWaitvEntry waitv_[kCount];    // the kernel's copy source; kept until on_done
  WordKind kinds_[kCount] = {};
  LoopEventWait registrations_[kCount];  // event cases, while the coroutine is suspended
};

}  // namespace detail

/// co_await: a Selected: the case performed, or a closed ring (see fev/loop_select.hpp).
template <detail::SelectCase... Cases>
  requires(sizeof...(Cases) >= 1)
detail::SelectAwaiter<Cases...> async_select(Loop& loop, const Cases&... cases) noexcept {
  return {loop, Deadline::max(), std::stop_token{}, cases...};
}

/// co_await: as async_select(), or Status::cancelled once a stop is requested on `stop`.
template <detail::SelectCase... Cases>
  requires(sizeof...(Cases) >= 1)
detail::SelectAwaiter<Cases...> async_select(Loop& loop, std::stop_token stop, const Cases&... cases) noexcept {
  return {loop, Deadline::max(), std::move(stop), cases...};
}

/// co_await: as async_select(), or Status::timeout once `timeout` has passed (a timeout
/// of zero or below looks once).
template <class Rep, class Period, detail::SelectCase... Cases>
  requires(sizeof...(Cases) >= 1)
detail::SelectAwaiter<Cases...> async_select_for(Loop& loop, const std::chrono::duration<Rep, Period>& timeout,
                                                 const Cases&... cases) noexcept {
  return {loop, detail::many_deadline(timeout), std::stop_token{}, cases...};
}

/// co_await: as async_select_for(), and Status::cancelled once a stop is requested.
template <class Rep, class Period, detail::SelectCase... Cases>
  requires(sizeof...(Cases) >= 1)
detail::SelectAwaiter<Cases...> async_select_for(Loop& loop, const std::chrono::duration<Rep, Period>& timeout,
                                                 std::stop_token stop, const Cases&... cases) noexcept {
  return {loop, detail::many_deadline(timeout), std::move(stop), cases...};
}

/// co_await: as async_select_for(), until a time point of steady_clock or system_clock.
template <class Clock, class Duration, detail::SelectCase... Cases>
  requires(sizeof...(Cases) >= 1)
detail::SelectAwaiter<Cases...> async_select_until(Loop& loop, const std::chrono::time_point<Clock, Duration>& when,
                                                   const Cases&... cases) noexcept {
  return {loop, detail::to_deadline(when), std::stop_token{}, cases...};
}

/// co_await: as async_select_until(), and Status::cancelled once a stop is requested.
template <class Clock, class Duration, detail::SelectCase... Cases>
  requires(sizeof...(Cases) >= 1)
detail::SelectAwaiter<Cases...> async_select_until(Loop& loop, const std::chrono::time_point<Clock, Duration>& when,
                                                   std::stop_token stop, const Cases&... cases) noexcept {
  return {loop, detail::to_deadline(when), std::move(stop), cases...};
}

}  // namespace fev
