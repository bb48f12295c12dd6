// SPDX-License-Identifier: MIT
// fev::wait_any / wait_all over every wait backend, on both paths: futex_waitv (where
// the backend is Futex/FutexShared and the kernel has it) and the forced slow path.
#include "fev/wait_many.hpp"

#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "fev/event.hpp"
#include "fev/event_access.hpp"
#include "test_backends.hpp"

namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using fev::testing::eventually;

// A backend, and whether the test forces wait_any/wait_all onto the slow path.
template <class Backend, bool kForceFallback>
struct Mode {
  using Wait = Backend;
  static constexpr bool force_fallback = kForceFallback;
};

template <class Tuple>
struct ModesOf;
template <class... Backends>
struct ModesOf<std::tuple<Backends...>> {
  // Every built backend as it is, each forced onto the slow path, and a backend that
  // wakes spuriously.
  using type = ::testing::Types<Mode<Backends, false>..., Mode<Backends, true>...,
                                Mode<fev::testing::SpuriousWait<fev::DefaultWait>, false>>;
};
using AllModes = typename ModesOf<fev::BuiltWaitBackends>::type;

struct ModeNames {
  template <class M>
  static std::string GetName(int) {
    return std::string(M::Wait::name) + (M::force_fallback ? "_forced_fallback" : "");
  }
};

template <class M>
class WaitManyTest : public ::testing::Test {
 protected:
  using Event = fev::BasicEvent<typename M::Wait>;
  void SetUp() override { fev::detail::force_waitv_fallback(M::force_fallback); }
  void TearDown() override { fev::detail::force_waitv_fallback(false); }
  static bool parked(Event& event) {
    return (fev::detail::EventAccess::word(event).load() & fev::detail::EventAccess::kParked) != 0;
  }
};
TYPED_TEST_SUITE(WaitManyTest, AllModes, ModeNames);

TEST(WaitMany, ReportsWhichPathIsLive) {
  std::printf("futex_waitv path live: %s\n", fev::detail::futex_waitv_live() ? "yes" : "no");
  fev::detail::force_waitv_fallback(true);
  EXPECT_FALSE(fev::detail::futex_waitv_live());
  fev::detail::force_waitv_fallback(false);
}

TYPED_TEST(WaitManyTest, AnyReturnsTheIndexOfASetEvent) {
  typename TestFixture::Event a, b, c;
  b.set();
  EXPECT_EQ(fev::wait_any(a, b, c), 1u);
  EXPECT_EQ(fev::wait_any_for(0s, a, b, c), std::optional<std::size_t>(1));
  EXPECT_EQ(fev::wait_any_until(Clock::now() - 1s, a, b, c), std::optional<std::size_t>(1));
  c.set();
  EXPECT_EQ(fev::wait_any(a, b, c), 1u) << "the lowest index that is set";
  a.set();
  EXPECT_EQ(fev::wait_any_for(1s, a, b, c), std::optional<std::size_t>(0));
  EXPECT_EQ(fev::wait_any(c), 0u);
  // Nothing was consumed.
  EXPECT_TRUE(a.is_set() && b.is_set() && c.is_set());
}

TYPED_TEST(WaitManyTest, ZeroAndNegativeTimeoutsDoNotBlock) {
  typename TestFixture::Event a, b;
  const auto start = Clock::now();
  EXPECT_EQ(fev::wait_any_for(0s, a, b), std::nullopt);
  EXPECT_EQ(fev::wait_any_for(-5s, a, b), std::nullopt);
  EXPECT_EQ(fev::wait_any_until(Clock::now() - 1s, a, b), std::nullopt);
  EXPECT_EQ(fev::wait_any_until(Clock::time_point::min(), a, b), std::nullopt);
  EXPECT_FALSE(fev::wait_all_for(0s, a, b));
  EXPECT_FALSE(fev::wait_all_until(std::chrono::system_clock::now() - 1s, a, b));
  a.set();
  EXPECT_FALSE(fev::wait_all_for(-1ms, a, b));
  b.set();
  EXPECT_TRUE(fev::wait_all_for(0s, a, b));
  EXPECT_LT(Clock::now() - start, 1s);
}

