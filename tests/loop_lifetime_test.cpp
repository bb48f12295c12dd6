// SPDX-License-Identifier: MIT
// What a coroutine on fev::Loop may outlive: a Ring refuses to be destroyed while a
// coroutine waits in async_pop/async_push on it, and an Event while a coroutine waits
// in async_wait or async_wait_any (one line on stderr, then abort); a loop's waiter that was cancelled,
// timed out or finished, or whose loop was destroyed, leaves no registration behind.
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <optional>
#include <stop_token>
#include <vector>

#include "fev/event.hpp"
#include "fev/loop.hpp"
#include "fev/loop_wait_any.hpp"
#include "fev/ring.hpp"
#include "fev/ring_access.hpp"

namespace {

using Access = fev::detail::RingAccess;

std::uint32_t sleepers(std::atomic<std::uint32_t>& word) {
  // relaxed: a test's look at the sleeper count, on the loop's own thread.
  return word.load(std::memory_order_relaxed) & Access::kSleepersMask;
}

fev::Task<> pop_one(fev::Loop& loop, fev::Ring<int>& ring, std::optional<int>& got, int* started = nullptr) {
  if (started != nullptr) ++*started;
  got = co_await fev::async_pop(loop, ring);
}

fev::Task<> pop_until_stopped(fev::Loop& loop, fev::Ring<int>& ring, std::stop_token stop,
                              std::optional<fev::Status>& status, int& started) {
  ++started;
  status = (co_await fev::async_pop(loop, ring, std::move(stop))).status;
}

TEST(LoopLifetimeDeathTest, RingDestroyedWhileACoroutineWaits) {
  if (!fev::Loop::supported()) GTEST_SKIP() << "io_uring is not available here";
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        fev::Loop loop;
        auto* ring = new fev::Ring<int>(4);
        std::optional<int> got;
        loop.spawn(pop_one(loop, *ring, got));
        loop.run_until([&] { return sleepers(Access::consumers_word(*ring)) != 0; });
        delete ring;
      },
      "a Ring was destroyed while threads or coroutines were still waiting on it");
}

TEST(LoopLifetime, RingDestroyedAfterItsCoroutinesLeft) {
  if (!fev::Loop::supported()) GTEST_SKIP() << "io_uring is not available here";
  fev::Loop loop;
  auto ring = std::make_unique<fev::Ring<int>>(4);
  std::optional<int> got;
  std::stop_source stop;
  std::optional<fev::Status> status;
  int started = 0;
  loop.spawn(pop_one(loop, *ring, got, &started));
  loop.spawn(pop_until_stopped(loop, *ring, stop.get_token(), status, started));
  // Both are suspended inside their co_await (a turn ran them that far).
  loop.run_until([&] { return started == 2; });
  stop.request_stop();
  // Only then the value: pushed at once, either waiter could take it (a stop ends only a
  // pop that would have to wait).
  loop.run_until([&] { return status.has_value(); });
  EXPECT_EQ(status, fev::Status::cancelled);
  ASSERT_TRUE(ring->push(5));
  loop.run();
  EXPECT_EQ(got, std::optional<int>(5));
  EXPECT_EQ(sleepers(Access::consumers_word(*ring)), 0u);
  ring.reset();  // no refusal
}

fev::Task<> wait_for_event(fev::Loop& loop, fev::Event& event, bool& result) {
  result = co_await fev::async_wait(loop, event);
}

fev::Task<> wait_for_event_briefly(fev::Loop& loop, fev::Event& event, std::chrono::milliseconds timeout,
                                   std::stop_token stop, bool& result) {
  result = co_await fev::async_wait_for(loop, event, timeout, std::move(stop));
}

std::size_t registered_loop_waits() {
  return fev::detail::loop_event_waits.load(std::memory_order_relaxed);  // relaxed: a test's look
}

TEST(LoopLifetimeDeathTest, EventDestroyedWhileACoroutineWaits) {
  if (!fev::Loop::supported()) GTEST_SKIP() << "io_uring is not available here";
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        fev::Loop loop;
        auto* event = new fev::Event;
        bool result = false;
        loop.spawn(wait_for_event(loop, *event, result));
        loop.run_until([&] { return registered_loop_waits() != 0; });
        delete event;
      },
      "an Event was destroyed while coroutines were still waiting on it");
}

