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
template <class Inner>
struct DeafWait {
  static constexpr std::string_view name = "deaf";
  static inline std::atomic<bool> released{false};
  static void deafen() { released = false; }
  static void release() { released = true; }

  static WaitResult wait(const std::atomic<std::uint32_t>& word, std::uint32_t expected, Deadline deadline) noexcept {
    if (released) return Inner::wait(word, expected, deadline);
    // relaxed: like a futex's entry check; the caller re-reads the word after any return.
    if (word.load(std::memory_order_relaxed) != expected) return WaitResult::woken;
    while (!released) {
      if (deadline != Deadline::max() && std::chrono::steady_clock::now() >= deadline) return WaitResult::timeout;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return WaitResult::woken;
  }
  static void wake_one(const std::atomic<std::uint32_t>& word) noexcept {
    if (released) Inner::wake_one(word);
  }
  static void wake_all(const std::atomic<std::uint32_t>& word) noexcept {
    if (released) Inner::wake_all(word);
  }
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