TYPED_TEST(WaitManyTest, TimeoutsComeNoEarlierThanTheDeadline) {
  typename TestFixture::Event a, b, c;
  for (const auto timeout : {1ms, 20ms, 50ms}) {
    const auto start = Clock::now();
    EXPECT_EQ(fev::wait_any_for(timeout, a, b, c), std::nullopt);
    EXPECT_GE(Clock::now() - start, timeout);
  }
  const auto deadline = Clock::now() + 30ms;
  EXPECT_EQ(fev::wait_any_until(deadline, a, b, c), std::nullopt);
  EXPECT_GE(Clock::now(), deadline);

  a.set();
  const auto all_deadline = Clock::now() + 30ms;
  EXPECT_FALSE(fev::wait_all_until(all_deadline, a, b, c));
  EXPECT_GE(Clock::now(), all_deadline);

  const auto start = Clock::now();
  EXPECT_FALSE(fev::wait_all_until(std::chrono::system_clock::now() + 30ms, b, c));
  EXPECT_GE(Clock::now() - start, 29ms);  // system_clock and steady_clock tick apart by < 1ms
}

// The waiter is parked (the parked bit is on a word) before the other thread sets.
TYPED_TEST(WaitManyTest, SetFromAnotherThreadWakesAParkedWaitAny) {
  std::array<typename TestFixture::Event, 4> events;
  for (std::size_t which = 0; which < events.size(); ++which) {
    for (auto& event : events) event.clear();
    std::optional<std::size_t> result;
    std::atomic<bool> returned{false};
    std::thread waiter([&] {
      result = fev::wait_any_for(60s, events[0], events[1], events[2], events[3]);
      returned = true;
    });
    ASSERT_TRUE(eventually([&] {
      for (auto& event : events)
        if (TestFixture::parked(event)) return true;
      return false;
    }));
    std::this_thread::sleep_for(5ms);  // into the kernel, not only past the announcement
    EXPECT_FALSE(returned.load());
    const auto set_at = Clock::now();
    events[which].set();
    waiter.join();
    EXPECT_EQ(result, std::optional<std::size_t>(which));
    EXPECT_LT(Clock::now() - set_at, 10s) << "woken by the set(), not by the 60 s timeout";
  }
}

TYPED_TEST(WaitManyTest, UntimedWaitAnyWakesOnSet) {
  typename TestFixture::Event a, b;
  std::thread setter([&] {
    std::this_thread::sleep_for(10ms);
    b.set();
  });
  EXPECT_EQ(fev::wait_any(a, b), 1u);
  setter.join();
}

// Python's rule, as for Event::wait: a set() during the call releases it even if clear()
// follows at once, before the waiter runs. One waiter at a time, so that "a parked bit
// is on" proves that this waiter has begun (read its entry values).
TYPED_TEST(WaitManyTest, SetThenClearStillReleases) {
  for (int round = 0; round < 20; ++round) {
    typename TestFixture::Event a, b;
    std::optional<std::size_t> any;
    std::thread waiter_any([&] { any = fev::wait_any_for(60s, a, b); });
    ASSERT_TRUE(eventually([&] { return TestFixture::parked(a) || TestFixture::parked(b); }));
    std::this_thread::sleep_for(2ms);
    b.set();
    b.clear();
    waiter_any.join();
    EXPECT_EQ(any, std::optional<std::size_t>(1)) << "round " << round;

    typename TestFixture::Event c, d;
    bool all = false;
    std::thread waiter_all([&] { all = fev::wait_all_for(60s, c, d); });
    ASSERT_TRUE(eventually([&] { return TestFixture::parked(c) || TestFixture::parked(d); }));
    std::this_thread::sleep_for(2ms);
    d.set();
    d.clear();
    c.set();
    c.clear();
    waiter_all.join();
    EXPECT_TRUE(all) << "round " << round;
    EXPECT_FALSE(a.is_set() || b.is_set() || c.is_set() || d.is_set());
  }
}

