// SPDX-License-Identifier: MIT
// fev/async_event.hpp — a C++20 coroutine on any executor waits on a fev::Event.
//
//   struct Pool { void schedule(std::coroutine_handle<> coroutine); };  // any such type
//   bool set = co_await fev::async_wait(pool, event);        // true once set
//   bool set = co_await fev::async_wait(pool, event, stop);  // false once stop is requested
//
// An executor is any object with `schedule(std::coroutine_handle<>)` (fev::Executor):
// it must resume the coroutine exactly once, later, on a thread of its choosing, and
// the call to schedule() must happen-before that resumption (a queue behind a mutex
// gives that). set() posts every coroutine it releases to that coroutine's own executor
// through schedule(); it never resumes one inline, unless the executor does so itself:
// fev::inline_executor resumes in place, for callers that ask for it. An exception
// thrown by schedule(), or by moving an executor kept by value (see Lifetimes), calls
// std::terminate() (set() is noexcept).
//
// Guarantees:
//  - Python's semantics, as Event::wait(std::stop_token): true iff the event was set
//    when the co_await began, or a set() happened while it waited (even if clear()
//    followed at once, and even if a stop was requested too); false once a stop is
//    requested while the event is not set. Threads, fev::Loop's coroutines and these
//    coroutines may wait on one event at the same time.
//  - Each co_await resumes its coroutine exactly once: the set() that takes its node and
//    a stop request decide who resumes it in one step (removing the node from the side
//    table under the bucket's lock); the loser never touches the node again. A co_await
//    that finds the outcome while it registers (the event already set, or a stop already
//    requested) does not suspend: the coroutine goes on in place.
//  - The coroutine is resumed only after the stop callback is gone (await_resume
//    destroys it first; std::stop_callback's destructor waits for a callback running on
//    another thread), so a late request_stop() never touches a finished wait.
//  - Memory ordering: everything a thread did before the set() that released a
//    co_await happens-before the code after that co_await returns true.
//
// Lifetimes:
//  - the event must outlive every co_await on it: destroying an in-process event while
//    a coroutine waits on it is a fatal error (one line on stderr, then abort), which
//    the event's destructor detects from the word;
//  - an executor passed as an lvalue is referred to, and must outlive the schedule()
//    call that posts the coroutine (that call may still be running on set()'s thread
//    after the coroutine has resumed elsewhere and finished); one passed as an rvalue
//    is moved into the awaitable, and moved again, out of the coroutine's frame onto
//    the stack of the set() or stop request that posts it, before its schedule() is
//    called on that copy: the frame may be freed as soon as the coroutine is queued;
//  - destroying a coroutine while it waits here is safe only when no set() and no stop
//    request races with it (its node is taken out of the table; a set() that already
//    took it would post a destroyed coroutine).
//
// Only in-process events (fev::Event, BasicEvent on a private backend): the side table
// is per process. A SharedEvent is refused at compile time; fev::Loop (fev/loop.hpp)
// waits on those through the futex word itself.
//
// No timeouts here (async_wait_for/async_wait_until): they would need a timer; use a
// stop token that a timer of yours requests, or fev::Loop's timed forms.
//
// How, and what it costs: the Event stays one 32-bit word. A waiting coroutine keeps a
// node in its own frame (inside this awaitable) and puts it in a side table keyed by
// the word's address (a fixed array of buckets, each a mutex and an intrusive list;
// src/async_waiters.cpp); then it adds the word's kAsyncWaiters bit with a CAS, only
// while the event is not set and its generation has not moved (else it takes its node
// back and goes on without suspending). set() already reads the word in its one CAS: with
// the bit clear it costs nothing more; with the bit set it makes the CAS under the
// bucket's lock, takes every node of the word, and posts them after unlocking, one
// after another, so releasing 10^5 coroutines needs no recursion. A wait costs one lock
// to register and one to take; a stop token adds a std::stop_callback.
#pragma once

#include "fev/cxx20.hpp"  // first: below C++20, one clear error instead of many

#include <atomic>
#include <concepts>
#include <coroutine>
#include <cstdint>
#include <memory>
#include <optional>
#include <stop_token>
#include <type_traits>
#include <utility>

#include "fev/event.hpp"
#include "fev/event_access.hpp"
#include "fev/wait.hpp"

