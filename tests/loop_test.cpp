// SPDX-License-Identifier: MIT
// fev::Loop: coroutines on an io_uring loop wait on the Events and Rings that threads
// set, push and pop. Every test runs twice: with futex waits in io_uring where the
// kernel has them (Linux 6.7+), and on the forced fallback path (polling timers).
// Every run has a watchdog: a hang stops the loop and fails the test instead.
#include "fev/loop.hpp"

#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <mutex>
#include <optional>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include "fev/event.hpp"
#include "fev/ring.hpp"
#include "loop_test_support.hpp"

namespace {

using namespace std::chrono_literals;
using fev::testing::LoopWatchdog;
using fev::testing::run_all;

class LoopTest : public fev::testing::LoopPathTest {};

INSTANTIATE_TEST_SUITE_P(Paths, LoopTest, ::testing::Values(false, true),
                         [](const ::testing::TestParamInfo<bool>& info) {
                           return std::string(info.param ? "Fallback" : "FutexWait");
                         });

TEST_P(LoopTest, ThreadSetWakesEveryAwaitingCoroutineOnTheLoopThread) {
  fev::Event event;
  constexpr int kWaiters = 16;
  std::atomic<int> woken{0};
  std::atomic<int> elsewhere{0};
  const auto loop_thread = std::this_thread::get_id();
  for (int i = 0; i < kWaiters; ++i) {
    loop().spawn([](fev::Loop& loop, fev::Event& event, std::atomic<int>& woken, std::atomic<int>& elsewhere,
                    std::thread::id loop_thread) -> fev::Task<> {
      const bool set = co_await fev::async_wait(loop, event);
      if (std::this_thread::get_id() != loop_thread) elsewhere.fetch_add(1);
      if (set) woken.fetch_add(1);
    }(loop(), event, woken, elsewhere, loop_thread));
  }
  std::jthread setter([&] {
    std::this_thread::sleep_for(20ms);
    event.set();
  });
  ASSERT_TRUE(run_all(loop()));
  EXPECT_EQ(woken.load(), kWaiters);
  EXPECT_EQ(elsewhere.load(), 0);
}

// A process-shared event (fev::SharedEvent's type) wakes with a shared, not private,
// futex wake: the loop arms the matching flag.
TEST_P(LoopTest, SharedEventWakesCoroutines) {
  fev::BasicEvent<fev::backend::FutexShared> event;
  std::atomic<int> woken{0};
  for (int i = 0; i < 4; ++i) {
    loop().spawn([](fev::Loop& loop, fev::BasicEvent<fev::backend::FutexShared>& event, std::atomic<int>& woken) -> fev::Task<> {
      const bool set = co_await fev::async_wait_for(loop, event, 60s);
      if (set) woken.fetch_add(1);
    }(loop(), event, woken));
  }
  std::jthread setter([&] {
    std::this_thread::sleep_for(20ms);
    event.set();
  });
  ASSERT_TRUE(run_all(loop()));
  EXPECT_EQ(woken.load(), 4);
}

// The same event in memory shared with a child process, which sets it.
TEST_P(LoopTest, SharedEventSetByAnotherProcessWakesCoroutines) {
  using SharedEvent = fev::BasicEvent<fev::backend::FutexShared>;
  void* memory = mmap(nullptr, sizeof(SharedEvent), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(memory, MAP_FAILED);
  SharedEvent* event = ::new (memory) SharedEvent();
  bool woken = false;
  loop().spawn([](fev::Loop& loop, SharedEvent& event, bool& woken) -> fev::Task<> {
    woken = co_await fev::async_wait_for(loop, event, 60s);
  }(loop(), *event, woken));
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    usleep(30000);  // the parent's coroutine is parked by now, most likely
    event->set();
    _exit(0);
  }
  const bool finished = run_all(loop());
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  ASSERT_TRUE(finished);
  EXPECT_TRUE(woken);
  event->~SharedEvent();
  munmap(memory, sizeof(SharedEvent));
}

TEST_P(LoopTest, SetThenClearStillReleasesTheWaiters) {
  fev::Event event;
  fev::Event parked;  // the coroutine is about to wait
  bool result = false;
  loop().spawn([](fev::Loop& loop, fev::Event& event, fev::Event& parked, bool& result) -> fev::Task<> {
    parked.set();
    result = co_await fev::async_wait(loop, event);
  }(loop(), event, parked, result));
  std::jthread setter([&] {
    parked.wait();
    std::this_thread::sleep_for(10ms);
    event.set();
    event.clear();  // Python's rule: whoever waited when set() came is released
  });
  ASSERT_TRUE(run_all(loop()));
  EXPECT_TRUE(result);
}

TEST_P(LoopTest, AnEventAlreadySetDoesNotSuspend) {
  fev::Event event(true);
  int steps = 0;
  loop().spawn([](fev::Loop& loop, fev::Event& event, int& steps) -> fev::Task<> {
    for (int i = 0; i < 1000; ++i) {
      const bool set = co_await fev::async_wait(loop, event);
      if (set) ++steps;
    }
  }(loop(), event, steps));
  ASSERT_TRUE(run_all(loop()));
  EXPECT_EQ(steps, 1000);
}

TEST_P(LoopTest, TimedWaitReturnsFalseNoEarlierThanTheDeadline) {
  fev::Event event;
  bool result = true;
  std::chrono::steady_clock::duration waited{};
  loop().spawn([](fev::Loop& loop, fev::Event& event, bool& result,
                  std::chrono::steady_clock::duration& waited) -> fev::Task<> {
    const auto start = std::chrono::steady_clock::now();
    result = co_await fev::async_wait_for(loop, event, 30ms);
    waited = std::chrono::steady_clock::now() - start;
  }(loop(), event, result, waited));
  ASSERT_TRUE(run_all(loop()));
  EXPECT_FALSE(result);
  EXPECT_GE(waited, 30ms);
}

TEST_P(LoopTest, TimedWaitsSeeASetBeforeTheirDeadline) {
  fev::Event event;
  std::atomic<int> set_seen{0};
  for (int i = 0; i < 8; ++i) {
    loop().spawn([](fev::Loop& loop, fev::Event& event, std::atomic<int>& set_seen) -> fev::Task<> {
      const bool set = co_await fev::async_wait_until(loop, event, std::chrono::steady_clock::now() + 60s);
      if (set) set_seen.fetch_add(1);
    }(loop(), event, set_seen));
  }
  std::jthread setter([&] {
    std::this_thread::sleep_for(10ms);
    event.set();
  });
  ASSERT_TRUE(run_all(loop()));
  EXPECT_EQ(set_seen.load(), 8);
}

TEST_P(LoopTest, ZeroTimeoutChecksOnce) {
  fev::Event unset;
  fev::Event set(true);
  bool on_unset = true, on_set = false;
  loop().spawn([](fev::Loop& loop, fev::Event& unset, fev::Event& set, bool& on_unset, bool& on_set) -> fev::Task<> {
    on_unset = co_await fev::async_wait_for(loop, unset, 0ms);
    on_set = co_await fev::async_wait_for(loop, set, 0ms);
  }(loop(), unset, set, on_unset, on_set));
  ASSERT_TRUE(run_all(loop()));
  EXPECT_FALSE(on_unset);
  EXPECT_TRUE(on_set);
}

TEST_P(LoopTest, StopTokenCancelsAParkedEventWait) {
  fev::Event event;
  fev::Event parked;
  std::stop_source source;
  std::optional<bool> result;
  loop().spawn([](fev::Loop& loop, fev::Event& event, fev::Event& parked, std::stop_token stop,
                  std::optional<bool>& result) -> fev::Task<> {
    parked.set();
    result = co_await fev::async_wait(loop, event, stop);
  }(loop(), event, parked, source.get_token(), result));
  std::jthread canceller([&] {
    parked.wait();
    std::this_thread::sleep_for(20ms);  // most likely parked in the kernel by now
    source.request_stop();
  });
  ASSERT_TRUE(run_all(loop()));
  ASSERT_TRUE(result.has_value());
  EXPECT_FALSE(*result);
  EXPECT_FALSE(event.is_set());
}

TEST_P(LoopTest, AStopRequestedBeforeTheWaitAnswersAtOnce) {
  fev::Event event;
  std::stop_source source;
  source.request_stop();
  std::optional<bool> result;
  loop().spawn([](fev::Loop& loop, fev::Event& event, std::stop_token stop,
                  std::optional<bool>& result) -> fev::Task<> {
    result = co_await fev::async_wait(loop, event, stop);
  }(loop(), event, source.get_token(), result));
  ASSERT_TRUE(run_all(loop()));
  ASSERT_TRUE(result.has_value());
  EXPECT_FALSE(*result);
}

// A stop request and a set() racing, many times: each wait ends exactly once, true
// whenever the set came first, and nothing hangs.
TEST_P(LoopTest, StopAndSetRaceEndEachWaitOnce) {
  constexpr int kRounds = 200;
  std::atomic<int> ended{0};
  std::vector<std::unique_ptr<fev::Event>> events;
  std::vector<std::stop_source> sources(kRounds);
  for (int i = 0; i < kRounds; ++i) {
    events.push_back(std::make_unique<fev::Event>());
    loop().spawn([](fev::Loop& loop, fev::Event& event, std::stop_token stop, std::atomic<int>& ended) -> fev::Task<> {
      (void)co_await fev::async_wait(loop, event, stop);
      ended.fetch_add(1);
    }(loop(), *events[i], sources[i].get_token(), ended));
  }
  std::jthread racer([&] {
    for (int i = 0; i < kRounds; ++i) {
      if (i % 2) {
        events[i]->set();
        sources[i].request_stop();
      } else {
        sources[i].request_stop();
        events[i]->set();
      }
    }
  });
  ASSERT_TRUE(run_all(loop()));
  EXPECT_EQ(ended.load(), kRounds);
}

// Each set() of an AutoResetEvent releases exactly one waiter, coroutine or thread.
TEST_P(LoopTest, AutoResetEventHandsEachSignalToOneWaiter) {
  const int signals = GetParam() ? 200 : 2000;
  constexpr int kCoroutines = 4;
  fev::AutoResetEvent event;
  std::atomic<int> taken{0};
  std::atomic<int> by_thread{0};
  std::atomic<bool> finished{false};
  for (int i = 0; i < kCoroutines; ++i) {
    loop().spawn([](fev::Loop& loop, fev::AutoResetEvent& event, std::atomic<int>& taken) -> fev::Task<> {
      for (;;) {
        const bool took = co_await fev::async_wait(loop, event);
        if (!took) break;
        taken.fetch_add(1);
      }
    }(loop(), event, taken));
  }
  std::jthread thread_waiter([&] {
    while (!finished.load()) {
      if (event.wait_for(1ms)) {
        taken.fetch_add(1);
        by_thread.fetch_add(1);
      }
    }
  });
  std::jthread setter([&] {
    for (int k = 0; k < signals; ++k) {
      event.set();
      // The next set() only once this one's signal is taken: set() on a set event adds none.
      const auto give_up = std::chrono::steady_clock::now() + 10s;
      while (taken.load() < k + 1 && std::chrono::steady_clock::now() < give_up) std::this_thread::yield();
    }
    finished.store(true);
    loop().stop();  // the coroutines wait on: end the run from here
  });
  LoopWatchdog watchdog(loop(), 60s);
  loop().run();
  ASSERT_FALSE(watchdog.disarm()) << "taken " << taken.load() << " of " << signals;
  setter.join();
  thread_waiter.join();
  EXPECT_EQ(taken.load(), signals);
  EXPECT_FALSE(event.try_wait()) << "a signal was left behind";
  std::printf("signals taken by the thread: %d of %d\n", by_thread.load(), signals);
  loop_.reset();  // the coroutines still wait: the loop tears them down
}

TEST_P(LoopTest, AutoResetEventTimedAndCancelledWaitsTakeNothing) {
  fev::AutoResetEvent event;
  std::stop_source source;
  std::optional<bool> timed, cancelled;
  loop().spawn([](fev::Loop& loop, fev::AutoResetEvent& event, std::optional<bool>& timed) -> fev::Task<> {
    timed = co_await fev::async_wait_for(loop, event, 20ms);
  }(loop(), event, timed));
  loop().spawn([](fev::Loop& loop, fev::AutoResetEvent& event, std::stop_token stop,
                  std::optional<bool>& cancelled) -> fev::Task<> {
    cancelled = co_await fev::async_wait(loop, event, stop);
  }(loop(), event, source.get_token(), cancelled));
  std::jthread canceller([&] {
    std::this_thread::sleep_for(30ms);
    source.request_stop();
  });
  ASSERT_TRUE(run_all(loop()));
  ASSERT_TRUE(timed && cancelled);
  EXPECT_FALSE(*timed);
  EXPECT_FALSE(*cancelled);
  EXPECT_EQ(fev::detail::AutoResetEventAccess::word(event).load(), 0u) << "a waiter stayed registered";
  event.set();
  EXPECT_TRUE(event.try_wait());
}

// Two producer threads feed a ring; coroutines (and, for a while, a thread) drain it: every item
// arrives exactly once.
TEST_P(LoopTest, RingFedByThreadsDrainedByCoroutinesDeliversEachItemOnce) {
  constexpr int kProducers = 2;
  const int per_producer = GetParam() ? 5000 : 50000;
  constexpr int kCoroutines = 8;
  fev::Ring<std::uint32_t> ring(16);
  std::vector<std::atomic<int>> seen(kProducers * per_producer);
  std::atomic<int> by_thread{0};
  for (int c = 0; c < kCoroutines; ++c) {
    loop().spawn([](fev::Loop& loop, fev::Ring<std::uint32_t>& ring, std::vector<std::atomic<int>>& seen) -> fev::Task<> {
      while (const std::optional<std::uint32_t> item = co_await fev::async_pop(loop, ring)) seen[*item].fetch_add(1);
    }(loop(), ring, seen));
  }
  std::vector<std::jthread> producers;
  for (int p = 0; p < kProducers; ++p) {
    producers.emplace_back([&ring, p, per_producer] {
      for (int i = 0; i < per_producer; ++i) ASSERT_TRUE(ring.push(static_cast<std::uint32_t>(p * per_producer + i)));
    });
  }
  // A thread consumer too, for a tenth of the items: the coroutines take the rest.
  std::jthread thread_consumer([&] {
    std::uint32_t item = 0;
    while (by_thread.load() < kProducers * per_producer / 10 && ring.pop(item)) {
      seen[item].fetch_add(1);
      by_thread.fetch_add(1);
    }
  });
  std::jthread closer([&] {
    for (auto& producer : producers) producer.join();
    ring.close();
  });
  ASSERT_TRUE(run_all(loop()));
  closer.join();
  thread_consumer.join();
  int wrong = 0;
  for (const auto& count : seen) wrong += count.load() != 1;
  EXPECT_EQ(wrong, 0);
  std::printf("items taken by the thread consumer: %d of %d\n", by_thread.load(), kProducers * per_producer);
}

// A coroutine pushes into a full ring; a thread frees room slowly.
TEST_P(LoopTest, AsyncPushWaitsForRoomThatAThreadFrees) {
  constexpr int kItems = 2000;
  fev::Ring<int> ring(2);
  bool all_pushed = false;
  loop().spawn([](fev::Loop& loop, fev::Ring<int>& ring, bool& all_pushed) -> fev::Task<> {
    for (int i = 0; i < kItems; ++i) {
      int value = i;
      if (!co_await fev::async_push(loop, ring, std::move(value))) co_return;
    }
    all_pushed = true;
    ring.close();
  }(loop(), ring, all_pushed));
  std::vector<int> popped;
  std::jthread consumer([&] {
    int value = 0;
    while (ring.pop(value)) {
      popped.push_back(value);
      if (popped.size() % 256 == 0) std::this_thread::sleep_for(1ms);  // let the pusher park
    }
  });
  ASSERT_TRUE(run_all(loop()));
  consumer.join();
  EXPECT_TRUE(all_pushed);
  ASSERT_EQ(popped.size(), static_cast<std::size_t>(kItems));
  for (int i = 0; i < kItems; ++i) ASSERT_EQ(popped[i], i);
}

TEST_P(LoopTest, AsyncPushIntoAClosedRingKeepsTheValue) {
  fev::Ring<std::unique_ptr<int>> ring(1);
  ring.close();
  bool pushed = true;
  bool kept = false;
  loop().spawn([](fev::Loop& loop, fev::Ring<std::unique_ptr<int>>& ring, bool& pushed, bool& kept) -> fev::Task<> {
    auto value = std::make_unique<int>(7);
    pushed = co_await fev::async_push(loop, ring, std::move(value));
    kept = value != nullptr;
  }(loop(), ring, pushed, kept));
  ASSERT_TRUE(run_all(loop()));
  EXPECT_FALSE(pushed);
  EXPECT_TRUE(kept);
}

// Coroutine producers and consumers on one loop, through a ring of capacity 1.
TEST_P(LoopTest, CoroutinePingPongThroughATinyRing) {
  const int items = GetParam() ? 500 : 5000;  // the fallback polls: about 1 ms per hand-off
  fev::Ring<int> ring(1);
  long long sum = 0;
  loop().spawn([](fev::Loop& loop, fev::Ring<int>& ring, int items) -> fev::Task<> {
    for (int i = 1; i <= items; ++i) {
      int value = i;
      (void)co_await fev::async_push(loop, ring, std::move(value));
    }
    ring.close();
  }(loop(), ring, items));
  loop().spawn([](fev::Loop& loop, fev::Ring<int>& ring, long long& sum) -> fev::Task<> {
    while (auto value = co_await fev::async_pop(loop, ring)) sum += *value;
  }(loop(), ring, sum));
  ASSERT_TRUE(run_all(loop()));
  EXPECT_EQ(sum, static_cast<long long>(items) * (items + 1) / 2);
}

TEST_P(LoopTest, StopTokenCancelsAParkedAsyncPopAndTheNextItemIsNotLost) {
  fev::Ring<int> ring(4);
  fev::Event parked;
  std::stop_source source;
  std::optional<fev::PopResult<int>> cancelled_result;
  std::optional<int> other;
  loop().spawn([](fev::Loop& loop, fev::Ring<int>& ring, fev::Event& parked, std::stop_token stop,
                  std::optional<fev::PopResult<int>>& result) -> fev::Task<> {
    parked.set();
    result.emplace(co_await fev::async_pop(loop, ring, stop));
  }(loop(), ring, parked, source.get_token(), cancelled_result));
  std::jthread driver([&] {
    parked.wait();
    std::this_thread::sleep_for(20ms);
    source.request_stop();
  });
  ASSERT_TRUE(run_all(loop()));
  driver.join();
  ASSERT_TRUE(cancelled_result.has_value());
  EXPECT_EQ(cancelled_result->status, fev::Status::cancelled);
  EXPECT_FALSE(cancelled_result->value.has_value());
  EXPECT_EQ(fev::detail::RingAccess::consumers_word(ring).load() & fev::detail::RingAccess::kSleepersMask, 0u)
      << "the cancelled coroutine left the ring's sleepers";
  // The item pushed afterwards goes to someone else.
  loop().spawn([](fev::Loop& loop, fev::Ring<int>& ring, std::optional<int>& other) -> fev::Task<> {
    other = co_await fev::async_pop(loop, ring);
  }(loop(), ring, other));
  std::jthread pusher([&] {
    std::this_thread::sleep_for(10ms);
    ASSERT_TRUE(ring.push(42));
  });
  ASSERT_TRUE(run_all(loop()));
  ASSERT_TRUE(other.has_value());
  EXPECT_EQ(*other, 42);
}

// The relay: three consumers park on one ring, each for one value; the first can be
// cancelled. A thread pushes two values back to back (the second push finds the first
// one's wake still on its way and makes none) and cancels the first consumer. Whoever
// took the wake must pass it on when it leaves, cancelled or not; otherwise a consumer
// sleeps on with a value in the ring, and the watchdog fires.
TEST_P(LoopTest, AWokenConsumerPassesTheWakeOnEvenWhenCancelled) {
  const int rounds = GetParam() ? 50 : 300;
  fev::Ring<int> ring(8);
  for (int round = 0; round < rounds; ++round) {
    std::stop_source source;
    std::atomic<int> parked{0};
    std::optional<fev::PopResult<int>> first;
    std::vector<int> values;
    loop().spawn([](fev::Loop& loop, fev::Ring<int>& ring, std::stop_token stop, std::atomic<int>& parked,
                    std::optional<fev::PopResult<int>>& result, std::vector<int>& values) -> fev::Task<> {
      parked.fetch_add(1);
      result.emplace(co_await fev::async_pop(loop, ring, stop));
      if (result->value) values.push_back(*result->value);
    }(loop(), ring, source.get_token(), parked, first, values));
    for (int plain = 0; plain < 2; ++plain) {
      loop().spawn([](fev::Loop& loop, fev::Ring<int>& ring, std::atomic<int>& parked,
                      std::vector<int>& values) -> fev::Task<> {
        parked.fetch_add(1);
        if (const std::optional<int> value = co_await fev::async_pop(loop, ring)) values.push_back(*value);
      }(loop(), ring, parked, values));
    }
    std::jthread racer([&, round] {
      while (parked.load() < 3) std::this_thread::yield();
      if (round % 3 != 2) std::this_thread::sleep_for(std::chrono::microseconds(300));
      if (round % 2) source.request_stop();
      ASSERT_TRUE(ring.push(2 * round));
      ASSERT_TRUE(ring.push(2 * round + 1));
      source.request_stop();
    });
    LoopWatchdog watchdog(loop(), 10s);
    loop().run_until([&] { return first.has_value() && values.size() == 2; });
    ASSERT_FALSE(watchdog.disarm()) << "round " << round << ": a value was stranded in the ring";
    racer.join();
    std::sort(values.begin(), values.end());
    ASSERT_EQ(values, (std::vector<int>{2 * round, 2 * round + 1}));
    EXPECT_TRUE(first->status == fev::Status::ok || first->status == fev::Status::cancelled);
    EXPECT_TRUE(ring.empty());
    // A plain consumer still waits: end it with a value nobody counts.
    for (std::size_t left = loop().live_tasks(); left > 0; --left) {
      ASSERT_TRUE(ring.push(-1));
    }
    ASSERT_TRUE(run_all(loop(), 30s));
  }
}

// Two loops on their own threads and two plain threads consume one ring that two
// producer threads feed; a canceller thread keeps cancelling the coroutines' pops at
// random. Every item is taken exactly once, nothing hangs, and every coroutine always
// resumes on its own loop's thread.
TEST_P(LoopTest, TwoLoopsAndThreadsShareARingUnderRandomCancels) {
  const int per_producer = GetParam() ? 3000 : 30000;
  constexpr int kProducers = 2, kLoops = 2, kCoroutinesPerLoop = 4, kCancelsEach = 50;
  constexpr int kConsumers = kLoops * kCoroutinesPerLoop;
  fev::Ring<std::uint32_t> ring(8);
  std::vector<std::atomic<int>> seen(kProducers * per_producer);
  std::vector<std::vector<std::stop_source>> sources(kConsumers, std::vector<std::stop_source>(kCancelsEach));
  std::atomic<int> cancelled{0}, foreign_resumes{0};
  std::vector<std::unique_ptr<fev::Loop>> loops;
  std::vector<std::atomic<std::thread::id>> loop_threads(kLoops);
  loops.push_back(std::move(loop_));  // the fixture's loop (futex or fallback)
  fev::detail::force_loop_fallback(GetParam());
  loops.push_back(std::make_unique<fev::Loop>());
  fev::detail::force_loop_fallback(false);
  for (int l = 0; l < kLoops; ++l) {
    for (int c = 0; c < kCoroutinesPerLoop; ++c) {
      const int id = l * kCoroutinesPerLoop + c;
      loops[l]->spawn([](fev::Loop& loop, fev::Ring<std::uint32_t>& ring, std::vector<std::atomic<int>>& seen,
                         std::vector<std::stop_source>& sources, std::atomic<std::thread::id>& loop_thread,
                         std::atomic<int>& cancelled, std::atomic<int>& foreign_resumes) -> fev::Task<> {
        std::size_t next_source = 0;
        for (;;) {
          const std::stop_token stop = next_source < sources.size() ? sources[next_source].get_token() : std::stop_token{};
          fev::PopResult<std::uint32_t> result = co_await fev::async_pop(loop, ring, stop);
          if (std::this_thread::get_id() != loop_thread.load()) foreign_resumes.fetch_add(1);
          if (result.status == fev::Status::closed) co_return;
          if (result.status == fev::Status::cancelled) {
            cancelled.fetch_add(1);
            ++next_source;
            continue;
          }
          seen[*result.value].fetch_add(1);
        }
      }(*loops[l], ring, seen, sources[id], loop_threads[l], cancelled, foreign_resumes));
    }
  }
  std::vector<std::jthread> runners;
  std::atomic<int> watchdog_fired{0};
  for (int l = 0; l < kLoops; ++l) {
    runners.emplace_back([&, l] {
      loop_threads[l].store(std::this_thread::get_id());
      if (!run_all(*loops[l], 120s)) watchdog_fired.fetch_add(1);
    });
  }
  std::vector<std::jthread> workers;
  for (int t = 0; t < 2; ++t) {
    workers.emplace_back([&] {
      std::uint32_t item = 0;
      while (ring.pop(item)) seen[item].fetch_add(1);
    });
  }
  std::jthread canceller([&] {
    for (int k = 0; k < kCancelsEach; ++k) {
      for (int c = 0; c < kConsumers; ++c) {
        std::this_thread::sleep_for(std::chrono::microseconds((k * 7 + c * 13) % 50));
        sources[c][k].request_stop();
      }
    }
  });
  {
    std::vector<std::jthread> producers;
    for (int p = 0; p < kProducers; ++p) {
      producers.emplace_back([&ring, p, per_producer] {
        for (int i = 0; i < per_producer; ++i) ASSERT_TRUE(ring.push(static_cast<std::uint32_t>(p * per_producer + i)));
      });
    }
  }
  canceller.join();
  ring.close();
  workers.clear();
  runners.clear();
  EXPECT_EQ(watchdog_fired.load(), 0);
  int wrong = 0;
  for (const auto& count : seen) wrong += count.load() != 1;
  EXPECT_EQ(wrong, 0);
  EXPECT_EQ(foreign_resumes.load(), 0);
  std::printf("pops cancelled: %d\n", cancelled.load());
}

// 10^5 coroutines parked on one event; one set() releases them all, resumed by the
// loop one after another (a resume that recursed would overflow the stack).
TEST_P(LoopTest, OneSetReleasesAHundredThousandCoroutines) {
  const int waiters = GetParam() ? 2000 : 100000;
  fev::Event event;
  int released = 0;
  for (int i = 0; i < waiters; ++i) {
    loop().spawn([](fev::Loop& loop, fev::Event& event, int& released) -> fev::Task<> {
      const bool set = co_await fev::async_wait(loop, event);
      if (set) ++released;
    }(loop(), event, released));
  }
  std::jthread setter([&] {
    std::this_thread::sleep_for(50ms);
    event.set();
  });
  ASSERT_TRUE(run_all(loop(), 120s));
  EXPECT_EQ(released, waiters);
}

// A chain of tasks, each awaiting the next; the deepest waits on an event. Finishing
// the chain hands control up by symmetric transfer, without growing the stack.
fev::Task<int> chain(fev::Loop& loop, fev::Event& event, int depth) {
  if (depth == 0) {
    co_await fev::async_wait(loop, event);
    co_return 0;
  }
  co_return 1 + co_await chain(loop, event, depth - 1);
}

// Symmetric transfer is a tail call only where the compiler makes it one: g++ does not
// under AddressSanitizer, so there the chain is kept short enough for the stack.
#if defined(__SANITIZE_ADDRESS__)
constexpr int kChainDepth = 500;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr int kChainDepth = 500;
#else
constexpr int kChainDepth = 10000;
#endif
#else
constexpr int kChainDepth = 10000;
#endif

TEST_P(LoopTest, ADeepChainOfTasksEndsWithoutRecursion) {
  constexpr int kDepth = kChainDepth;
  fev::Event event;
  int result = -1;
  loop().spawn([](fev::Loop& loop, fev::Event& event, int& result) -> fev::Task<> {
    result = co_await chain(loop, event, kDepth);
  }(loop(), event, result));
  std::jthread setter([&] {
    std::this_thread::sleep_for(20ms);
    event.set();
  });
  ASSERT_TRUE(run_all(loop()));
  EXPECT_EQ(result, kDepth);
}

TEST_P(LoopTest, StopEndsRunAndTheLoopTearsDownParkedTasks) {
  fev::Event never;
  fev::Ring<int> ring(1);
  loop().spawn([](fev::Loop& loop, fev::Event& never) -> fev::Task<> {
    (void)co_await fev::async_wait(loop, never);
  }(loop(), never));
  loop().spawn([](fev::Loop& loop, fev::Ring<int>& ring) -> fev::Task<> {
    (void)co_await fev::async_pop(loop, ring);
  }(loop(), ring));
  std::jthread stopper([&] {
    std::this_thread::sleep_for(20ms);
    loop().stop();
  });
  loop().run();
  stopper.join();
  EXPECT_EQ(loop().live_tasks(), 2u);
  loop_.reset();  // destroys both frames; the ring waiter leaves the ring's sleepers
  EXPECT_EQ(fev::detail::RingAccess::consumers_word(ring).load() & fev::detail::RingAccess::kSleepersMask, 0u);
  EXPECT_TRUE(ring.push(1));  // no stale state: the ring works for threads
}

TEST_P(LoopTest, TaskResultsAndExceptionsReachTheAwaitingTask) {
  int value = 0;
  bool caught = false;
  loop().spawn([](int& value, bool& caught) -> fev::Task<> {
    value = co_await []() -> fev::Task<int> { co_return 41 + 1; }();
    try {
      co_await []() -> fev::Task<> {
        throw std::runtime_error("boom");
        co_return;
      }();
    } catch (const std::runtime_error&) {
      caught = true;
    }
  }(value, caught));
  ASSERT_TRUE(run_all(loop()));
  EXPECT_EQ(value, 42);
  EXPECT_TRUE(caught);
}

TEST(LoopFallback, EnvironmentOrSwitchForcesIt) {
  if (!fev::Loop::supported()) GTEST_SKIP() << "io_uring cannot be set up here";
  fev::detail::force_loop_fallback(true);
  fev::Loop forced;
  fev::detail::force_loop_fallback(false);
  EXPECT_FALSE(forced.futex_waits());
  fev::Loop plain;
  std::printf("io_uring futex waits on this kernel: %s\n", plain.futex_waits() ? "yes" : "no (fallback)");
}

}  // namespace