TYPED_TEST(WaitManyTest, WaitAllWaitsForEveryEvent) {
  typename TestFixture::Event a, b, c;
  std::atomic<int> sets{0};
  std::thread setter([&] {
    for (auto* event : {&c, &a, &b}) {
      std::this_thread::sleep_for(10ms);
      sets.fetch_add(1);
      event->set();
    }
  });
  EXPECT_TRUE(fev::wait_all_for(60s, a, b, c));
  EXPECT_EQ(sets.load(), 3);
  setter.join();

  a.clear();
  b.clear();
  c.clear();
  std::thread setter_again([&] {
    std::this_thread::sleep_for(10ms);
    a.set();
    b.set();
    std::this_thread::sleep_for(10ms);
    c.set();
  });
  fev::wait_all(a, b, c);
  EXPECT_TRUE(a.is_set() && b.is_set() && c.is_set());
  setter_again.join();
}

// "Each counted as set at some moment", not "all set at once": an event that was set
// on entry and is cleared while the call waits for another still counts.
TYPED_TEST(WaitManyTest, WaitAllCountsAnEventClearedMeanwhile) {
  typename TestFixture::Event a(true), b;
  std::thread other([&] {
    std::this_thread::sleep_for(10ms);
    a.clear();
    std::this_thread::sleep_for(10ms);
    b.set();
  });
  EXPECT_TRUE(fev::wait_all_for(60s, a, b));
  other.join();
  EXPECT_FALSE(a.is_set());
}

TYPED_TEST(WaitManyTest, SetPublishesPriorWrites) {
  // Under ThreadSanitizer a missing release/acquire edge shows up as a data race.
  for (int round = 0; round < 100; ++round) {
    typename TestFixture::Event a, b;
    int payload_a = 0, payload_b = 0;
    std::thread reader([&] {
      fev::wait_all(a, b);
      EXPECT_EQ(payload_a, 1);
      EXPECT_EQ(payload_b, 2);
    });
    std::thread any_reader([&] {
      const std::size_t which = fev::wait_any(a, b);
      EXPECT_EQ(which == 0 ? payload_a : payload_b, which == 0 ? 1 : 2);
    });
    payload_b = 2;
    b.set();
    payload_a = 1;
    a.set();
    reader.join();
    any_reader.join();
  }
}

TYPED_TEST(WaitManyTest, RangesOfEventPointers) {
  std::vector<std::unique_ptr<typename TestFixture::Event>> owned;
  std::vector<typename TestFixture::Event*> events;
  for (std::size_t i = 0; i < fev::kMaxWaitMany; ++i) {
    owned.push_back(std::make_unique<typename TestFixture::Event>());
    events.push_back(owned.back().get());
  }
  EXPECT_EQ(fev::wait_any_for(1ms, events), std::nullopt);
  std::thread setter([&] {
    std::this_thread::sleep_for(10ms);
    events.back()->set();
  });
  EXPECT_EQ(fev::wait_any_for(60s, std::span(events)), std::optional<std::size_t>(fev::kMaxWaitMany - 1));
  setter.join();
  EXPECT_FALSE(fev::wait_all_for(1ms, events));
  for (auto* event : events) event->set();
  fev::wait_all(events);
  EXPECT_TRUE(fev::wait_all_until(Clock::now() + 1s, events));
  EXPECT_EQ(fev::wait_any(events), 0u);

  typename TestFixture::Event* array[] = {events[3], events[5]};
  EXPECT_EQ(fev::wait_any_until(std::chrono::system_clock::now(), array), std::optional<std::size_t>(0));

  // Bad arguments.
  std::vector<typename TestFixture::Event*> none;
  EXPECT_TRUE(fev::wait_all_for(0s, none)) << "every one of no events is set";
  fev::wait_all(none);
  EXPECT_THROW((void)fev::wait_any(none), std::invalid_argument);
  EXPECT_THROW((void)fev::wait_any_for(1s, none), std::invalid_argument);
  std::vector<typename TestFixture::Event*> with_null = {events[0], nullptr};
  EXPECT_THROW((void)fev::wait_any_for(1s, with_null), std::invalid_argument);
  typename TestFixture::Event extra;
  events.push_back(&extra);
  EXPECT_THROW((void)fev::wait_any_for(1s, events), std::invalid_argument);
  EXPECT_THROW((void)fev::wait_all_for(1s, events), std::invalid_argument);
}