namespace fev {

/// Anything a coroutine can be posted to: `executor.schedule(coroutine)` resumes the
/// coroutine exactly once, later, on a thread of the executor's choosing; the call
/// happens-before the resumption.
template <class E>
concept Executor = requires(E& executor, std::coroutine_handle<> coroutine) { executor.schedule(coroutine); };

/// The executor that resumes in place: schedule() runs the coroutine on the calling
/// thread (inside set(), for a coroutine that set() releases) before it returns. It does
/// not nest: a schedule() made while this thread is already inside inline_executor's
/// schedule() (a coroutine resumed here sets another event) queues the coroutine, and the
/// outermost schedule() resumes it after the current one suspends or ends; so a chain of
/// 10^5 coroutines, each setting the event of the next, runs at constant stack depth.
class inline_executor {
 public:
  /// Resumes `coroutine` on this thread before returning (after the ones queued ahead
  /// of it when called from inside another inline resumption).
  void schedule(std::coroutine_handle<> coroutine) noexcept;
};

namespace detail {

// One waiting coroutine's entry in the side table. Lives in the awaitable, hence in the
// coroutine's frame. Every field but the first four is read and written under the
// lock of the bucket of `address` only.
struct AsyncWaiter {
  enum class State : std::uint8_t {
    waiting,    // in the table
    taken,      // taken by set(): resumed with true
    cancelled,  // taken by the stop callback: the result is read from the word
    withdrawn,  // taken back by the waiter itself: the word released it while it registered
  };
  std::atomic<std::uint32_t>* address = nullptr;  // the event's word
  std::coroutine_handle<> coroutine;
  void* executor = nullptr;
  void (*post)(void* executor, std::coroutine_handle<> coroutine) noexcept = nullptr;
  AsyncWaiter* prev = nullptr;
  AsyncWaiter* next = nullptr;
  State state = State::waiting;
  // Between insert() and armed(): the waiter has not decided yet whether it suspends,
  // so whoever takes the node leaves the resumption to it (armed() reports the state).
  bool arming = false;
};

// The side table (src/async_waiters.cpp).
struct AsyncWaiters {
  // Puts the node in its bucket's list, waiting and arming.
  static void insert(AsyncWaiter& node) noexcept;
  // Ends arming; with `withdraw`, takes the node back if it is still waiting (and
  // clears kAsyncWaiters when no other node of the word is left). Returns
  // its state: waiting means someone else will take it and post its coroutine.
  static AsyncWaiter::State armed(AsyncWaiter& node, bool withdraw) noexcept;
  // The stop callback (or the destruction of a suspended waiter, `post` false): takes
  // the node if it is still waiting, clears kAsyncWaiters when no other node of the word
  // is left, and posts the coroutine unless it is arming or `post` is false.
  static void cancel(AsyncWaiter& node, bool post) noexcept;
  // For tests: how many set() calls took the side table's path.
  static std::uint64_t slow_sets() noexcept;
};

template <class Ex, class Wait>
class AsyncEventWait {
  static_assert(!detail::process_shared<Wait>,
                "fev::async_wait(executor, event) waits on in-process events only (its side table is per "
                "process); wait on a SharedEvent with fev::Loop (fev/loop.hpp)");
  using Executor = std::remove_reference_t<Ex>;
  using State = AsyncWaiter::State;

 public:
  template <class E>
  AsyncEventWait(E&& executor, BasicEvent<Wait>& event, std::stop_token stop) noexcept(
      std::is_nothrow_constructible_v<Ex, E&&>)
      : executor_(std::forward<E>(executor)), word_(EventAccess::word(event)), stop_(std::move(stop)) {}
  AsyncEventWait(const AsyncEventWait&) = delete;
  AsyncEventWait& operator=(const AsyncEventWait&) = delete;
  // A coroutine destroyed while it waits here: its node leaves the table.
  ~AsyncEventWait() {
    if (!suspended_ || resumed_) return;
    on_stop_.reset();
    AsyncWaiters::cancel(node_, false);
  }

  bool await_ready() noexcept {
    entry_ = word_.load(std::memory_order_acquire);  // pairs with set()'s release
    return (entry_ & EventBits::kSet) != 0 || stop_.stop_requested();
  }

