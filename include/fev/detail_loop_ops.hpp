// SPDX-License-Identifier: MIT
// fev/detail_loop_ops.hpp — internal: what every fev::Loop awaitable and fev::Task
// share with the loop (src/loop_linux.cpp): an operation kept in the coroutine's frame,
// the loop's side of the awaitables, and the stop-token plumbing. User code includes
// fev/loop.hpp.
#pragma once

#include "fev/cxx20.hpp"  // first: below C++20, one clear error instead of many

#include <atomic>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <optional>
#include <stop_token>
#include <type_traits>
#include <utility>

#include "fev/deadline.hpp"
#include "fev/wait.hpp"

namespace fev {

class Loop;

namespace detail {

// Which futex a word's waker wakes (the flags of fev/uring.hpp's probe), or none.
enum class WordKind : std::uint8_t { private_futex, shared_futex, no_futex };
template <class Wait>
inline constexpr WordKind word_kind = std::is_same_v<Wait, backend::Futex>         ? WordKind::private_futex
                                      : std::is_same_v<Wait, backend::FutexShared> ? WordKind::shared_futex
                                                                                   : WordKind::no_futex;

// One operation of a coroutine on a loop, kept in the coroutine's frame. Completions
// carry its address (aligned to 8) plus a tag in the low bits. Touched only on the
// loop's thread.
struct alignas(8) LoopOp {
  // Runs on the loop's thread once `pending` is back to 0 (every completion reaped), or
  // when a yielded operation's turn comes.
  void (*on_done)(LoopOp&) noexcept = nullptr;
  std::uint16_t pending = 0;    // completions still to reap: the wait, its timer or relay, a cancel
  bool main_in_flight = false;  // the wait (or poll) has not completed yet
  bool cancel_sent = false;     // an IORING_OP_ASYNC_CANCEL was queued for it
  // The timer's absolute CLOCK_MONOTONIC time, as the kernel reads it while the SQE is
  // submitted (layout of struct __kernel_timespec).
  struct {
    std::int64_t sec = 0;
    std::int64_t nsec = 0;
  } when;
};

// One entry of an IORING_OP_FUTEX_WAITV array, laid out as the kernel's struct
// futex_waitv (checked in src/loop_linux.cpp). The awaiter fills `val` and `uaddr`;
// the loop fills `flags`.
struct FutexWaitvEntry {
  std::uint64_t val = 0;
  std::uint64_t uaddr = 0;
  std::uint32_t flags = 0;
  std::uint32_t reserved = 0;
};

// The loop's side of the awaitables; defined in src/loop_linux.cpp.
struct LoopAccess {
  // Queues a wait on `word` while it holds `expected` (IORING_OP_FUTEX_WAIT, linked to
  // a timeout at `deadline` unless that is Deadline::max()), or, on the fallback path,
  // a poll timer. One more on_done call will come. `relay_to_threads` (a ring's word,
  // no deadline): a wake that completes the wait also wakes one thread sleeping on the
  // word, from the kernel (see "Wakes and busy loops" at the top of this file).
  static void queue_wait(Loop& loop, LoopOp& op, const std::atomic<std::uint32_t>& word, std::uint32_t expected,
                         WordKind kind, Deadline deadline, bool relay_to_threads = false) noexcept;
  // As queue_wait, on `count` words at once (IORING_OP_FUTEX_WAITV): `entries[i]` holds
  // word i's address and expected value, `kinds[i]` its WordKind. `entries` must stay
  // put until on_done (it lives in the awaiter). Polls unless every kind has futex waits.
  static void queue_waitv(Loop& loop, LoopOp& op, FutexWaitvEntry* entries, const WordKind* kinds,
                          std::size_t count, Deadline deadline) noexcept;
  // on_done on the loop's next turn, without any I/O (let another thread finish a step).
  static void queue_yield(Loop& loop, LoopOp& op) noexcept;
  // on_done after kFallbackPoll (nothing to sleep on: poll).
  static void queue_pause(Loop& loop, LoopOp& op) noexcept;
  // From any thread (a stop callback): have the loop cancel op's wait in flight.
  static void request_cancel(Loop& loop, LoopOp& op) noexcept;
  // On the loop's thread, after the stop callback is gone: drop a pending request_cancel.
  static void forget(Loop& loop, LoopOp& op) noexcept;
  // A spawned task's frame reached its end (it is destroyed right after).
  static void task_finished(Loop& loop, void* frame) noexcept;
};

// A spawned task ended with an exception: one line on stderr with its what(), then
// std::terminate() with the exception current (the terminate handler sees it too).
[[noreturn]] void spawned_task_threw(const std::exception_ptr& exception) noexcept;

// Posts the operation's cancellation to its loop when a stop is requested.
struct CancelOnStop {
  Loop* loop;
  LoopOp* op;
  void operator()() const noexcept { LoopAccess::request_cancel(*loop, *op); }
};

// What every waiting awaitable has: its loop, the coroutine to resume, and an optional
// stop token with its callback.
class ParkedOp : protected LoopOp {
 public:
  ParkedOp(const ParkedOp&) = delete;
  ParkedOp& operator=(const ParkedOp&) = delete;

 protected:
  ParkedOp(Loop& loop, std::stop_token stop) noexcept : loop_(&loop), stop_(std::move(stop)) {}
  ~ParkedOp() { unwatch_stop(); }

  void watch_stop() noexcept {
    if (stop_.stop_possible()) on_stop_.emplace(stop_, CancelOnStop{loop_, this});
  }
  // Before resuming: the callback is gone (its destructor waits for a running one), and
  // so is whatever it posted.
  void unwatch_stop() noexcept {
    if (!on_stop_) return;
    on_stop_.reset();
    if (stop_.stop_requested()) LoopAccess::forget(*loop_, *this);
  }
  bool stop_requested() const noexcept { return stop_.stop_requested(); }

  Loop* loop_;
  std::coroutine_handle<> waiter_;
  std::stop_token stop_;
  std::optional<std::stop_callback<CancelOnStop>> on_stop_;
};

}  // namespace detail
}  // namespace fev
