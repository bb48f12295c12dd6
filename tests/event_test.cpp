// SPDX-License-Identifier: MIT
// fev::Event: Python threading.Event semantics, over every wait backend.
#include "fev/event.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <thread>
#include <vector>

#include "test_backends.hpp"

namespace {

using namespace std::chrono_literals;
using fev::testing::eventually;
using Clock = std::chrono::steady_clock;

template <class Backend>
class EventTest : public ::testing::Test {
 protected:
  using Event = fev::BasicEvent<Backend>;
  // The word's "a waiter is parked" bit (see BasicEvent's layout comment).
  static bool has_parked_waiter(const Event& event) { return (event.word().load() & 2u) != 0; }
};
TYPED_TEST_SUITE(EventTest, fev::testing::AllBackends, fev::testing::BackendNames);

TYPED_TEST(EventTest, StartsClearOrSetAsAsked) {
  typename TestFixture::Event cleared;
  typename TestFixture::Event initially_set(true);
  EXPECT_FALSE(cleared.is_set());
  EXPECT_TRUE(initially_set.is_set());
}

TYPED_TEST(EventTest, WaitReturnsAtOnceWhenSet) {
  typename TestFixture::Event event;
  event.set();
  event.set();  // setting twice is harmless
  EXPECT_TRUE(event.is_set());
  event.wait();
  EXPECT_TRUE(event.wait_for(0s));
  EXPECT_TRUE(event.wait_for(-1s));
  EXPECT_TRUE(event.wait_until(Clock::now() - 1h));
  EXPECT_TRUE(event.wait_until(std::chrono::system_clock::now() - 1h));
}

TYPED_TEST(EventTest, ClearResetsTheFlag) {
  typename TestFixture::Event event(true);
  event.clear();
  EXPECT_FALSE(event.is_set());
  event.clear();  // clearing a clear event is harmless
  EXPECT_FALSE(event.wait_for(1ms));
  event.set();
  EXPECT_TRUE(event.is_set());
}

TYPED_TEST(EventTest, ZeroAndNegativeTimeoutsDoNotBlock) {
  typename TestFixture::Event event;
  const auto start = Clock::now();
  EXPECT_FALSE(event.wait_for(0s));
  EXPECT_FALSE(event.wait_for(-5s));
  EXPECT_FALSE(event.wait_for(std::chrono::duration<double>(-0.5)));
  EXPECT_FALSE(event.wait_until(Clock::now() - 1s));
  EXPECT_FALSE(event.wait_until(std::chrono::system_clock::now() - 1s));
  EXPECT_FALSE(event.wait_until(Clock::time_point::min()));
  // Generous bound: none of these may block for a timeout's worth.
  EXPECT_LT(Clock::now() - start, 1s);
}

TYPED_TEST(EventTest, WaitForTimesOutNoEarlierThanItsTimeout) {
  typename TestFixture::Event event;
  for (const auto timeout : {1ms, 20ms, 50ms}) {
    const auto start = Clock::now();
    EXPECT_FALSE(event.wait_for(timeout));
    EXPECT_GE(Clock::now() - start, timeout);
  }
  using FractionalMs = std::chrono::duration<double, std::milli>;
  const auto start = Clock::now();
  EXPECT_FALSE(event.wait_for(FractionalMs(15.5)));
  EXPECT_GE(FractionalMs(Clock::now() - start).count(), 15.5);
}

TYPED_TEST(EventTest, WaitUntilTimesOutAtItsDeadlineOnBothClocks) {
  typename TestFixture::Event event;
  const auto steady_deadline = Clock::now() + 30ms;
  EXPECT_FALSE(event.wait_until(steady_deadline));
  EXPECT_GE(Clock::now(), steady_deadline);

  const auto start = Clock::now();
  EXPECT_FALSE(event.wait_until(std::chrono::system_clock::now() + 30ms));
  EXPECT_GE(Clock::now() - start, 29ms);  // system_clock and steady_clock tick apart by < 1ms
}

TYPED_TEST(EventTest, HugeTimeoutsSaturateInsteadOfOverflowing) {
  typename TestFixture::Event event;
  std::thread setter([&] {
    std::this_thread::sleep_for(5ms);
    event.set();
  });
  EXPECT_TRUE(event.wait_for(std::chrono::hours::max()));
  setter.join();
  event.clear();
  std::thread setter_again([&] {
    std::this_thread::sleep_for(5ms);
    event.set();
  });
  EXPECT_TRUE(event.wait_until(std::chrono::system_clock::time_point::max()));
  setter_again.join();
}

TYPED_TEST(EventTest, TimedWaitsReturnTrueWhenSetMeanwhile) {
  typename TestFixture::Event event;
  std::thread setter([&] {
    std::this_thread::sleep_for(10ms);
    event.set();
  });
  EXPECT_TRUE(event.wait_for(30s));
  setter.join();

  event.clear();
  std::thread setter_steady([&] {
    std::this_thread::sleep_for(10ms);
    event.set();
  });
  EXPECT_TRUE(event.wait_until(Clock::now() + 30s));
  setter_steady.join();

  event.clear();
  std::thread setter_system([&] {
    std::this_thread::sleep_for(10ms);
    event.set();
  });
  EXPECT_TRUE(event.wait_until(std::chrono::system_clock::now() + 30s));
  setter_system.join();
}

TYPED_TEST(EventTest, OneSetReleasesEveryWaiter) {
  typename TestFixture::Event event;
  constexpr int kWaiters = 8;
  std::atomic<int> released{0};
  std::vector<std::thread> waiters;
  for (int i = 0; i < kWaiters; ++i) {
    waiters.emplace_back([&, i] {
      // A mix of untimed and timed waiters; the timed ones have time to spare.
      if (i % 2 == 0) {
        event.wait();
        released.fetch_add(1);
      } else if (event.wait_for(60s)) {
        released.fetch_add(1);
      }
    });
  }
  ASSERT_TRUE(eventually([&] { return TestFixture::has_parked_waiter(event); }));
  std::this_thread::sleep_for(20ms);  // let the rest reach the kernel too
  EXPECT_EQ(released.load(), 0);
  event.set();
  for (auto& waiter : waiters) waiter.join();
  EXPECT_EQ(released.load(), kWaiters);
}

// Python semantics: a waiter blocked when set() is called returns True even if clear()
// runs immediately after, before the waiter is scheduled.
TYPED_TEST(EventTest, SetThenClearStillReleasesParkedWaiters) {
  for (int round = 0; round < 50; ++round) {
    typename TestFixture::Event event;
    std::atomic<int> released{0};
    std::atomic<int> started{0};
    std::vector<std::thread> waiters;
    for (int i = 0; i < 3; ++i) {
      waiters.emplace_back([&] {
        started.fetch_add(1);
        if (event.wait_for(60s)) released.fetch_add(1);
      });
    }
    ASSERT_TRUE(eventually([&] { return started.load() == 3 && TestFixture::has_parked_waiter(event); }));
    std::this_thread::sleep_for(20ms);  // all three are past their first read by now
    event.set();
    event.clear();
    for (auto& waiter : waiters) waiter.join();
    // All three were waiting when set() was called, so all three must be released,
    // although the event was cleared again before any of them ran.
    EXPECT_EQ(released.load(), 3) << "round " << round;
    EXPECT_FALSE(event.is_set());
  }
}

TYPED_TEST(EventTest, SetPublishesPriorWrites) {
  // Under ThreadSanitizer a missing release/acquire edge shows up as a data race.
  for (int round = 0; round < 200; ++round) {
    typename TestFixture::Event event;
    int payload = 0;
    std::thread reader([&] {
      event.wait();
      EXPECT_EQ(payload, 42);
    });
    payload = 42;
    event.set();
    reader.join();
  }
}

// The setter must not touch the event after the store that releases the waiter: the
// waiter may destroy it at once. AddressSanitizer flags any such use after free.
TYPED_TEST(EventTest, WaiterMayDestroyTheEventRightAfterWaking) {
  for (int round = 0; round < 500; ++round) {
    auto* event = new typename TestFixture::Event;
    std::thread waiter([event] {
      event->wait();
      delete event;
    });
    if (round % 2 == 0) std::this_thread::sleep_for(50us);  // sometimes parked, sometimes spinning
    event->set();
    waiter.join();
  }
}

// What storm_stalled_waiter() saw: the index of a waiter that did not move for
// `patience` while the setter kept setting (a lost wakeup: each set() releases every
// waiter that is waiting at that moment), or -1; and whether a checkpoint found no
// parked waiter within `patience`.
struct StormOutcome {
  int stalled_waiter = -1;
  bool checkpoint_missed = false;
};

// Setters, clearers and waiters all at once for at least `run_for`. The storm ends
// only once every waiter has returned from `moves_each` waits and has moved again after
// `run_for`, so a waiter that stops moving at any point, early or late, is caught
// however short `patience` is next to `run_for`. Before its first set() and every
// kSetsPerCheckpoint sets after it, the setter leaves the event clear until
// `parked(event)` holds (a waiter parked on it): a set() whose wakes are lost then
// always has a parked waiter to strand, where waiters that keep finding the event set
// (by polling, or on a loaded machine where the setter runs between their turns) might
// never park at all. `unstick` runs before the threads are joined (a broken backend
// lets its stuck waiters go there).
template <class Event, class Parked, class Unstick>
StormOutcome storm_stalled_waiter(Clock::duration run_for, int moves_each, std::chrono::milliseconds patience,
                                  Parked&& parked, Unstick&& unstick) {
  Event event;
  constexpr std::size_t kWaiters = 4;
  constexpr long kSetsPerCheckpoint = 64;
  std::atomic<bool> stop{false};
  std::atomic<bool> checkpoint_missed{false};
  std::vector<std::atomic<long>> progress(kWaiters);
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < kWaiters; ++i) {
    threads.emplace_back([&, i] {
      while (!stop.load()) {
        if (i % 2 == 0) {
          event.wait();
        } else {
          (void)event.wait_for(2ms);
        }
        progress[i].fetch_add(1);
      }
    });
  }
  threads.emplace_back([&] {  // setter
    for (long sets = 0; !stop.load(); ++sets) {
      if (sets % kSetsPerCheckpoint == 0) {  // the first set() too: before any waiter is done
        event.clear();
        if (!eventually([&] { return stop.load() || parked(event); }, patience)) checkpoint_missed.store(true);
      }
      event.set();
      std::this_thread::yield();
      event.clear();
    }
  });
  threads.emplace_back([&] {  // an extra clearer racing with everything
    while (!stop.load()) {
      event.clear();
      std::this_thread::yield();
    }
  });

