// SPDX-License-Identifier: MIT
// fev::async_wait_any: a coroutine on a fev::Loop waits until one of several events is
// set. Every test runs twice: with IORING_OP_FUTEX_WAITV where the kernel has io_uring
// futex waits (Linux 6.7+), and on the forced fallback path (polling timers). Every run
// has a watchdog: a hang stops the loop and fails the test instead.
#include "fev/loop_wait_any.hpp"

#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdio>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include "fev/event.hpp"
#include "fev/loop.hpp"
#include "loop_test_support.hpp"

namespace {

using namespace std::chrono_literals;
using fev::testing::run_all;
using SharedEvent = fev::BasicEvent<fev::backend::FutexShared>;

class LoopWaitAnyTest : public fev::testing::LoopPathTest {
 protected:
  // A futex-wait loop stays one: a FUTEX_WAITV request the kernel refused would have
  // switched it to polling (and every test would still pass, slowly).
  void TearDown() override {
    if (loop_ && !GetParam()) {
      EXPECT_TRUE(loop_->futex_waits()) << "the kernel refused an IORING_OP_FUTEX_WAITV request";
    }
  }
};

INSTANTIATE_TEST_SUITE_P(Paths, LoopWaitAnyTest, ::testing::Values(false, true),
                         [](const ::testing::TestParamInfo<bool>& info) {
                           return std::string(info.param ? "Fallback" : "FutexWaitv");
                         });

TEST_P(LoopWaitAnyTest, ASetFromAnotherThreadGivesItsIndexOnTheLoopThread) {
  for (std::size_t which = 0; which < 3; ++which) {
    std::array<fev::Event, 3> events;
    fev::Event parked;  // the coroutine is about to wait
    std::optional<std::size_t> result;
    bool elsewhere = false;
    const auto loop_thread = std::this_thread::get_id();
    loop().spawn([](fev::Loop& loop, std::array<fev::Event, 3>& events, fev::Event& parked,
                    std::optional<std::size_t>& result, bool& elsewhere, std::thread::id loop_thread) -> fev::Task<> {
      parked.set();
      result = co_await fev::async_wait_any(loop, events[0], events[1], events[2]);
      elsewhere = std::this_thread::get_id() != loop_thread;
    }(loop(), events, parked, result, elsewhere, loop_thread));
    std::jthread setter([&] {
      parked.wait();
      std::this_thread::sleep_for(20ms);  // most likely parked in the kernel by now
      events[which].set();
    });
    ASSERT_TRUE(run_all(loop()));
    ASSERT_TRUE(result.has_value());
    EXPECT_EQ(*result, which);
    EXPECT_FALSE(elsewhere);
  }
}

TEST_P(LoopWaitAnyTest, SetThenClearStillReleasesTheWaiter) {
  std::array<fev::Event, 3> events;
  fev::Event parked;
  std::optional<std::size_t> result;
  loop().spawn([](fev::Loop& loop, std::array<fev::Event, 3>& events, fev::Event& parked,
                  std::optional<std::size_t>& result) -> fev::Task<> {
    parked.set();
    result = co_await fev::async_wait_any(loop, events[0], events[1], events[2]);
  }(loop(), events, parked, result));
  std::jthread setter([&] {
    parked.wait();
    std::this_thread::sleep_for(10ms);
    events[2].set();
    events[2].clear();  // Python's rule: whoever waited when set() came is released
  });
  ASSERT_TRUE(run_all(loop()));
  ASSERT_TRUE(result.has_value());
  EXPECT_EQ(*result, 2u);
}

// Events already set: the awaitable is ready at once (no suspension), with the lowest
// index that is set.
TEST_P(LoopWaitAnyTest, EventsAlreadySetAnswerWithoutSuspending) {
  fev::Event unset, set_b(true), set_c(true);
  auto awaiter = fev::async_wait_any(loop(), unset, set_b, set_c);
  EXPECT_TRUE(awaiter.await_ready());
  EXPECT_EQ(awaiter.await_resume(), 1u);

  auto timed = fev::async_wait_any_for(loop(), 0ms, unset, unset, set_c);
  EXPECT_TRUE(timed.await_ready());
  EXPECT_EQ(timed.await_resume(), std::optional<std::size_t>(2));

  // Through a coroutine, many times.
  int steps = 0;
  loop().spawn([](fev::Loop& loop, fev::Event& unset, fev::Event& set_c, int& steps) -> fev::Task<> {
    for (int i = 0; i < 1000; ++i) {
      const std::size_t index = co_await fev::async_wait_any(loop, unset, set_c);
      if (index == 1) ++steps;
    }
  }(loop(), unset, set_c, steps));
  ASSERT_TRUE(run_all(loop()));
  EXPECT_EQ(steps, 1000);
}

TEST_P(LoopWaitAnyTest, TimedWaitAnyReturnsNulloptNoEarlierThanTheDeadline) {
  fev::Event a, b;
  std::optional<std::size_t> for_result{7}, until_result{7}, zero_result{7};
  std::chrono::steady_clock::duration for_waited{}, until_waited{};
  loop().spawn([](fev::Loop& loop, fev::Event& a, fev::Event& b, std::optional<std::size_t>& for_result,
                  std::optional<std::size_t>& until_result, std::optional<std::size_t>& zero_result,
                  std::chrono::steady_clock::duration& for_waited,
                  std::chrono::steady_clock::duration& until_waited) -> fev::Task<> {
    auto start = std::chrono::steady_clock::now();
    for_result = co_await fev::async_wait_any_for(loop, 30ms, a, b);
    for_waited = std::chrono::steady_clock::now() - start;
    start = std::chrono::steady_clock::now();
    until_result = co_await fev::async_wait_any_until(loop, start + 30ms, a, b);
    until_waited = std::chrono::steady_clock::now() - start;
    zero_result = co_await fev::async_wait_any_for(loop, 0ms, a, b);
  }(loop(), a, b, for_result, until_result, zero_result, for_waited, until_waited));
  ASSERT_TRUE(run_all(loop()));
  EXPECT_FALSE(for_result.has_value());
  EXPECT_FALSE(until_result.has_value());
  EXPECT_FALSE(zero_result.has_value());
  EXPECT_GE(for_waited, 30ms);
  EXPECT_GE(until_waited, 30ms);
}

TEST_P(LoopWaitAnyTest, TimedWaitAnySeesASetBeforeItsDeadline) {
  fev::Event a, b;
  std::optional<std::size_t> result;
  loop().spawn([](fev::Loop& loop, fev::Event& a, fev::Event& b, std::optional<std::size_t>& result) -> fev::Task<> {
    result = co_await fev::async_wait_any_until(loop, std::chrono::system_clock::now() + 60s, a, b);
  }(loop(), a, b, result));
  std::jthread setter([&] {
    std::this_thread::sleep_for(20ms);
    b.set();
  });
  ASSERT_TRUE(run_all(loop()));
  EXPECT_EQ(result, std::optional<std::size_t>(1));
}

TEST_P(LoopWaitAnyTest, StopTokenCancelsAParkedWaitAny) {
  std::array<fev::Event, 3> events;
  fev::Event parked;
  std::stop_source source;
  std::optional<std::optional<std::size_t>> result;
  loop().spawn([](fev::Loop& loop, std::array<fev::Event, 3>& events, fev::Event& parked, std::stop_token stop,
                  std::optional<std::optional<std::size_t>>& result) -> fev::Task<> {
    parked.set();
    result = co_await fev::async_wait_any(loop, stop, events[0], events[1], events[2]);
  }(loop(), events, parked, source.get_token(), result));
  std::jthread canceller([&] {
    parked.wait();
    std::this_thread::sleep_for(20ms);  // most likely parked in the kernel by now
    source.request_stop();
  });
  ASSERT_TRUE(run_all(loop()));
  ASSERT_TRUE(result.has_value());
  EXPECT_FALSE(result->has_value());
}

TEST_P(LoopWaitAnyTest, StopTokenCancelsATimedWaitAnyBeforeItsDeadline) {
  fev::Event a, b;
  std::stop_source source;
  std::optional<std::size_t> result{7};
  loop().spawn([](fev::Loop& loop, fev::Event& a, fev::Event& b, std::stop_token stop,
                  std::optional<std::size_t>& result) -> fev::Task<> {
    result = co_await fev::async_wait_any_for(loop, 600s, stop, a, b);
  }(loop(), a, b, source.get_token(), result));
  std::jthread canceller([&] {
    std::this_thread::sleep_for(20ms);
    source.request_stop();
  });
  ASSERT_TRUE(run_all(loop(), 30s));  // the deadline is far beyond the watchdog
  EXPECT_FALSE(result.has_value());
}

TEST_P(LoopWaitAnyTest, AStopRequestedBeforeTheWaitAnswersAtOnce) {
  fev::Event a, b;
  std::stop_source source;
  source.request_stop();
  std::optional<std::size_t> unset_result{7}, set_result;
  b.set();
  fev::Event c;
  loop().spawn([](fev::Loop& loop, fev::Event& a, fev::Event& b, fev::Event& c, std::stop_token stop,
                  std::optional<std::size_t>& unset_result, std::optional<std::size_t>& set_result) -> fev::Task<> {
    unset_result = co_await fev::async_wait_any(loop, stop, a, c);
    set_result = co_await fev::async_wait_any(loop, stop, a, b);  // a set event still counts
  }(loop(), a, b, c, source.get_token(), unset_result, set_result));
  ASSERT_TRUE(run_all(loop()));
  EXPECT_FALSE(unset_result.has_value());
  EXPECT_EQ(set_result, std::optional<std::size_t>(1));
}

// A process-shared event (SharedEvent's type) next to private ones: each entry of the
// FUTEX_WAITV array gets its own flag, so a shared wake reaches the request.
TEST_P(LoopWaitAnyTest, ASharedEventInTheListWakesTheWaiter) {
  fev::Event a, c;
  SharedEvent shared;
  fev::Event parked;
  std::optional<std::size_t> result;
  loop().spawn([](fev::Loop& loop, fev::Event& a, SharedEvent& shared, fev::Event& c, fev::Event& parked,
                  std::optional<std::size_t>& result) -> fev::Task<> {
    parked.set();
    result = co_await fev::async_wait_any_for(loop, 60s, a, shared, c);
  }(loop(), a, shared, c, parked, result));
  std::jthread setter([&] {
    parked.wait();
    std::this_thread::sleep_for(20ms);
    shared.set();
  });
  ASSERT_TRUE(run_all(loop()));
  EXPECT_EQ(result, std::optional<std::size_t>(1));
}

TEST_P(LoopWaitAnyTest, ARangeOfEventPointersGivesTheIndexIntoTheRange) {
  std::vector<std::unique_ptr<fev::Event>> owned;
  std::vector<fev::Event*> events;
  for (int i = 0; i < 40; ++i) {
    owned.push_back(std::make_unique<fev::Event>());
    events.push_back(owned.back().get());
  }
  fev::Event parked;
  std::optional<std::size_t> result;
  loop().spawn([](fev::Loop& loop, std::vector<fev::Event*>& events, fev::Event& parked,
                  std::optional<std::size_t>& result) -> fev::Task<> {
    parked.set();
    result = co_await fev::async_wait_any(loop, events);
  }(loop(), events, parked, result));
  std::jthread setter([&] {
    parked.wait();
    std::this_thread::sleep_for(20ms);
    events[33]->set();
  });
  ASSERT_TRUE(run_all(loop()));
  EXPECT_EQ(result, std::optional<std::size_t>(33));

  std::vector<fev::Event*> none;
  EXPECT_THROW((void)fev::async_wait_any(loop(), none), std::invalid_argument);
  std::vector<fev::Event*> with_null{events[0], nullptr};
  EXPECT_THROW((void)fev::async_wait_any_for(loop(), 1s, with_null), std::invalid_argument);
  std::vector<fev::Event*> too_many(fev::kMaxWaitMany + 1, events[0]);
  EXPECT_THROW((void)fev::async_wait_any(loop(), too_many), std::invalid_argument);
}

// Many coroutines on overlapping windows of events, released one event at a time: each
// gets the index, in its own window, of the first event set (the setter waits for those
// resumes before it sets the next one, so the answer is fixed).
TEST_P(LoopWaitAnyTest, ManyCoroutinesOnOverlappingSetsGetTheirOwnIndex) {
  constexpr std::size_t kEvents = 6, kCoroutines = 240;
  std::array<fev::Event, kEvents> events;
  std::vector<std::size_t> expected(kCoroutines), got(kCoroutines, 99);
  std::array<int, kEvents> released_by{};  // how many coroutines each event's set() releases
  std::atomic<int> resumed{0}, elsewhere{0};
  const auto loop_thread = std::this_thread::get_id();
  for (std::size_t k = 0; k < kCoroutines; ++k) {
    const std::size_t w0 = k % kEvents, w1 = (k + 1) % kEvents, w2 = (k + 2) % kEvents;
    // Events are set in the order 0, 1, ...: the window's smallest comes first.
    const std::size_t first = std::min({w0, w1, w2});
    expected[k] = first == w0 ? 0 : first == w1 ? 1 : 2;
    ++released_by[first];
    loop().spawn([](fev::Loop& loop, fev::Event& e0, fev::Event& e1, fev::Event& e2, std::size_t& got,
                    std::atomic<int>& resumed, std::atomic<int>& elsewhere, std::thread::id loop_thread) -> fev::Task<> {
      got = co_await fev::async_wait_any(loop, e0, e1, e2);
      if (std::this_thread::get_id() != loop_thread) elsewhere.fetch_add(1);
      // release: the setter's acquire load then sees `got` written.
      resumed.fetch_add(1, std::memory_order_release);
    }(loop(), events[w0], events[w1], events[w2], got[k], resumed, elsewhere, loop_thread));
  }
  std::atomic<bool> gave_up{false};
  std::jthread setter([&] {
    std::this_thread::sleep_for(20ms);  // let them park
    int total = 0;
    for (std::size_t e = 0; e < kEvents; ++e) {
      events[e].set();
      total += released_by[e];
      const auto give_up = std::chrono::steady_clock::now() + 30s;
      // acquire: pairs with the coroutines' release increments.
      while (resumed.load(std::memory_order_acquire) < total) {
        if (std::chrono::steady_clock::now() > give_up) {
          gave_up.store(true);
          return;
        }
        std::this_thread::sleep_for(1ms);
      }
    }
  });
  ASSERT_TRUE(run_all(loop()));
  setter.join();
  EXPECT_FALSE(gave_up.load());
  EXPECT_EQ(resumed.load(), static_cast<int>(kCoroutines));
  EXPECT_EQ(elsewhere.load(), 0);
  int wrong = 0;
  for (std::size_t k = 0; k < kCoroutines; ++k) wrong += got[k] != expected[k];
  EXPECT_EQ(wrong, 0);
}

// Coroutines and threads wait on the same overlapping sets at once, with timeouts and
// cancels, while a thread pulses events at random (set, then clear at once): every wait
// ends exactly once and nothing hangs; an index returned names an event of the caller's
// window, and pulses do release waiters (Python's rule).
TEST_P(LoopWaitAnyTest, CoroutinesAndThreadsShareEventsUnderSetsClearsAndCancels) {
  constexpr std::size_t kEvents = 5, kCoroutines = 50, kRounds = 40;
  std::array<fev::Event, kEvents> events;
  std::vector<std::stop_source> sources(kCoroutines);
  std::atomic<int> ends{0}, bad_index{0}, indexed{0};
  for (std::size_t k = 0; k < kCoroutines; ++k) {
    loop().spawn([](fev::Loop& loop, std::array<fev::Event, kEvents>& events, std::size_t k, std::stop_token stop,
                    std::atomic<int>& ends, std::atomic<int>& bad_index, std::atomic<int>& indexed) -> fev::Task<> {
      for (std::size_t round = 0; round < kRounds; ++round) {
        const std::size_t w0 = (k + round) % kEvents, w1 = (k + round + 2) % kEvents;
        const auto result = co_await fev::async_wait_any_for(loop, std::chrono::microseconds(200 + 97 * (k % 7)),
                                                             stop, events[w0], events[w1]);
        if (result && *result > 1) bad_index.fetch_add(1);
        if (result) indexed.fetch_add(1);
        ends.fetch_add(1);
      }
    }(loop(), events, k, sources[k].get_token(), ends, bad_index, indexed));
  }
  std::atomic<bool> done{false};
  std::jthread toggler([&] {
    unsigned x = 12345;
    while (!done.load()) {
      x = x * 1103515245u + 12345u;
      fev::Event& event = events[(x >> 16) % kEvents];
      event.set();
      event.clear();
      if ((x & 0xff) == 0) sources[(x >> 8) % kCoroutines].request_stop();
      std::this_thread::sleep_for(std::chrono::microseconds(50));
    }
  });
  std::jthread thread_waiter([&] {
    while (!done.load()) (void)fev::wait_any_for(1ms, events[0], events[3]);
  });
  const bool finished = run_all(loop(), 120s);
  done.store(true);
  ASSERT_TRUE(finished);
  EXPECT_EQ(ends.load(), static_cast<int>(kCoroutines * kRounds));
  EXPECT_EQ(bad_index.load(), 0);
  EXPECT_GT(indexed.load(), 0);
  std::printf("waits that returned an index: %d of %d\n", indexed.load(), ends.load());
}

}  // namespace