// Ping-pong through wait_any: the main thread sets a random event of four, the worker
// wait_any()s, clears the one it got and acknowledges. A lost wakeup stalls a round
// until its 30 s timeout and fails it.
TYPED_TEST(WaitManyTest, PingPongLosesNoWakeup) {
  std::array<typename TestFixture::Event, 4> ping;
  typename TestFixture::Event pong;
  constexpr int kRounds = 1000;
  std::atomic<int> failures{0};
  std::thread worker([&] {
    for (int round = 0; round < kRounds; ++round) {
      const auto which = fev::wait_any_for(30s, ping[0], ping[1], ping[2], ping[3]);
      if (!which) {
        failures.fetch_add(1);
        return;
      }
      ping[*which].clear();
      pong.set();
    }
  });
  unsigned seed = 12345;
  for (int round = 0; round < kRounds && failures.load() == 0; ++round) {
    seed = seed * 1103515245u + 12345u;
    if (round % 64 == 0) std::this_thread::sleep_for(100us);  // sometimes parked, sometimes spinning
    ping[(seed >> 16) % ping.size()].set();
    if (!pong.wait_for(30s)) {
      failures.fetch_add(1);
      break;
    }
    pong.clear();
  }
  for (auto& event : ping) event.set();  // release the worker if it is still waiting
  worker.join();
  EXPECT_EQ(failures.load(), 0);
}

// wait_any, wait_all and Event::wait on the same events at once: one set() releases them all.
TYPED_TEST(WaitManyTest, MixedWaitersAllReleased) {
  typename TestFixture::Event a, b;
  std::atomic<int> released{0};
  std::vector<std::thread> waiters;
  waiters.emplace_back([&] { released += fev::wait_any_for(60s, a, b) == std::optional<std::size_t>(0); });
  waiters.emplace_back([&] { released += fev::wait_any_for(60s, b, a) == std::optional<std::size_t>(1); });
  waiters.emplace_back([&] { released += fev::wait_all_for(60s, a) ? 1 : 0; });
  waiters.emplace_back([&] { released += a.wait_for(60s) ? 1 : 0; });
  ASSERT_TRUE(eventually([&] { return TestFixture::parked(a); }));
  std::this_thread::sleep_for(20ms);
  a.set();
  for (auto& waiter : waiters) waiter.join();
  EXPECT_EQ(released.load(), 4);
}

// The public fev::Event (a class derived from BasicEvent<DefaultWait>) works directly.
TEST(WaitMany, TakesThePublicEventType) {
  fev::Event a, b;
  std::thread setter([&] {
    std::this_thread::sleep_for(5ms);
    a.set();
  });
  EXPECT_EQ(fev::wait_any(b, a), 1u);
  setter.join();
  b.set();
  EXPECT_TRUE(fev::wait_all_for(1s, a, b));
  std::vector<fev::Event*> events = {&a, &b};
  EXPECT_EQ(fev::wait_any_for(1s, events), std::optional<std::size_t>(0));
}

// On the slow path (here: a counting backend, which takes it whatever the kernel) the
// waiter parks through the backend, in slices; it never spins for the whole wait.
TEST(WaitMany, SlowPathParksThroughTheBackend) {
  using Counting = fev::testing::CountingWait<fev::DefaultWait>;
  Counting::reset();
  fev::BasicEvent<Counting> a, b;
  const auto start = Clock::now();
  EXPECT_EQ(fev::wait_any_for(30ms, a, b), std::nullopt);
  const auto waited = Clock::now() - start;
  EXPECT_GE(waited, 30ms);
  EXPECT_GE(Counting::waits.load(), 2);
  // Slices double from 50 us to 1 ms: at most about waited/1ms + a few short ones.
  EXPECT_LE(Counting::waits.load(), 12 + static_cast<int>(waited / 1ms)) << "it polls too often";
  Counting::reset();
  a.set();
  EXPECT_EQ(fev::wait_any(a, b), 0u);
  EXPECT_EQ(Counting::waits.load(), 0) << "a set event returns without parking";
}

}  // namespace
