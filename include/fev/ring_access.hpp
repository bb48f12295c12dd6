// SPDX-License-Identifier: MIT
// fev/ring_access.hpp — BasicRing's claims and parking words, for the parts of fev that
// wait on a ring without calling its blocking operations: the io_uring loop's
// coroutines (fev/loop.hpp). Internal: user code never needs it.
//
// A waiter on a ring's parking word follows BasicRing::block() (protocol steps 5 and 6
// in fev/ring.hpp) step by step:
//  1. It tries its claim once. If that is busy it registers as a sleeper: a seq_cst CAS
//     that adds kSleeperOne to the word (or, when every sleeper place is taken, it
//     polls instead of registering).
//  2. Registered, it loops: if the word has kWaking, it takes the wake over (a seq_cst
//     CAS that clears the bit) and remembers that it did; it tries its claim; if that
//     is busy and the `*_must_wait` re-check says so, it sleeps on the exact word value
//     it last read (re-read with acquire after each sleep) (a futex wait: a change of the word returns at once); if the other
//     side has claimed but not yet published, it lets that side run instead.
//  3. It leaves with a fetch_sub of kSleeperOne and, if it took a wake over
//     and there is still something to take, passes the wake on: notify(word) (the
//     relay). It leaves so after a cancellation as well: a wake it took is never lost.
// Nothing else may be written to the word.
#pragma once

#include "fev/cxx20.hpp"  // first: below C++20, one clear error instead of many

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "fev/ring.hpp"

namespace fev::detail {

// What one claim attempt ended with.
enum class RingClaim { done, busy, closed };

struct RingAccess {
  // The parking words' layout does not depend on T or the backend.
  using Any = BasicRing<unsigned char, DefaultWait, RingHooks>;
  static constexpr std::uint32_t kWaking = Any::kWaking;
  static constexpr std::uint32_t kSleeperOne = Any::kSleeperOne;
  static constexpr std::uint32_t kSleepersMask = Any::kSleepersMask;

  // The word consumers sleep on (a push wakes it) and the one producers sleep on.
  template <class T, class W, class H>
  static std::atomic<std::uint32_t>& consumers_word(BasicRing<T, W, H>& ring) noexcept {
    return ring.not_empty_;
  }
  template <class T, class W, class H>
  static std::atomic<std::uint32_t>& producers_word(BasicRing<T, W, H>& ring) noexcept {
    return ring.not_full_;
  }

  // One claim_pop: `take(T&)` (noexcept) moves the value out.
  template <class T, class W, class H, class Take>
  static RingClaim claim_pop(BasicRing<T, W, H>& ring, Take&& take) noexcept {
    return from(ring, ring.claim_pop(take));
  }
  // One claim_push: `construct(void*)` (noexcept) builds the value in the slot.
  template <class T, class W, class H, class Construct>
  static RingClaim claim_push(BasicRing<T, W, H>& ring, Construct&& construct) noexcept {
    return from(ring, ring.claim_push(construct));
  }

  // Step 3's relay (and any wake of one sleeper on `word`).
  template <class T, class W, class H>
  static void notify(BasicRing<T, W, H>& ring, std::atomic<std::uint32_t>& word) noexcept {
    ring.notify(word);
  }

  // Step 2's re-check for a registered consumer, as pop_blocking's: true when sleeping
  // is safe (no push claimed that we could still take, and the ring open).
  template <class T, class W, class H>
  static bool consumers_must_wait(BasicRing<T, W, H>& ring) noexcept {
    // seq_cst: the re-check half of the handshake with claim_push's tail_ CAS.
    const std::size_t tail = ring.tail_.load(std::memory_order_seq_cst);
    return !(tail & ring.kClosed) && (tail & ~ring.kClosed) == ring.head_.load(std::memory_order_relaxed);
  }
  // The same for a registered producer, as push_blocking's: full with every claimed
  // pop finished, and the ring open.
  template <class T, class W, class H>
  static bool producers_must_wait(BasicRing<T, W, H>& ring) noexcept {
    // seq_cst: the re-check half of the handshake with claim_pop's head_ CAS.
    const std::size_t head = ring.head_.load(std::memory_order_seq_cst);
    const std::size_t tail = ring.tail_.load(std::memory_order_seq_cst);
    return !(tail & ring.kClosed) && (tail & ~ring.kClosed) - head >= ring.capacity_;
  }

 private:
  template <class T, class W, class H, class Step>
  static RingClaim from(BasicRing<T, W, H>&, Step step) noexcept {
    using RingStep = typename BasicRing<T, W, H>::Step;
    return step == RingStep::done ? RingClaim::done : step == RingStep::busy ? RingClaim::busy : RingClaim::closed;
  }
};

}  // namespace fev::detail
