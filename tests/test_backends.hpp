// SPDX-License-Identifier: MIT
// Test-only wait backends and the list of backends every typed suite runs over.
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <thread>
#include <tuple>

#include "fev/config.hpp"
#include "fev/wait.hpp"

namespace fev::testing {

// Forwards to `Inner` and counts every call, so a test can prove that a fast path made
// no wait or wake call. Counters are per instantiation; tests reset them.
template <class Inner>
struct CountingWait {
  static constexpr std::string_view name = "counting";
  static inline std::atomic<int> waits{0};
  static inline std::atomic<int> wakes{0};
  static void reset() {
    waits = 0;
    wakes = 0;
  }
  static WaitResult wait(const std::atomic<std::uint32_t>& word, std::uint32_t expected, Deadline deadline) noexcept {
    ++waits;
    return Inner::wait(word, expected, deadline);
  }
  static void wake_one(const std::atomic<std::uint32_t>& word) noexcept {
    ++wakes;
    Inner::wake_one(word);
  }
  static void wake_all(const std::atomic<std::uint32_t>& word) noexcept {
    ++wakes;
    Inner::wake_all(word);
  }
};

// Wakes spuriously: every other wait returns `woken` after a short nap without any
// wake call, as real futexes and condition variables may. Event users must never see it.
template <class Inner>
struct SpuriousWait {
  static constexpr std::string_view name = "spurious";
  static WaitResult wait(const std::atomic<std::uint32_t>& word, std::uint32_t expected, Deadline deadline) noexcept {
    static std::atomic<unsigned> calls{0};
    if (calls.fetch_add(1, std::memory_order_relaxed) % 2 == 0) {
      std::this_thread::sleep_for(std::chrono::microseconds(200));
      return WaitResult::woken;
    }
    return Inner::wait(word, expected, deadline);
  }
  static void wake_one(const std::atomic<std::uint32_t>& word) noexcept { Inner::wake_one(word); }
  static void wake_all(const std::atomic<std::uint32_t>& word) noexcept { Inner::wake_all(word); }
};

// Deliberately broken: wake calls do nothing, and a wait returns only when the word
// already differs from `expected` on entry, at its deadline, or after release(): never
// because of a wake. Lost-wakeup checks run against it to prove that they can fail.
// After release() it forwards everything to `Inner`, so a test can let stuck threads go
// and join them; deafen() makes it broken again.
//
// sleepers() counts the threads past the entry check: each stays asleep until its
// deadline or release(), whatever happens to the word, so a check that waits for one
// (untimed_sleepers() for one with no deadline) before its set() knows that the set()
// strands it, however the threads were scheduled.
template <class Inner>
struct DeafWait {
  static constexpr std::string_view name = "deaf";
  static inline std::atomic<bool> released{false};
  // seq_cst (the default) throughout: test bookkeeping, read by the checking thread.
  static inline std::atomic<int> sleeping{0};
  static inline std::atomic<int> sleeping_untimed{0};
  static void deafen() { released = false; }
  static void release() { released = true; }
  static int sleepers() { return sleeping.load(); }
  static int untimed_sleepers() { return sleeping_untimed.load(); }

  static WaitResult wait(const std::atomic<std::uint32_t>& word, std::uint32_t expected, Deadline deadline) noexcept {
    if (released) return Inner::wait(word, expected, deadline);
    // relaxed: like a futex's entry check; the caller re-reads the word after any return.
    if (word.load(std::memory_order_relaxed) != expected) return WaitResult::woken;
    const bool untimed = deadline == Deadline::max();
    ++sleeping;
    if (untimed) ++sleeping_untimed;
    WaitResult result = WaitResult::woken;
    while (!released) {
      if (!untimed && std::chrono::steady_clock::now() >= deadline) {
        result = WaitResult::timeout;
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    if (untimed) --sleeping_untimed;
    --sleeping;
    return result;
  }
  static void wake_one(const std::atomic<std::uint32_t>& word) noexcept {
    if (released) Inner::wake_one(word);
  }
  static void wake_all(const std::atomic<std::uint32_t>& word) noexcept {
    if (released) Inner::wake_all(word);
  }
};

// For the must-fail twins of the lost-wakeup checks: while it lives, every wait parks at
// once (fev::set_spin_limit(0): one check, no polls, no yields), so a waiter reaches the
// broken backend however loaded the machine is, instead of finding its answer by polling.
// Restores the process's spin limit when it goes.
class NoSpinning {
 public:
  NoSpinning() : saved_(spin_limit()) { set_spin_limit(std::chrono::nanoseconds{0}); }
  ~NoSpinning() { set_spin_limit(saved_); }
  NoSpinning(const NoSpinning&) = delete;
  NoSpinning& operator=(const NoSpinning&) = delete;

 private:
  std::chrono::nanoseconds saved_;
};

template <class Tuple, class... Extra>
struct TypesOf;
template <class... Backends, class... Extra>
struct TypesOf<std::tuple<Backends...>, Extra...> {
  using type = ::testing::Types<Backends..., Extra...>;
};

// Every backend built into libfev.a, plus the spurious-wake wrapper around the default.
using AllBackends = typename TypesOf<BuiltWaitBackends, SpuriousWait<DefaultWait>>::type;

struct BackendNames {
  template <class Backend>
  static std::string GetName(int) {
    return std::string(Backend::name);
  }
};

// Polls `done` until it holds or `limit` passes; the caller asserts on the result.
template <class Done>
bool eventually(Done&& done, std::chrono::milliseconds limit = std::chrono::seconds(30)) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::microseconds(100));
  }
  return true;
}

}  // namespace fev::testing
