// SPDX-License-Identifier: MIT
// Who is woken and how long a waiter spins: precise ring wakeups (one per value
// published or slot freed, passed on by the woken thread), and spins that never
// outlast the caller's deadline.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <optional>
#include <thread>
#include <vector>

#include "fev/event.hpp"
#include "fev/ring.hpp"
#include "fev/ring_access.hpp"
#include "fev/wait_many.hpp"
#include "test_backends.hpp"

namespace {

using namespace std::chrono_literals;
using fev::testing::eventually;

// Forwards to the default backend and counts wake_one and wake_all calls apart.
struct WakeCounting {
  static inline std::atomic<int> wake_ones{0};
  static inline std::atomic<int> wake_alls{0};
  static void reset() {
    wake_ones = 0;
    wake_alls = 0;
  }
  static fev::WaitResult wait(const std::atomic<std::uint32_t>& word, std::uint32_t expected,
                              fev::Deadline deadline) noexcept {
    return fev::DefaultWait::wait(word, expected, deadline);
  }
  static void wake_one(const std::atomic<std::uint32_t>& word) noexcept {
    ++wake_ones;
    fev::DefaultWait::wake_one(word);
  }
  static void wake_all(const std::atomic<std::uint32_t>& word) noexcept {
    ++wake_alls;
    fev::DefaultWait::wake_all(word);
  }
};

// Restores the spin limit a test changed.
class SpinLimit {
 public:
  explicit SpinLimit(std::chrono::nanoseconds limit) : before_(fev::spin_limit()) { fev::set_spin_limit(limit); }
  ~SpinLimit() { fev::set_spin_limit(before_); }
  SpinLimit(const SpinLimit&) = delete;
  SpinLimit& operator=(const SpinLimit&) = delete;

