// SPDX-License-Identifier: MIT
// fev/auto_reset_event_access.hpp — BasicAutoResetEvent's word protocol, for the parts
// of fev that wait on one without calling its wait(): the io_uring loop's coroutines
// (fev/loop.hpp). Internal: user code never needs it.
//
// A waiter follows BasicAutoResetEvent::wait_slow step by step:
//  1. If the word holds the signal, it takes it with an acquire CAS that clears it.
//  2. Otherwise it registers: a CAS that adds kWaiterOne (set() wakes one registered
//     waiter on the unsignaled-to-signaled edge), and sleeps on the exact value it wrote.
//  3. It stays registered across wakes that bring no signal, and leaves only with the
//     signal or at its end (deadline, cancellation): one CAS that unregisters and takes
//     the signal if it is there. So a waiter that set() woke never leaves the signal
//     behind for registered waiters that no wake will reach: it takes it.
// Nothing else may be written to the word.
#pragma once

#include "fev/cxx20.hpp"  // first: below C++20, one clear error instead of many

#include <atomic>
#include <cstdint>

#include "fev/event.hpp"

namespace fev::detail {

struct AutoResetEventAccess {
  static constexpr std::uint32_t kSignaled = BasicAutoResetEvent<void>::kSignaled;
  static constexpr std::uint32_t kWaiterOne = BasicAutoResetEvent<void>::kWaiterOne;

  template <class Wait>
  static std::atomic<std::uint32_t>& word(BasicAutoResetEvent<Wait>& event) noexcept {
    return event.word_;
  }

  // Step 2, taking the signal instead if it is there (step 1). `seen` is the caller's
  // last read of the word. Returns true with the signal taken; false registered, with
  // `seen` the value to sleep on.
  static bool take_or_register(std::atomic<std::uint32_t>& word, std::uint32_t& seen) noexcept {
    for (;;) {
      if (seen & kSignaled) {
        // acquire: pairs with set()'s release. relaxed on failure: we re-test.
        if (word.compare_exchange_weak(seen, seen & ~kSignaled, std::memory_order_acquire,
                                       std::memory_order_relaxed))
          return true;
        continue;
      }
      // relaxed: registering publishes nothing; set() reads the count in this word.
      if (word.compare_exchange_weak(seen, seen + kWaiterOne, std::memory_order_relaxed, std::memory_order_relaxed)) {
        seen += kWaiterOne;
        return false;
      }
    }
  }

  // Step 3: unregisters, taking the signal in the same RMW if it is there. True iff taken.
  static bool leave(std::atomic<std::uint32_t>& word) noexcept {
    std::uint32_t seen = word.load(std::memory_order_relaxed);
    for (;;) {
      const bool taken = (seen & kSignaled) != 0;
      const std::uint32_t desired = taken ? (seen - kWaiterOne) & ~kSignaled : seen - kWaiterOne;
      // acquire: pairs with set()'s release when we take the signal. relaxed on
      // failure: we recompute.
      if (word.compare_exchange_weak(seen, desired, std::memory_order_acquire, std::memory_order_relaxed))
        return taken;
    }
  }
};

}  // namespace fev::detail
