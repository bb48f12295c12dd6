// SPDX-License-Identifier: MIT
// What a coroutine on fev::Loop may outlive: a Ring refuses to be destroyed while a
// coroutine waits in async_pop/async_push on it (one line on stderr, then abort), and a
// loop's waiter that was cancelled, or finished, leaves no registration behind.
#include <gtest/gtest.h>

#include <optional>
#include <stop_token>

#include "fev/loop.hpp"
#include "fev/ring.hpp"
#include "fev/ring_access.hpp"

namespace {

using Access = fev::detail::RingAccess;

std::uint32_t sleepers(std::atomic<std::uint32_t>& word) {
  // relaxed: a test's look at the sleeper count, on the loop's own thread.
  return word.load(std::memory_order_relaxed) & Access::kSleepersMask;
}

fev::Task<> pop_one(fev::Loop& loop, fev::Ring<int>& ring, std::optional<int>& got) {
  got = co_await fev::async_pop(loop, ring);
}

fev::Task<> pop_until_stopped(fev::Loop& loop, fev::Ring<int>& ring, std::stop_token stop, fev::Status& status) {
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
  fev::Status status = fev::Status::ok;
  loop.spawn(pop_one(loop, *ring, got));
  loop.spawn(pop_until_stopped(loop, *ring, stop.get_token(), status));
  loop.run_until([&] { return sleepers(Access::consumers_word(*ring)) == 2 * Access::kSleeperOne; });
  stop.request_stop();
  ASSERT_TRUE(ring->push(5));
  loop.run();
  EXPECT_EQ(got, std::optional<int>(5));
  EXPECT_EQ(status, fev::Status::cancelled);
  EXPECT_EQ(sleepers(Access::consumers_word(*ring)), 0u);
  ring.reset();  // no refusal
}

}  // namespace