 private:
  std::chrono::nanoseconds before_;
};

constexpr int kSleepers = 16;

TEST(PreciseWakeups, OnePushWakesOneOfSixteenParkedConsumers) {
  WakeCounting::reset();
  fev::BasicRing<int, WakeCounting> ring(8);
  std::atomic<int> popped{0};
  std::vector<std::thread> consumers;
  for (int c = 0; c < kSleepers; ++c) {
    consumers.emplace_back([&] {
      int value = 0;
      while (ring.pop(value)) popped.fetch_add(1);
    });
  }
  ASSERT_TRUE(eventually([&] { return ring.snapshot().consumers_sleeping == kSleepers; }));
  ASSERT_EQ(WakeCounting::wake_ones.load() + WakeCounting::wake_alls.load(), 0);

  ASSERT_TRUE(ring.push(1));
  ASSERT_TRUE(eventually([&] { return popped.load() == 1; }));
  // The woken consumer took the value and went back to sleep; nobody else woke up.
  ASSERT_TRUE(eventually([&] { return ring.snapshot().consumers_sleeping == kSleepers; }));
  EXPECT_EQ(WakeCounting::wake_ones.load(), 1) << "one push, one wake";
  EXPECT_EQ(WakeCounting::wake_alls.load(), 0) << "a push never wakes everyone";

  ring.close();
  for (auto& consumer : consumers) consumer.join();
  EXPECT_EQ(popped.load(), 1);
}

TEST(PreciseWakeups, OnePopWakesOneOfSixteenParkedProducers) {
  WakeCounting::reset();
  fev::BasicRing<int, WakeCounting> ring(1);
  ASSERT_TRUE(ring.try_push(0));
  std::atomic<int> pushed{0};
  std::vector<std::thread> producers;
  for (int p = 0; p < kSleepers; ++p) {
    producers.emplace_back([&, p] {
      if (ring.push(p + 1)) pushed.fetch_add(1);
    });
  }
  ASSERT_TRUE(eventually([&] { return ring.snapshot().producers_sleeping == kSleepers; }));
  int value = -1;
  ASSERT_TRUE(ring.try_pop(value));
  EXPECT_EQ(value, 0);
  ASSERT_TRUE(eventually([&] { return pushed.load() == 1; }));
  ASSERT_TRUE(eventually([&] { return ring.snapshot().producers_sleeping == kSleepers - 1; }));
  EXPECT_EQ(WakeCounting::wake_ones.load(), 1);
  EXPECT_EQ(WakeCounting::wake_alls.load(), 0);
  // Drain the rest: every parked producer gets its value in, exactly once.
  for (int taken = 1; taken < kSleepers; ++taken) ASSERT_TRUE(ring.pop(value));
  for (auto& producer : producers) producer.join();
  ASSERT_TRUE(ring.try_pop(value));
  EXPECT_EQ(pushed.load(), kSleepers);
  EXPECT_FALSE(ring.try_pop(value));
}

// A burst of values into a ring with many sleepers: the pusher makes one wake per
// transition from empty, and woken consumers pass the wake on while values remain,
// so every value is taken although later pushes saw a wake on its way and made none.
TEST(PreciseWakeups, WokenConsumersRelayABurst) {
  SpinLimit no_spin(0ns);
  WakeCounting::reset();
  constexpr int kBurst = 64;
  fev::BasicRing<int, WakeCounting> ring(kBurst);
  std::atomic<int> popped{0};
  std::vector<std::thread> consumers;
  for (int c = 0; c < kSleepers; ++c) {
    consumers.emplace_back([&] {
      int value = 0;
      while (ring.pop(value)) popped.fetch_add(1);
    });
  }
  ASSERT_TRUE(eventually([&] { return ring.snapshot().consumers_sleeping == kSleepers; }));
  for (int round = 0; round < 20; ++round) {
    for (int i = 0; i < kBurst; ++i) ASSERT_TRUE(ring.try_push(i));
    ASSERT_TRUE(eventually([&] { return popped.load() == (round + 1) * kBurst; }))
        << "round " << round << ": " << popped.load() << " popped";
  }
  EXPECT_EQ(WakeCounting::wake_alls.load(), 0);
  EXPECT_LE(WakeCounting::wake_ones.load(), 20 * kBurst);
  ring.close();
  for (auto& consumer : consumers) consumer.join();
}

// A spin never outlasts the caller's deadline, however long the spin limit.
class SpinAndDeadline : public ::testing::Test {
 protected:
  // The spin limit is far above what any timed call below may take.
  SpinLimit long_spin_{std::chrono::seconds(20)};
  static constexpr auto kTimeout = 1ms;
  // Generous: a spin that ignored the deadline takes the full 20 s.
  static constexpr auto kWellBeforeTheSpinLimit = std::chrono::seconds(10);

  template <class Call>
  static void returns_long_before_the_spin_limit(Call&& call) {
    const auto start = std::chrono::steady_clock::now();
    call();
    EXPECT_LT(std::chrono::steady_clock::now() - start, kWellBeforeTheSpinLimit);
  }
};

TEST_F(SpinAndDeadline, EventWaitFor) {
  fev::Event event;
  returns_long_before_the_spin_limit([&] { EXPECT_FALSE(event.wait_for(kTimeout)); });
}

TEST_F(SpinAndDeadline, AutoResetEventWaitFor) {
  fev::AutoResetEvent event;
  returns_long_before_the_spin_limit([&] { EXPECT_FALSE(event.wait_for(kTimeout)); });
}

TEST_F(SpinAndDeadline, RingPopForAndPushFor) {
  fev::Ring<int> ring(1);
  int value = 0;
  returns_long_before_the_spin_limit([&] { EXPECT_EQ(ring.pop_for(value, kTimeout), fev::Status::timeout); });
  ASSERT_TRUE(ring.try_push(1));
  returns_long_before_the_spin_limit([&] { EXPECT_EQ(ring.push_for(2, kTimeout), fev::Status::timeout); });
}

TEST_F(SpinAndDeadline, WaitAnyFor) {
  fev::Event first;
  fev::Event second;
  returns_long_before_the_spin_limit([&] { EXPECT_FALSE(fev::wait_any_for(kTimeout, first, second).has_value()); });
}

}  // namespace
