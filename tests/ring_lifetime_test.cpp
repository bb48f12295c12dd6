// SPDX-License-Identifier: MIT
// A Ring refuses to be destroyed while a thread waits on it (registered as a sleeper):
// one line on stderr that says what to do instead, then abort, instead of a waiter that
// later touches freed memory. Rings whose waiters have all left are destroyed as usual.
#include <gtest/gtest.h>

#include <chrono>
#include <optional>
#include <thread>

#include "fev/ring.hpp"
#include "fev/ring_access.hpp"
#include "emulator.hpp"

namespace {

using namespace std::chrono_literals;
using Access = fev::detail::RingAccess;

constexpr const char* kRefusal = "a Ring was destroyed while threads or coroutines were still waiting on it";
// The same line goes on to say what to do instead (a regular expression).
constexpr const char* kWhatToDo =
    "waiting on it: close\\(\\) the ring and join every thread \\(finish every coroutine\\) that uses it "
    "before destroying it";

template <class Word>
void wait_for_a_sleeper(Word& word) {
  // relaxed: a test's poll of the sleeper count.
  while ((word.load(std::memory_order_relaxed) & Access::kSleepersMask) == 0) std::this_thread::yield();
}

TEST(RingLifetimeDeathTest, DestroyedWhileAConsumerWaits) {
  FEV_SKIP_DEATH_TEST_UNDER_EMULATOR();
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        auto* ring = new fev::Ring<int>(4);
        std::thread([ring] { (void)ring->pop(); }).detach();
        wait_for_a_sleeper(Access::consumers_word(*ring));
        delete ring;
      },
      kRefusal);
}

TEST(RingLifetimeDeathTest, DestroyedWhileAProducerWaits) {
  FEV_SKIP_DEATH_TEST_UNDER_EMULATOR();
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        auto* ring = new fev::Ring<int>(1);
        ASSERT_TRUE(ring->try_push(1));
        std::thread([ring] { (void)ring->push(2); }).detach();
        wait_for_a_sleeper(Access::producers_word(*ring));
        delete ring;
      },
      kRefusal);
}

TEST(RingLifetimeDeathTest, TheRefusalSaysToCloseTheRingAndJoinItsUsersFirst) {
  FEV_SKIP_DEATH_TEST_UNDER_EMULATOR();
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        auto* ring = new fev::Ring<int>(4);
        std::thread([ring] { (void)ring->pop(); }).detach();
        wait_for_a_sleeper(Access::consumers_word(*ring));
        delete ring;
      },
      kWhatToDo);
}

// Waiters that left (timed out, released by a value, or by close()) leave no trace.
TEST(RingLifetime, DestroyedAfterEveryWaiterLeft) {
  auto ring = std::make_unique<fev::Ring<int>>(1);
  int value = 0;
  EXPECT_EQ(ring->pop_for(value, 1ms), fev::Status::timeout);
  std::thread consumer([&] { EXPECT_EQ(ring->pop(), std::optional<int>(7)); });
  wait_for_a_sleeper(Access::consumers_word(*ring));
  ASSERT_TRUE(ring->push(7));
  consumer.join();
  std::thread waiter([&] { EXPECT_EQ(ring->pop(), std::nullopt); });
  wait_for_a_sleeper(Access::consumers_word(*ring));
  ring->close();
  waiter.join();
  EXPECT_EQ(Access::consumers_word(*ring).load() & Access::kSleepersMask, 0u);
  ring.reset();  // no refusal
}

}  // namespace
