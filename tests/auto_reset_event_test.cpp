// fev::AutoResetEvent: one set() releases exactly one waiter, over every wait backend.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "fev/event.hpp"
#include "test_backends.hpp"

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

// Each set() releases exactly one of several parked waiters: counted over many rounds,
// releases equal sets, and no round releases two.
TYPED_TEST(AutoResetEventTest, EachSetReleasesExactlyOneWaiter) {
  typename TestFixture::Event event;
  constexpr int kWaiters = 4;
  constexpr int kRounds = 2000;
  std::atomic<int> released{0};
  std::atomic<bool> stop{false};
  std::vector<std::thread> waiters;
  for (int i = 0; i < kWaiters; ++i) {
    waiters.emplace_back([&, i] {
      for (;;) {
        const bool took = (i % 2 == 0) ? (event.wait(), true) : event.wait_for(50ms);
        if (stop.load()) return;
        if (took) released.fetch_add(1);
      }
    });
  }
  for (int round = 1; round <= kRounds; ++round) {
    if (round % 100 == 0) {
      // Now and then make sure the waiters are parked, not just spinning.
      ASSERT_TRUE(eventually([&] { return TestFixture::registered_waiters(event) >= 1; }));
    }
    event.set();
    ASSERT_TRUE(eventually([&] { return released.load() >= round; })) << "round " << round << ": lost wakeup";
    ASSERT_EQ(released.load(), round) << "one set() released two waiters";
  }
  std::this_thread::sleep_for(5ms);
  EXPECT_EQ(released.load(), kRounds);
  stop.store(true);
  // Sets on a set event coalesce, so keep setting until every waiter has left.
  std::atomic<int> exited{0};
  std::vector<std::thread> joiners;
  for (auto& waiter : waiters) joiners.emplace_back([&] { waiter.join(); exited.fetch_add(1); });
  ASSERT_TRUE(eventually([&] {
    event.set();
    return exited.load() == kWaiters;
  }));
  for (auto& joiner : joiners) joiner.join();
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

}  // namespace
