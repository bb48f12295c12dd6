// SPDX-License-Identifier: MIT
// fev::AutoResetEvent: one set() releases exactly one waiter, over every wait backend.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <thread>
#include <vector>

#include "fev/event.hpp"
#include "test_backends.hpp"
#include "emulator.hpp"

namespace {

using namespace std::chrono_literals;
using fev::testing::eventually;
using Clock = std::chrono::steady_clock;

template <class Backend>
class AutoResetEventTest : public ::testing::Test {
 protected:
  using Event = fev::BasicAutoResetEvent<Backend>;
  // The word's registered-waiter count (see BasicAutoResetEvent's layout comment).
  static unsigned registered_waiters(const Event& event) { return event.word().load() >> 1; }
};
TYPED_TEST_SUITE(AutoResetEventTest, fev::testing::AllBackends, fev::testing::BackendNames);

TYPED_TEST(AutoResetEventTest, TryWaitTakesTheSignalOnce) {
  typename TestFixture::Event event(true);
  EXPECT_TRUE(event.try_wait());
  EXPECT_FALSE(event.try_wait());
  event.set();
  event.set();  // a second set on a set event does nothing
  EXPECT_TRUE(event.try_wait());
  EXPECT_FALSE(event.try_wait());
}

TYPED_TEST(AutoResetEventTest, WaitConsumesTheSignal) {
  typename TestFixture::Event event;
  event.set();
  event.wait();
  EXPECT_FALSE(event.try_wait());
  event.set();
  EXPECT_TRUE(event.wait_for(0s));
  EXPECT_FALSE(event.wait_for(0s));
  event.set();
  EXPECT_TRUE(event.wait_until(std::chrono::system_clock::now() - 1s));
  EXPECT_FALSE(event.wait_until(Clock::now() - 1s));
}

TYPED_TEST(AutoResetEventTest, TimedWaitsTimeOutNoEarlier) {
  typename TestFixture::Event event;
  auto start = Clock::now();
  EXPECT_FALSE(event.wait_for(20ms));
  EXPECT_GE(Clock::now() - start, 20ms);
  const auto deadline = Clock::now() + 20ms;
  EXPECT_FALSE(event.wait_until(deadline));
  EXPECT_GE(Clock::now(), deadline);
  start = Clock::now();
  EXPECT_FALSE(event.wait_until(std::chrono::system_clock::now() + 20ms));
  EXPECT_GE(Clock::now() - start, 19ms);
  EXPECT_FALSE(event.wait_for(-1ms));
}

TYPED_TEST(AutoResetEventTest, SetWakesAParkedWaiter) {
  typename TestFixture::Event event;
  std::thread waiter([&] { event.wait(); });
  ASSERT_TRUE(eventually([&] { return TestFixture::registered_waiters(event) == 1; }));
  event.set();
  waiter.join();
  EXPECT_FALSE(event.try_wait()) << "the waiter took the signal";
}

// What release_rounds() saw go wrong; all false when every set() released one waiter.
struct RoundsOutcome {
  int lost_wakeup_round = 0;    // a set() that released no waiter within the patience
  int double_release_round = 0; // a set() that released two waiters
  bool timed_wait_timed_out = false;
  int unparked_round = 0;       // a round before which the waiters did not all park
};

// Each set() releases exactly one of several parked waiters: `rounds` sets, each
// followed by a wait (at most `patience`) for its one release. Half the waiters wait
// untimed, half with a timed wait that must not time out; no waiter ever retries after
// a timeout, so a set() that wakes nobody is a lost round, not a slow one. Before the
// first round and every 100th, the rounds wait until `all_parked(event)` holds (every
// waiter parked): while one still spins it takes the signal by itself, and a set()
// whose wake is lost would go unnoticed. `unstick` runs before the waiters are joined
// (a broken backend lets its stuck waiters go).
template <class Event, class AllParked, class Unstick>
RoundsOutcome release_rounds(int rounds, std::chrono::milliseconds patience, AllParked&& all_parked, Unstick&& unstick) {
  Event event;
  constexpr int kWaiters = 4;
  RoundsOutcome outcome;
  std::atomic<int> released{0};
  std::atomic<bool> timed_out{false};
  std::atomic<bool> stop{false};
  std::vector<std::thread> waiters;
  for (int i = 0; i < kWaiters; ++i) {
    waiters.emplace_back([&, i] {
      for (;;) {
        const bool took = (i % 2 == 0) ? (event.wait(), true) : event.wait_for(std::chrono::hours(1));
        if (stop.load()) return;
        if (took) released.fetch_add(1);
        else timed_out.store(true);
      }
    });
  }
  for (int round = 1; round <= rounds; ++round) {
    if (round % 100 == 1) {
      if (!eventually([&] { return all_parked(event); }, patience)) {
        outcome.unparked_round = round;
        break;
      }
    }
    event.set();
    if (!eventually([&] { return released.load() >= round; }, patience)) {
      outcome.lost_wakeup_round = round;
      break;
    }
    if (released.load() != round) {
      outcome.double_release_round = round;
      break;
    }
  }
  if (outcome.lost_wakeup_round == 0 && outcome.double_release_round == 0 && outcome.unparked_round == 0) {
    std::this_thread::sleep_for(5ms);
    if (released.load() != rounds) outcome.double_release_round = rounds;
  }
  outcome.timed_wait_timed_out = timed_out.load();
  unstick();
  stop.store(true);
  // Sets on a set event coalesce, so keep setting until every waiter has left.
  std::atomic<int> exited{0};
  std::vector<std::thread> joiners;
  for (auto& waiter : waiters) joiners.emplace_back([&] { waiter.join(); exited.fetch_add(1); });
  const bool all_left = eventually([&] {
    event.set();
    return exited.load() == kWaiters;
  });
  for (auto& joiner : joiners) joiner.join();
  EXPECT_TRUE(all_left) << "waiters still blocked after the rounds";
  return outcome;
}

// How long a set() may take to release its waiter before the round counts as lost: far
// beyond any wake latency, so only a wake that never comes reaches it.
constexpr std::chrono::milliseconds kReleasePatience = 5s;

TYPED_TEST(AutoResetEventTest, EachSetReleasesExactlyOneWaiter) {
  using Event = typename TestFixture::Event;
  const RoundsOutcome outcome = release_rounds<Event>(
      2000, kReleasePatience, [](const Event& event) { return TestFixture::registered_waiters(event) == 4u; }, [] {});
  EXPECT_EQ(outcome.lost_wakeup_round, 0) << "a set() released no waiter: lost wakeup";
  EXPECT_EQ(outcome.double_release_round, 0) << "one set() released two waiters";
  EXPECT_FALSE(outcome.timed_wait_timed_out) << "a one-hour timed wait timed out";
  EXPECT_EQ(outcome.unparked_round, 0) << "the waiters did not all park within the patience";
}

// The same check against a backend whose wakes do nothing must report a lost wakeup:
// proof that the check above can fail. Waits park at once, and the first round waits
// until all four waiters sleep in the deaf backend, which only release() ends: its
// set() wakes nobody, on an idle machine or a loaded one.
TEST(AutoResetEventBrokenBackendTest, LostWakeupsAreDetected) {
  using Deaf = fev::testing::DeafWait<fev::DefaultWait>;
  const fev::testing::NoSpinning park_at_once;
  Deaf::deafen();
  const RoundsOutcome outcome = release_rounds<fev::BasicAutoResetEvent<Deaf>>(
      2000, kReleasePatience, [](const auto&) { return Deaf::sleepers() == 4; }, [] { Deaf::release(); });
  EXPECT_EQ(outcome.unparked_round, 0) << "the waiters never all slept in the deaf backend: the check tested nothing";
  EXPECT_NE(outcome.lost_wakeup_round, 0) << "the deaf backend lost no wakeup: the check cannot fail";
  EXPECT_FALSE(outcome.timed_wait_timed_out) << "a one-hour timed wait timed out";
}

TYPED_TEST(AutoResetEventTest, SetPublishesPriorWrites) {
  for (int round = 0; round < 200; ++round) {
    typename TestFixture::Event event;
    int payload = 0;
    std::thread reader([&] {
      event.wait();
      EXPECT_EQ(payload, 7);
    });
    payload = 7;
    event.set();
    reader.join();
  }
}

TYPED_TEST(AutoResetEventTest, WaiterMayDestroyTheEventRightAfterWaking) {
  for (int round = 0; round < 500; ++round) {
    auto* event = new typename TestFixture::Event;
    std::thread waiter([event] {
      event->wait();
      delete event;
    });
    if (round % 2 == 0) std::this_thread::sleep_for(50us);
    event->set();
    waiter.join();
  }
}

// Destroying an auto-reset event while a thread waits on it stops the program with one
// line instead of a use after free; waiters that left (by a signal or a timeout) leave
// nothing behind.
TEST(AutoResetEventLifetimeDeathTest, DestroyedWhileAThreadWaits) {
  FEV_SKIP_DEATH_TEST_UNDER_EMULATOR();
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        auto* event = new fev::AutoResetEvent;
        std::thread([event] { event->wait(); }).detach();
        // relaxed: a test's poll for the waiter's registration (bits 1..31).
        while (event->word().load(std::memory_order_relaxed) < 2u) std::this_thread::yield();
        delete event;
      },
      // ... and says what to do instead.
      "an AutoResetEvent was destroyed while threads or coroutines were still waiting on it: set\\(\\) it once "
      "per waiter or stop the waits, and join every thread \\(finish every coroutine\\) that waits on it, before "
      "destroying it");
}

TEST(AutoResetEventLifetime, DestroyedAfterItsWaitersLeft) {
  auto event = std::make_unique<fev::AutoResetEvent>();
  EXPECT_FALSE(event->wait_for(std::chrono::milliseconds(1)));
  std::thread waiter([&] { event->wait(); });
  while (event->word().load(std::memory_order_relaxed) < 2u) std::this_thread::yield();  // relaxed: a poll
  event->set();
  waiter.join();
  EXPECT_EQ(event->word().load(), 0u);
  event.reset();  // no refusal
}

}  // namespace
