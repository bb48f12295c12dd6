// SPDX-License-Identifier: MIT
// fev/loop_event.hpp — a coroutine on a fev::Loop waits on a fev::Event or
// fev::AutoResetEvent: async_wait(loop, event[, stop]), async_wait_for, async_wait_until.
// The coroutine is resumed by the loop, on the loop's thread, from the loop's own turn,
// never inside the set() of another thread. How, lifetimes and the memory ordering: the
// comment at the top of fev/loop.hpp, which includes this header.
#pragma once

#include "fev/cxx20.hpp"  // first: below C++20, one clear error instead of many

#include <atomic>
#include <chrono>
#include <coroutine>
#include <cstdint>
#include <stop_token>
#include <utility>

#include "fev/auto_reset_event_access.hpp"
#include "fev/deadline.hpp"
#include "fev/detail_loop_ops.hpp"
#include "fev/detail_loop_waits.hpp"
#include "fev/event.hpp"
#include "fev/event_access.hpp"
#include "fev/wait.hpp"

namespace fev {
namespace detail {

// ---- Events ----
template <class Wait>
class EventWaitAwaiter : private ParkedOp {
 public:
  EventWaitAwaiter(Loop& loop, BasicEvent<Wait>& event, Deadline deadline, std::stop_token stop) noexcept
      : ParkedOp(loop, std::move(stop)), word_(EventAccess::word(event)), deadline_(deadline) {
    on_done = &EventWaitAwaiter::done;
  }

  bool await_ready() noexcept {
    entry_ = word_.load(std::memory_order_acquire);  // pairs with set()'s release
    if (entry_ & EventAccess::kSet) {
      result_ = true;
      return true;
    }
    result_ = false;
    return passed() || stop_requested();  // a zero timeout checks once
  }
  bool await_suspend(std::coroutine_handle<> waiter) noexcept {
    waiter_ = waiter;
    watch_stop();
    if (arm(entry_)) return true;
    unwatch_stop();
    return false;  // decided without waiting: resume now
  }
  bool await_resume() const noexcept { return result_; }

  // A frame destroyed while its wait is in flight (~Loop) leaves the registry.
  ~EventWaitAwaiter() { unregister_loop_event_wait(registration_); }
  EventWaitAwaiter(const EventWaitAwaiter&) = delete;
  EventWaitAwaiter& operator=(const EventWaitAwaiter&) = delete;

 private:
  bool passed() const noexcept { return deadline_ != Deadline::max() && std::chrono::steady_clock::now() >= deadline_; }

  // Parks on the word (EventAccess steps 2 and 3) and queues the wait: true; or decides
  // (result_ set): false.
  bool arm(std::uint32_t seen) noexcept {
    if (!EventAccess::announce_parked(word_, entry_, seen)) {
      result_ = true;
      return false;
    }
    if (passed() || stop_requested()) {
      result_ = false;
      return false;
    }
    // In-process events refuse to be destroyed under a registered wait (fev/event.hpp).
    if (!process_shared<Wait> && registration_.address == nullptr) register_loop_event_wait(registration_, &word_);
    LoopAccess::queue_wait(*loop_, *this, word_, seen, word_kind<Wait>, deadline_);
    return true;
  }

  static void done(LoopOp& op) noexcept {
    auto& self = static_cast<EventWaitAwaiter&>(op);
    // acquire: pairs with set()'s release, directly or through the RMWs after it.
    const std::uint32_t seen = self.word_.load(std::memory_order_acquire);
    if (EventAccess::released(self.entry_, seen)) {
      self.result_ = true;
    } else if (self.arm(seen)) {
      return;  // a stale wake or a poll: waiting again
    }
    unregister_loop_event_wait(self.registration_);
    self.unwatch_stop();
    self.waiter_.resume();  // the frame (and this awaiter) may be gone after this
  }

  std::atomic<std::uint32_t>& word_;
  Deadline deadline_;
  std::uint32_t entry_ = 0;  // the word as first read: this waiter's generation
  bool result_ = false;
  LoopEventWait registration_;  // while a wait on the word is in flight
};

// ---- Auto-reset events: BasicAutoResetEvent::wait_slow for a coroutine
// (fev/auto_reset_event_access.hpp's steps). ----
template <class Wait>
class AutoResetWaitAwaiter : private ParkedOp {
  using Access = AutoResetEventAccess;

 public:
  AutoResetWaitAwaiter(Loop& loop, BasicAutoResetEvent<Wait>& event, Deadline deadline, std::stop_token stop) noexcept
      : ParkedOp(loop, std::move(stop)), event_(event), word_(Access::word(event)), deadline_(deadline) {
    on_done = &AutoResetWaitAwaiter::done;
  }
  // A frame destroyed while registered (its loop went away): unregister; a signal taken
  // on the way out is given back.
  ~AutoResetWaitAwaiter() {
    if (registered_ && Access::leave(word_)) event_.set();
  }

