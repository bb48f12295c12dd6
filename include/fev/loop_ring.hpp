// SPDX-License-Identifier: MIT
// fev/loop_ring.hpp — a coroutine on a fev::Loop pops from and pushes to a fev::Ring:
// async_pop(loop, ring[, stop]), async_push(loop, ring, value[, stop]). The coroutine is
// resumed by the loop, on the loop's thread, from the loop's own turn, never inside the
// push() or pop() of another thread. How, lifetimes, busy loops and the memory ordering:
// the comment at the top of fev/loop.hpp, which includes this header.
#pragma once

#include "fev/cxx20.hpp"  // first: below C++20, one clear error instead of many

#include <atomic>
#include <coroutine>
#include <cstdint>
#include <new>
#include <optional>
#include <stop_token>
#include <utility>

#include "fev/detail_loop_ops.hpp"
#include "fev/ring.hpp"
#include "fev/ring_access.hpp"

namespace fev {
namespace detail {

// ---- Rings: BasicRing::block() for a coroutine (fev/ring_access.hpp's steps). ----
// Side supplies: word(), attempt() -> RingClaim, must_wait().
template <class Side>
class RingWaitAwaiter : protected ParkedOp {
 protected:
  RingWaitAwaiter(Loop& loop, std::stop_token stop) noexcept : ParkedOp(loop, std::move(stop)) {
    on_done = &RingWaitAwaiter::done;
  }
  ~RingWaitAwaiter() = default;
  // A frame destroyed while registered (its loop went away, after reaping its requests
  // without running this step): leave as after a cancel. Its request may have taken a
  // wake it never looked at, so it takes over any wake issued (step 2, which a registered
  // waiter may do at any time) and leave() passes it on. Called by Side's destructor,
  // while Side's members are still alive.
  void abandon() noexcept {
    if (!registered_) return;
    std::atomic<std::uint32_t>& word = side().word();
    seen_ = word.load(std::memory_order_relaxed);  // only a starting value for the CAS
    while (seen_ & RingAccess::kWaking) {
      // seq_cst: as advance()'s take-over, ordered before leave()'s re-check. relaxed on
      // failure: retry from the new value.
      if (word.compare_exchange_weak(seen_, seen_ & ~RingAccess::kWaking, std::memory_order_seq_cst,
                                     std::memory_order_relaxed)) {
        took_wake_ = true;
        break;
      }
    }
    (void)leave();
  }

  bool ready() noexcept {
    claim_ = side().attempt();
    if (claim_ != RingClaim::busy) return true;
    cancelled_ = stop_requested();
    return cancelled_;
  }
  bool suspend(std::coroutine_handle<> waiter) noexcept {
    waiter_ = waiter;
    watch_stop();
    seen_ = side().word().load(std::memory_order_relaxed);  // only a starting value for the CAS
    if (!advance()) return true;
    unwatch_stop();
    return false;
  }

  RingClaim claim_ = RingClaim::busy;
  bool cancelled_ = false;

 private:
  Side& side() noexcept { return static_cast<Side&>(*this); }