  // Watchdog: every 10 ms, each waiter that is not done must have moved within the
  // last `patience`.
  const auto finish_line = Clock::now() + run_for;
  std::vector<long> last_seen(kWaiters, -1);
  std::vector<Clock::time_point> last_move(kWaiters, Clock::now());
  StormOutcome outcome;
  for (bool all_done = false; !all_done && outcome.stalled_waiter < 0;) {
    std::this_thread::sleep_for(10ms);
    const auto now = Clock::now();
    all_done = true;
    for (std::size_t i = 0; i < kWaiters; ++i) {
      const long count = progress[i].load();
      if (count != last_seen[i]) {
        last_seen[i] = count;
        last_move[i] = now;
      }
      const bool done = count >= moves_each && last_move[i] > finish_line;
      if (!done) all_done = false;
      if (!done && now - last_move[i] > patience) outcome.stalled_waiter = static_cast<int>(i);
    }
  }
  unstick();
  stop.store(true);
  // Stop the setter and the clearer first: a clear() after the final set() could
  // leave a waiter that re-entered wait() blocked for ever.
  threads[kWaiters].join();
  threads[kWaiters + 1].join();
  event.set();  // release whoever is still waiting; nothing clears it any more
  for (std::size_t i = 0; i < kWaiters; ++i) threads[i].join();
  outcome.checkpoint_missed = checkpoint_missed.load();
  return outcome;
}