  bool await_suspend(std::coroutine_handle<> coroutine) noexcept {
    suspended_ = true;
    node_.address = &word_;
    node_.coroutine = coroutine;
    node_.executor = std::addressof(executor_);
    node_.post = &post_to;
    AsyncWaiters::insert(node_);
    // Announce the node in the word, only while no set() has released this waiter: a
    // set() whose CAS comes after this one sees the bit and takes the node (it is in the
    // table already); one whose CAS came before makes this CAS see the release. The word
    // is read again after the insert: a bit seen in `entry_` (another waiter's) may have
    // been taken away since by a set() that came before our node was in the table
    // (model/async_event.pml found that lost wakeup). A bit seen from here on stays
    // until a set() takes our node with it: a cancellation clears it only when no node
    // of the word is left, and ours is there. acquire: pairs with set()'s release when
    // the value read releases us.
    bool released = false;
    std::uint32_t seen = word_.load(std::memory_order_acquire);
    for (;;) {
      if (released_since(seen)) {
        released = true;
        break;
      }
      if (seen & EventBits::kAsyncWaiters) break;
      // acquire (both): on failure the new value may be the set() we return true for.
      // The bit itself publishes nothing: the node was published by the bucket's lock.
      if (word_.compare_exchange_weak(seen, seen | EventBits::kAsyncWaiters, std::memory_order_acquire,
                                      std::memory_order_acquire))
        break;
    }
    // The callback may run right here (a stop already requested): it takes the node but
    // leaves the resumption to armed()'s answer, as a set() does while we arm.
    if (!released && stop_.stop_possible()) on_stop_.emplace(stop_, CancelOnStop{this});
    // After armed() says waiting, the coroutine may already run elsewhere: no member
    // of this awaitable may be touched any more.
    return AsyncWaiters::armed(node_, released) == State::waiting;
  }

  bool await_resume() noexcept {
    resumed_ = true;
    on_stop_.reset();  // waits for a callback running on another thread
    // Decided in await_ready: set, or stopped (a set() since the first read still counts).
    // acquire: pairs with set()'s release.
    if (!suspended_) return (entry_ & EventBits::kSet) != 0 || released_since(word_.load(std::memory_order_acquire));
    switch (node_.state) {
      case State::taken:
      case State::withdrawn:
        return true;
      case State::cancelled:
      case State::waiting:
        break;
    }
    // Cancelled: a set() that came first still counts. acquire: pairs with its release.
    return released_since(word_.load(std::memory_order_acquire));
  }

 private:
  struct CancelOnStop {
    AsyncEventWait* self;
    void operator()() const noexcept { AsyncWaiters::cancel(self->node_, true); }
  };

  // As BasicEvent::released: set, or a set() happened since the co_await began.
  bool released_since(std::uint32_t now) const noexcept {
    return (now & EventBits::kSet) != 0 ||
           (now & EventBits::kGenerationMask) != (entry_ & EventBits::kGenerationMask);
  }

  // Called by set() or the stop callback, while the coroutine is still suspended and
  // before anyone can resume it: schedule() makes it resumable, and from then on its
  // frame, this awaitable included, may be freed on another thread while schedule() is
  // still running. So an executor kept by value is first moved out of the frame onto
  // this call's stack, and schedule() runs on that copy; an lvalue executor is the
  // caller's own object, which must outlive the call.
  static void post_to(void* executor, std::coroutine_handle<> coroutine) noexcept {
    if constexpr (std::is_lvalue_reference_v<Ex>) {
      static_cast<Executor*>(executor)->schedule(coroutine);
    } else {
      Executor out_of_the_frame(std::move(*static_cast<Executor*>(executor)));
      out_of_the_frame.schedule(coroutine);
    }
  }

  Ex executor_;
  std::atomic<std::uint32_t>& word_;
  std::stop_token stop_;
  std::optional<std::stop_callback<CancelOnStop>> on_stop_;
  AsyncWaiter node_;
  std::uint32_t entry_ = 0;  // the word as first read: this waiter's generation
  bool suspended_ = false;   // await_suspend ran (the node went into the table)
  bool resumed_ = false;     // await_resume ran
};

}  // namespace detail

/// co_await: true once `event` is set (or a set() happened while waiting, as
/// Event::wait), false once a stop is requested on `stop` while it is not set. The
/// coroutine is resumed through `executor.schedule()`, never inside set() (unless the
/// executor resumes in place, as fev::inline_executor does). An lvalue executor is
/// referred to; an rvalue one is moved into the awaitable. In-process events only.
/// Guarantees, lifetimes and cost: the comment at the top of fev/async_event.hpp.
template <class E, class Wait>
  requires Executor<std::remove_cvref_t<E>>
[[nodiscard]]
detail::AsyncEventWait<std::conditional_t<std::is_lvalue_reference_v<E>, E, std::remove_cvref_t<E>>, Wait> async_wait(
    E&& executor, BasicEvent<Wait>& event, std::stop_token stop = {}) {
  return {std::forward<E>(executor), event, std::move(stop)};
}

}  // namespace fev