  // Runs the steps until the operation must wait (a request queued: false) or ends
  // (claim_/cancelled_ say how: true).
  bool advance() noexcept {
    std::atomic<std::uint32_t>& word = side().word();
    for (;;) {
      if (!registered_) {
        if ((seen_ & RingAccess::kSleepersMask) == RingAccess::kSleepersMask) {
          // Every sleeper place is taken: poll instead of registering.
          if ((claim_ = side().attempt()) != RingClaim::busy) return true;
          if ((cancelled_ = stop_requested())) return true;
          LoopAccess::queue_pause(*loop_, *this);
          return false;
        }
        // seq_cst: the registration half of the handshake (ring protocol step 5).
        // relaxed on failure: we retry from the new value.
        if (word.compare_exchange_weak(seen_, seen_ + RingAccess::kSleeperOne, std::memory_order_seq_cst,
                                       std::memory_order_relaxed)) {
          seen_ += RingAccess::kSleeperOne;
          registered_ = true;
        }
        continue;
      }
      if (seen_ & RingAccess::kWaking) {
        // Take the issued wake over (step 6). seq_cst: ordered before the re-check's
        // seq_cst loads, against a claimer's claim-then-load. relaxed on failure: retry.
        if (!word.compare_exchange_weak(seen_, seen_ & ~RingAccess::kWaking, std::memory_order_seq_cst,
                                        std::memory_order_relaxed))
          continue;
        seen_ &= ~RingAccess::kWaking;
        took_wake_ = true;
      }
      if ((claim_ = side().attempt()) != RingClaim::busy) return leave();
      if ((cancelled_ = stop_requested())) return leave();
      if (side().must_wait()) {
        LoopAccess::queue_wait(*loop_, *this, word, seen_, side().kind(), Deadline::max(), true);
      } else {
        // The other side claimed but has not published yet: let it run.
        LoopAccess::queue_yield(*loop_, *this);
      }
      return false;
    }
  }

  bool leave() noexcept {
    registered_ = false;
    // relaxed, as block()'s leave: a claimer that still counts us makes one wake that
    // finds nobody; the wake we took over is passed on from our re-check below.
    side().word().fetch_sub(RingAccess::kSleeperOne, std::memory_order_relaxed);
    // The relay, also after a cancellation: whatever the wake announced is still there.
    if (took_wake_ && !side().must_wait()) side().notify_word();
    took_wake_ = false;
    return true;
  }

  static void done(LoopOp& op) noexcept {
    auto& self = static_cast<RingWaitAwaiter&>(op);
    // The value to take over or sleep on. acquire: pairs with close()'s release bump, as
    // block()'s re-read (a bump read here makes the closed bit visible to the re-check).
    self.seen_ = self.side().word().load(std::memory_order_acquire);
    if (!self.advance()) return;
    self.unwatch_stop();
    self.waiter_.resume();  // the frame (and this awaiter) may be gone after this
  }

  std::uint32_t seen_ = 0;
  bool registered_ = false;
  bool took_wake_ = false;
};

template <class T, class W, class H>
class RingPopAwaiter;
template <class T, class W, class H>
class RingPushAwaiter;

}  // namespace detail

/// What async_pop with a stop token returns: `value` holds the value iff status is ok.
template <class T>
struct PopResult {
  Status status;  ///< ok, closed (and drained) or cancelled
  /// The value popped, iff `status` is Status::ok.
  std::optional<T> value;
};

namespace detail {

template <class T, class W, class H>
class RingPopAwaiter : public RingWaitAwaiter<RingPopAwaiter<T, W, H>> {
  using Base = RingWaitAwaiter<RingPopAwaiter<T, W, H>>;
  friend Base;

 public:
  RingPopAwaiter(Loop& loop, BasicRing<T, W, H>& ring, std::stop_token stop) noexcept
      : Base(loop, std::move(stop)), ring_(ring) {}
  ~RingPopAwaiter() { this->abandon(); }
  bool await_ready() noexcept { return this->ready(); }
  bool await_suspend(std::coroutine_handle<> waiter) noexcept { return this->suspend(waiter); }
  std::optional<T> await_resume() noexcept { return std::move(value_); }
  PopResult<T> result() noexcept {
    const Status status = this->claim_ == RingClaim::done     ? Status::ok
                          : this->claim_ == RingClaim::closed ? Status::closed
                                                              : Status::cancelled;
    return {status, std::move(value_)};
  }

 private:
  std::atomic<std::uint32_t>& word() noexcept { return RingAccess::consumers_word(ring_); }
  static constexpr WordKind kind() noexcept { return word_kind<W>; }
  RingClaim attempt() noexcept {
    return RingAccess::claim_pop(ring_, [this](T& value) noexcept { value_.emplace(std::move(value)); });
  }
  bool must_wait() noexcept { return RingAccess::consumers_must_wait(ring_); }
  void notify_word() noexcept { RingAccess::notify(ring_, word()); }