// The patience is far beyond any wake latency, so only a wake that never comes reaches
// it; the storm runs past it anyway, since it ends only on every waiter's progress.
constexpr std::chrono::milliseconds kStormPatience = 5s;
constexpr Clock::duration kStormRunFor = 2s;
constexpr int kStormMovesEach = 3000;

TYPED_TEST(EventTest, SetClearWaitStormLosesNoWakeup) {
  using Event = typename TestFixture::Event;
  const StormOutcome outcome = storm_stalled_waiter<Event>(
      kStormRunFor, kStormMovesEach, kStormPatience, [](const Event& event) { return TestFixture::has_parked_waiter(event); },
      [] {});
  EXPECT_EQ(outcome.stalled_waiter, -1) << "waiter " << outcome.stalled_waiter
                                        << " made no progress while the setter kept setting";
  EXPECT_FALSE(outcome.checkpoint_missed) << "no waiter parked on the clear event within the patience";
}

// The same storm against a backend whose wakes do nothing must catch a stalled waiter:
// proof that the watchdog above can fire. Waits park at once, and each checkpoint waits
// until an untimed waiter sleeps in the deaf backend, which only release() ends: the
// checkpoint's set() strands it, on an idle machine or a loaded one.
TEST(EventBrokenBackendTest, StormCatchesLostWakeups) {
  using Deaf = fev::testing::DeafWait<fev::DefaultWait>;
  using Event = fev::BasicEvent<Deaf>;
  const fev::testing::NoSpinning park_at_once;
  Deaf::deafen();
  const StormOutcome outcome = storm_stalled_waiter<Event>(
      kStormRunFor, kStormMovesEach, kStormPatience, [](const Event&) { return Deaf::untimed_sleepers() > 0; },
      [] { Deaf::release(); });
  EXPECT_FALSE(outcome.checkpoint_missed) << "no untimed waiter reached the deaf backend: the check tested nothing";
  EXPECT_NE(outcome.stalled_waiter, -1) << "no waiter stalled on the deaf backend: the watchdog cannot fire";
  EXPECT_EQ(outcome.stalled_waiter % 2, 0) << "only untimed waiters can stall; a timed one returns at its timeout";
}

}  // namespace