  bool await_ready() noexcept {
    result_ = event_.try_wait();
    return result_ || passed() || stop_requested();  // a zero timeout checks once
  }
  bool await_suspend(std::coroutine_handle<> waiter) noexcept {
    waiter_ = waiter;
    watch_stop();
    seen_ = word_.load(std::memory_order_relaxed);  // only a starting value for the CAS
    if (Access::take_or_register(word_, seen_)) {
      result_ = true;
    } else {
      registered_ = true;
      if (!step()) return true;
    }
    unwatch_stop();
    return false;
  }
  bool await_resume() const noexcept { return result_; }

 private:
  bool passed() const noexcept { return deadline_ != Deadline::max() && std::chrono::steady_clock::now() >= deadline_; }

  // Registered, with seen_ the last value read: takes the signal, gives up (deadline,
  // stop: leaving still takes a signal that is there), or queues the wait (false).
  bool step() noexcept {
    for (;;) {
      if (seen_ & Access::kSignaled) {
        registered_ = false;
        if ((result_ = Access::leave(word_))) return true;
        // Another waiter took it first: register again.
        seen_ = word_.load(std::memory_order_relaxed);
        if ((result_ = Access::take_or_register(word_, seen_))) return true;
        registered_ = true;
        continue;
      }
      if (passed() || stop_requested()) {
        registered_ = false;
        result_ = Access::leave(word_);
        return true;
      }
      LoopAccess::queue_wait(*loop_, *this, word_, seen_, word_kind<Wait>, deadline_);
      return false;
    }
  }

  static void done(LoopOp& op) noexcept {
    auto& self = static_cast<AutoResetWaitAwaiter&>(op);
    self.seen_ = self.word_.load(std::memory_order_relaxed);  // leave()'s CAS acquires the signal
    if (!self.step()) return;
    self.unwatch_stop();
    self.waiter_.resume();  // the frame (and this awaiter) may be gone after this
  }

  BasicAutoResetEvent<Wait>& event_;
  std::atomic<std::uint32_t>& word_;
  Deadline deadline_;
  std::uint32_t seen_ = 0;
  bool registered_ = false;
  bool result_ = false;
};

}  // namespace detail

// ---- The awaitables. `loop` is the loop that runs the awaiting coroutine. ----
/// co_await: true once `event` is set (as Event::wait), false once a stop is requested
/// on `stop` while it is not. `loop` is the loop that runs the awaiting coroutine.
template <class Wait>
[[nodiscard]]
detail::EventWaitAwaiter<Wait> async_wait(Loop& loop, BasicEvent<Wait>& event, std::stop_token stop = {}) noexcept {
  return {loop, event, Deadline::max(), std::move(stop)};
}
/// co_await: as async_wait(), and false once `timeout` has passed (no earlier). A
/// timeout of zero or below checks once.
template <class Wait, class Rep, class Period>
[[nodiscard]] detail::EventWaitAwaiter<Wait> async_wait_for(Loop& loop, BasicEvent<Wait>& event,
                                              const std::chrono::duration<Rep, Period>& timeout,
                                              std::stop_token stop = {}) noexcept {
  // A timeout of zero or below checks once.
  return {loop, event, timeout <= timeout.zero() ? Deadline::min() : detail::deadline_after(timeout),
          std::move(stop)};
}
/// co_await: as async_wait_for(), until a time point of steady_clock or system_clock.
template <class Wait, class Clock, class Duration>
[[nodiscard]] detail::EventWaitAwaiter<Wait> async_wait_until(Loop& loop, BasicEvent<Wait>& event,
                                                const std::chrono::time_point<Clock, Duration>& when,
                                                std::stop_token stop = {}) noexcept {
  return {loop, event, detail::to_deadline(when), std::move(stop)};
}

/// Auto-reset events: true iff this waiter took a signal (each set() releases one
/// waiter, thread or coroutine); false once a stop is requested.
template <class Wait>
[[nodiscard]] detail::AutoResetWaitAwaiter<Wait> async_wait(Loop& loop, BasicAutoResetEvent<Wait>& event,
                                              std::stop_token stop = {}) noexcept {
  return {loop, event, Deadline::max(), std::move(stop)};
}
/// Auto-reset events: true iff this waiter took a signal; false once `timeout` has
/// passed or a stop is requested. A timeout of zero or below checks once.
template <class Wait, class Rep, class Period>
[[nodiscard]] detail::AutoResetWaitAwaiter<Wait> async_wait_for(Loop& loop, BasicAutoResetEvent<Wait>& event,
                                                  const std::chrono::duration<Rep, Period>& timeout,
                                                  std::stop_token stop = {}) noexcept {
  return {loop, event, timeout <= timeout.zero() ? Deadline::min() : detail::deadline_after(timeout),
          std::move(stop)};
}
/// Auto-reset events: as async_wait_for(), until a time point of steady_clock or
/// system_clock.
template <class Wait, class Clock, class Duration>
[[nodiscard]] detail::AutoResetWaitAwaiter<Wait> async_wait_until(Loop& loop, BasicAutoResetEvent<Wait>& event,
                                                    const std::chrono::time_point<Clock, Duration>& when,
                                                    std::stop_token stop = {}) noexcept {
  return {loop, event, detail::to_deadline(when), std::move(stop)};
}

}  // namespace fev