  BasicRing<T, W, H>& ring_;
  std::optional<T> value_;
};

template <class T, class W, class H>
class RingPushAwaiter : public RingWaitAwaiter<RingPushAwaiter<T, W, H>> {
  using Base = RingWaitAwaiter<RingPushAwaiter<T, W, H>>;
  friend Base;

 public:
  RingPushAwaiter(Loop& loop, BasicRing<T, W, H>& ring, T& value, std::stop_token stop) noexcept
      : Base(loop, std::move(stop)), ring_(ring), value_(value) {}
  ~RingPushAwaiter() { this->abandon(); }
  bool await_ready() noexcept { return this->ready(); }
  bool await_suspend(std::coroutine_handle<> waiter) noexcept { return this->suspend(waiter); }
  bool await_resume() const noexcept { return this->claim_ == RingClaim::done; }
  Status status() const noexcept {
    return this->claim_ == RingClaim::done ? Status::ok
           : this->claim_ == RingClaim::closed ? Status::closed
                                               : Status::cancelled;
  }

 private:
  std::atomic<std::uint32_t>& word() noexcept { return RingAccess::producers_word(ring_); }
  static constexpr WordKind kind() noexcept { return word_kind<W>; }
  RingClaim attempt() noexcept {
    return RingAccess::claim_push(ring_, [this](void* where) noexcept { ::new (where) T(std::move(value_)); });
  }
  bool must_wait() noexcept { return RingAccess::producers_must_wait(ring_); }
  void notify_word() noexcept { RingAccess::notify(ring_, word()); }

  BasicRing<T, W, H>& ring_;
  T& value_;  // moved from only when the push is claimed
};

// The stop-token forms answer with a Status-carrying result.
template <class Awaiter>
class WithStatus : public Awaiter {
 public:
  using Awaiter::Awaiter;
  auto await_resume() noexcept {
    if constexpr (requires(Awaiter& a) { a.result(); }) {
      return this->result();
    } else {
      return this->status();
    }
  }
};

}  // namespace detail

// ---- The awaitables. `loop` is the loop that runs the awaiting coroutine. ----
/// co_await: the next value of `ring` (std::optional<T>); nullopt iff the ring is closed
/// and drained.
template <class T, class W, class H>
[[nodiscard]] detail::RingPopAwaiter<T, W, H> async_pop(Loop& loop, BasicRing<T, W, H>& ring) noexcept {
  return {loop, ring, {}};
}
/// co_await: a PopResult<T>: Status::ok and the value, Status::closed (closed and
/// drained), or Status::cancelled once a stop is requested while it waits (nothing taken).
template <class T, class W, class H>
[[nodiscard]] detail::WithStatus<detail::RingPopAwaiter<T, W, H>> async_pop(Loop& loop, BasicRing<T, W, H>& ring,
                                                              std::stop_token stop) noexcept {
  return {loop, ring, std::move(stop)};
}
/// co_await: waits for room and moves `value` in; false iff the ring is closed (the
/// value is then not taken). `value` must live until the co_await completes (a temporary
/// in the co_await's expression does).
template <class T, class W, class H>
[[nodiscard]] detail::RingPushAwaiter<T, W, H> async_push(Loop& loop, BasicRing<T, W, H>& ring, T&& value) noexcept {
  return {loop, ring, value, {}};
}
/// co_await: as async_push() without a token, as a Status: ok, closed, or cancelled once
/// a stop is requested while it waits (the value is then not taken).
template <class T, class W, class H>
[[nodiscard]]
detail::WithStatus<detail::RingPushAwaiter<T, W, H>> async_push(Loop& loop, BasicRing<T, W, H>& ring, T&& value,
                                                                std::stop_token stop) noexcept {
  return {loop, ring, value, std::move(stop)};
}

}  // namespace fev