TEST(LoopLifetime, EventDestroyedAfterItsCoroutinesLeft) {
  if (!fev::Loop::supported()) GTEST_SKIP() << "io_uring is not available here";
  ASSERT_EQ(registered_loop_waits(), 0u);
  auto event = std::make_unique<fev::Event>();
  {
    fev::Loop loop;
    bool set_result = false, timed_result = true, stopped_result = true, abandoned_result = false;
    std::stop_source stop;
    loop.spawn(wait_for_event(loop, *event, set_result));
    loop.spawn(wait_for_event_briefly(loop, *event, std::chrono::milliseconds(1), {}, timed_result));
    loop.spawn(wait_for_event_briefly(loop, *event, std::chrono::hours(1), stop.get_token(), stopped_result));
    loop.run_until([&] { return registered_loop_waits() == 3; });
    stop.request_stop();
    loop.run_until([&] { return registered_loop_waits() == 1; });  // timed out, cancelled
    EXPECT_FALSE(timed_result);
    EXPECT_FALSE(stopped_result);
    event->set();
    loop.run();
    EXPECT_TRUE(set_result);
    EXPECT_EQ(registered_loop_waits(), 0u);
    // A task still waiting when its loop goes away leaves the registry with its frame.
    event->clear();
    loop.spawn(wait_for_event(loop, *event, abandoned_result));
    loop.run_until([&] { return registered_loop_waits() == 1; });
  }
  EXPECT_EQ(registered_loop_waits(), 0u);
  event.reset();  // no refusal
}

fev::Task<> wait_for_any(fev::Loop& loop, fev::Event& first, fev::Event& second, std::size_t& index) {
  index = co_await fev::async_wait_any(loop, first, second);
}

fev::Task<> wait_for_any_briefly(fev::Loop& loop, std::vector<fev::Event*> events, std::chrono::milliseconds timeout,
                                 std::stop_token stop, std::optional<std::size_t>& index, bool& finished) {
  index = co_await fev::async_wait_any_for(loop, timeout, std::move(stop), events);
  finished = true;
}

TEST(LoopLifetimeDeathTest, EventDestroyedWhileACoroutineWaitsForAnyOfIt) {
  if (!fev::Loop::supported()) GTEST_SKIP() << "io_uring is not available here";
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        fev::Loop loop;
        fev::Event first;
        auto* second = new fev::Event;
        std::size_t index = 99;
        loop.spawn(wait_for_any(loop, first, *second, index));
        loop.run_until([&] { return registered_loop_waits() == 2; });
        delete second;
      },
      "an Event was destroyed while coroutines were still waiting on it");
}

TEST(LoopLifetime, EventsDestroyedAfterTheirWaitAnyCoroutinesLeft) {
  if (!fev::Loop::supported()) GTEST_SKIP() << "io_uring is not available here";
  ASSERT_EQ(registered_loop_waits(), 0u);
  auto first = std::make_unique<fev::Event>();
  auto second = std::make_unique<fev::Event>();
  {
    fev::Loop loop;
    std::size_t set_index = 99;
    std::optional<std::size_t> timed_index = 7, stopped_index = 7, abandoned_index;
    bool timed_done = false, stopped_done = false, abandoned_done = false;
    std::stop_source stop;
    const std::vector<fev::Event*> both{first.get(), second.get()};
    loop.spawn(wait_for_any(loop, *first, *second, set_index));
    loop.spawn(wait_for_any_briefly(loop, both, std::chrono::milliseconds(1), {}, timed_index, timed_done));
    loop.spawn(wait_for_any_briefly(loop, both, std::chrono::hours(1), stop.get_token(), stopped_index, stopped_done));
    loop.run_until([&] { return registered_loop_waits() == 6; });
    stop.request_stop();
    loop.run_until([&] { return timed_done && stopped_done; });
    EXPECT_EQ(registered_loop_waits(), 2u);
    EXPECT_EQ(timed_index, std::nullopt);
    EXPECT_EQ(stopped_index, std::nullopt);
    second->set();
    loop.run();
    EXPECT_EQ(set_index, 1u);
    EXPECT_EQ(registered_loop_waits(), 0u);
    // A task still waiting when its loop goes away leaves the registry with its frame.
    second->clear();
    loop.spawn(wait_for_any_briefly(loop, both, std::chrono::hours(1), {}, abandoned_index, abandoned_done));
    loop.run_until([&] { return registered_loop_waits() == 2; });
    EXPECT_FALSE(abandoned_done);
  }
  EXPECT_EQ(registered_loop_waits(), 0u);
  first.reset();  // no refusal
  second.reset();
}

fev::Task<> take_signal(fev::Loop& loop, fev::AutoResetEvent& event, bool& result) {
  result = co_await fev::async_wait(loop, event);
}

TEST(LoopLifetimeDeathTest, AutoResetEventDestroyedWhileACoroutineWaits) {
  if (!fev::Loop::supported()) GTEST_SKIP() << "io_uring is not available here";
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        fev::Loop loop;
        auto* event = new fev::AutoResetEvent;
        bool result = false;
        loop.spawn(take_signal(loop, *event, result));
        // relaxed: a look at the waiter count (bits 1..31), on the loop's own thread.
        loop.run_until([&] { return event->word().load(std::memory_order_relaxed) >= 2u; });
        delete event;
      },
      "an AutoResetEvent was destroyed while threads or coroutines were still waiting on it");
}

}  // namespace
