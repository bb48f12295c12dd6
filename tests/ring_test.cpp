// SPDX-License-Identifier: MIT
// fev::Ring: every public operation, lifetimes, close() races, and exactly-once delivery.
#include "fev/ring.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "test_backends.hpp"

namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using fev::Status;
using fev::testing::eventually;

// Counts live objects, so a test can prove every construction has one destruction.
struct Tracked {
  static inline std::atomic<int> live{0};
  int value = 0;
  explicit Tracked(int v = 0) noexcept : value(v) { ++live; }
  Tracked(const Tracked& other) noexcept : value(other.value) { ++live; }
  Tracked(Tracked&& other) noexcept : value(other.value) { ++live; }
  Tracked& operator=(const Tracked&) noexcept = default;
  Tracked& operator=(Tracked&&) noexcept = default;
  ~Tracked() { --live; }
};

// Copying throws when asked to; moving never does.
struct ThrowsOnCopy {
  static inline bool fail = false;
  int value = 0;
  explicit ThrowsOnCopy(int v) : value(v) {}
  ThrowsOnCopy(const ThrowsOnCopy& other) : value(other.value) {
    if (fail) throw std::runtime_error("copy failed");
  }
  ThrowsOnCopy(ThrowsOnCopy&&) noexcept = default;
  ThrowsOnCopy& operator=(const ThrowsOnCopy&) = default;
  ThrowsOnCopy& operator=(ThrowsOnCopy&&) noexcept = default;
};

TEST(Ring, RejectsCapacityZero) {
  EXPECT_THROW(fev::Ring<int>(0), std::invalid_argument);
  EXPECT_THROW(fev::Ring<int>(~std::size_t{0}), std::invalid_argument);
}

class RingCapacity : public ::testing::TestWithParam<std::size_t> {};
INSTANTIATE_TEST_SUITE_P(Capacities, RingCapacity, ::testing::Values(1, 2, 3, 7, 8, 1024));

TEST_P(RingCapacity, FillsToCapacityThenRefuses) {
  const std::size_t capacity = GetParam();
  fev::Ring<int> ring(capacity);
  EXPECT_EQ(ring.capacity(), capacity);
  EXPECT_EQ(ring.size(), 0u);
  for (std::size_t i = 0; i < capacity; ++i) ASSERT_TRUE(ring.try_push(static_cast<int>(i)));
  EXPECT_EQ(ring.size(), capacity);
  EXPECT_FALSE(ring.try_push(-1));
  EXPECT_EQ(ring.push_for(-1, 0ms), Status::timeout);
  int out = -1;
  for (std::size_t i = 0; i < capacity; ++i) {
    ASSERT_TRUE(ring.try_pop(out));
    EXPECT_EQ(out, static_cast<int>(i));
  }
  EXPECT_FALSE(ring.try_pop(out));
  EXPECT_EQ(ring.pop_for(out, 0ms), Status::timeout);
  EXPECT_EQ(ring.size(), 0u);
}

TEST_P(RingCapacity, WrapsAroundOverManyLaps) {
  const std::size_t capacity = GetParam();
  fev::Ring<std::size_t> ring(capacity);
  std::size_t next_in = 0, next_out = 0;
  for (int lap = 0; lap < 200; ++lap) {
    // Vary the fill level so every slot sees every lap offset.
    const std::size_t fill = 1 + static_cast<std::size_t>(lap) % capacity;
    for (std::size_t i = 0; i < fill; ++i) ASSERT_TRUE(ring.try_push(next_in++));
    for (std::size_t i = 0; i < fill; ++i) {
      std::size_t out = 0;
      ASSERT_TRUE(ring.pop(out));
      ASSERT_EQ(out, next_out++);
    }
  }
}

TEST_P(RingCapacity, BlockingProducersAndConsumersDeliverExactlyOnceInOrder) {
  const std::size_t capacity = GetParam();
  constexpr int kProducers = 3, kConsumers = 3, kPerProducer = 20000;
  fev::Ring<std::uint64_t> ring(capacity);
  std::vector<std::atomic<int>> seen(kProducers * kPerProducer);
  std::atomic<bool> order_ok{true};
  std::vector<std::thread> threads;
  for (int p = 0; p < kProducers; ++p) {
    threads.emplace_back([&, p] {
      for (int i = 0; i < kPerProducer; ++i) ASSERT_TRUE(ring.push((std::uint64_t(p) << 32) | unsigned(i)));
    });
  }
  for (int c = 0; c < kConsumers; ++c) {
    threads.emplace_back([&] {
      std::vector<long> last(kProducers, -1);
      std::uint64_t item = 0;
      while (ring.pop(item)) {
        const int producer = static_cast<int>(item >> 32);
        const long index = static_cast<long>(item & 0xffffffffu);
        if (index <= last[producer]) order_ok = false;
        last[producer] = index;
        seen[producer * kPerProducer + index].fetch_add(1);
      }
    });
  }
  for (int p = 0; p < kProducers; ++p) threads[p].join();
  ring.close();
  for (std::size_t t = kProducers; t < threads.size(); ++t) threads[t].join();
  EXPECT_TRUE(order_ok.load()) << "a producer's values came out of order";
  for (std::size_t i = 0; i < seen.size(); ++i) ASSERT_EQ(seen[i].load(), 1) << "item " << i;
}

TEST(Ring, MoveOnlyValues) {
  fev::Ring<std::unique_ptr<int>> ring(2);
  EXPECT_TRUE(ring.try_push(std::make_unique<int>(1)));
  EXPECT_TRUE(ring.push(std::make_unique<int>(2)));
  auto third = std::make_unique<int>(3);
  EXPECT_FALSE(ring.try_push(std::move(third)));
  ASSERT_NE(third, nullptr) << "a failed push must not take the value";
  EXPECT_EQ(ring.push_for(std::move(third), 1ms), Status::timeout);
  ASSERT_NE(third, nullptr);
  std::unique_ptr<int> out;
  ASSERT_TRUE(ring.pop(out));
  EXPECT_EQ(*out, 1);
  ASSERT_TRUE(ring.try_pop(out));
  EXPECT_EQ(*out, 2);
  ring.close();
  EXPECT_FALSE(ring.push(std::move(third)));
  EXPECT_NE(third, nullptr) << "push on a closed ring must not take the value";
}

TEST(Ring, EmplaceConstructsInPlace) {
  fev::Ring<std::string> ring(4);
  EXPECT_TRUE(ring.try_emplace(3, 'x'));
  EXPECT_TRUE(ring.try_emplace("abc"));
  std::string out;
  ASSERT_TRUE(ring.try_pop(out));
  EXPECT_EQ(out, "xxx");
  ASSERT_TRUE(ring.try_pop(out));
  EXPECT_EQ(out, "abc");
}

TEST(Ring, EveryConstructionHasOneDestruction) {
  Tracked::live = 0;
  {
    fev::Ring<Tracked> ring(5);
    for (int i = 0; i < 4; ++i) ASSERT_TRUE(ring.try_emplace(i));
    Tracked out;
    ASSERT_TRUE(ring.try_pop(out));
    EXPECT_EQ(out.value, 0);
    const Tracked copy(9);
    ASSERT_TRUE(ring.push(copy));
    ASSERT_TRUE(ring.try_push(Tracked(10)));
    EXPECT_EQ(Tracked::live.load(), 5 + 2);  // five inside, `out` and `copy`
    // The ring is destroyed with five values inside.
  }
  EXPECT_EQ(Tracked::live.load(), 0);
  {
    fev::Ring<Tracked> ring(3);
    for (int lap = 0; lap < 10; ++lap) {
      ASSERT_TRUE(ring.try_emplace(lap));
      Tracked out;
      ASSERT_TRUE(ring.pop(out));
    }
    EXPECT_EQ(Tracked::live.load(), 0);
  }
  EXPECT_EQ(Tracked::live.load(), 0);
}

TEST(Ring, ThrowingCopyLeavesTheRingConsistent) {
  fev::Ring<ThrowsOnCopy> ring(2);
  const ThrowsOnCopy value(5);
  ThrowsOnCopy::fail = true;
  EXPECT_THROW((void)ring.try_push(value), std::runtime_error);
  EXPECT_THROW((void)ring.push(value), std::runtime_error);
  EXPECT_THROW((void)ring.push_for(value, 1ms), std::runtime_error);
  ThrowsOnCopy::fail = false;
  EXPECT_EQ(ring.size(), 0u);
  EXPECT_TRUE(ring.try_push(value));
  EXPECT_TRUE(ring.try_push(ThrowsOnCopy(6)));
  EXPECT_FALSE(ring.try_push(value));
  ThrowsOnCopy out(0);
  ASSERT_TRUE(ring.try_pop(out));
  EXPECT_EQ(out.value, 5);
  ASSERT_TRUE(ring.try_pop(out));
  EXPECT_EQ(out.value, 6);
}

TEST(Ring, TimedOperationsTimeOutNoEarlier) {
  fev::Ring<int> ring(1);
  int out = 0;
  auto start = Clock::now();
  EXPECT_EQ(ring.pop_for(out, 20ms), Status::timeout);
  EXPECT_GE(Clock::now() - start, 20ms);
  const auto deadline = Clock::now() + 20ms;
  EXPECT_EQ(ring.pop_until(out, deadline), Status::timeout);
  EXPECT_GE(Clock::now(), deadline);
  start = Clock::now();
  EXPECT_EQ(ring.pop_until(out, std::chrono::system_clock::now() + 20ms), Status::timeout);
  EXPECT_GE(Clock::now() - start, 19ms);
  EXPECT_EQ(ring.pop_for(out, -1s), Status::timeout);

  ASSERT_TRUE(ring.try_push(1));
  start = Clock::now();
  EXPECT_EQ(ring.push_for(2, 20ms), Status::timeout);
  EXPECT_GE(Clock::now() - start, 20ms);
  EXPECT_EQ(ring.push_until(2, Clock::now() + 5ms), Status::timeout);
  EXPECT_EQ(ring.push_until(2, std::chrono::system_clock::now() - 1s), Status::timeout);
  ASSERT_TRUE(ring.try_pop(out));
  EXPECT_EQ(out, 1);
}

TEST(Ring, TimedOperationsSucceedWhenTheOtherSideArrives) {
  fev::Ring<int> ring(1);
  std::thread producer([&] {
    std::this_thread::sleep_for(10ms);
    ASSERT_TRUE(ring.push(7));
    ASSERT_TRUE(ring.push(8));  // blocks until the consumer pops 7
  });
  int out = 0;
  EXPECT_EQ(ring.pop_for(out, 30s), Status::ok);
  EXPECT_EQ(out, 7);
  EXPECT_EQ(ring.pop_until(out, Clock::now() + 30s), Status::ok);
  EXPECT_EQ(out, 8);
  producer.join();

  ASSERT_TRUE(ring.try_push(1));
  std::thread consumer([&] {
    std::this_thread::sleep_for(10ms);
    int value = 0;
    ASSERT_TRUE(ring.pop(value));
  });
  EXPECT_EQ(ring.push_for(2, 30s), Status::ok);
  consumer.join();
}

TEST(Ring, CloseDrainsThenReportsClosed) {
  fev::Ring<int> ring(4);
  ASSERT_TRUE(ring.try_push(1));
  ASSERT_TRUE(ring.try_push(2));
  EXPECT_FALSE(ring.closed());
  ring.close();
  ring.close();  // idempotent
  EXPECT_TRUE(ring.closed());
  EXPECT_FALSE(ring.try_push(3));
  EXPECT_FALSE(ring.push(3));
  EXPECT_EQ(ring.push_for(3, 1s), Status::closed);
  int out = 0;
  EXPECT_TRUE(ring.pop(out));
  EXPECT_EQ(out, 1);
  EXPECT_EQ(ring.pop_for(out, 1s), Status::ok);
  EXPECT_EQ(out, 2);
  EXPECT_FALSE(ring.pop(out));
  EXPECT_FALSE(ring.try_pop(out));
  EXPECT_EQ(ring.pop_for(out, 1s), Status::closed);
  EXPECT_EQ(ring.pop_until(out, Clock::now() + 1s), Status::closed);
}

TEST(Ring, CloseWakesThreadsParkedOnBothSides) {
  fev::Ring<int> empty_ring(2);
  fev::Ring<int> full_ring(2);
  ASSERT_TRUE(full_ring.try_push(1));
  ASSERT_TRUE(full_ring.try_push(2));
  std::atomic<int> returned_closed{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 3; ++i) {
    threads.emplace_back([&] {
      int out = 0;
      if (!empty_ring.pop(out)) returned_closed.fetch_add(1);
    });
    threads.emplace_back([&] {
      if (!full_ring.push(3)) returned_closed.fetch_add(1);
    });
    threads.emplace_back([&] {
      if (full_ring.push_for(3, 60s) == Status::closed) returned_closed.fetch_add(1);
    });
  }
  // Wait until every thread has registered to sleep.
  ASSERT_TRUE(eventually([&] {
    return empty_ring.snapshot().consumers_sleeping == 3 && full_ring.snapshot().producers_sleeping == 6;
  }));
  std::this_thread::sleep_for(20ms);
  empty_ring.close();
  full_ring.close();
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(returned_closed.load(), 9);
  int out = 0;
  EXPECT_TRUE(full_ring.pop(out));  // closing keeps what was inside
  EXPECT_TRUE(full_ring.pop(out));
  EXPECT_FALSE(full_ring.pop(out));
}

TEST(Ring, CloseRacingWithPushesLosesNothing) {
  for (int round = 0; round < 50; ++round) {
    fev::Ring<int> ring(3);
    std::atomic<int> accepted{0};
    std::vector<std::thread> producers;
    for (int p = 0; p < 3; ++p) {
      producers.emplace_back([&] {
        while (ring.push(1)) accepted.fetch_add(1);
      });
    }
    std::atomic<int> popped{0};
    std::thread consumer([&] {
      int out = 0;
      while (ring.pop(out)) popped.fetch_add(1);
    });
    std::this_thread::sleep_for(200us);
    ring.close();
    for (auto& producer : producers) producer.join();
    consumer.join();
    EXPECT_EQ(popped.load(), accepted.load()) << "round " << round;
  }
}

TEST(Ring, HotPathMakesNoBackendCall) {
  using Counting = fev::testing::CountingWait<fev::DefaultWait>;
  Counting::reset();
  fev::BasicRing<int, Counting> ring(8);
  int out = 0;
  for (int i = 0; i < 1000; ++i) {
    ASSERT_TRUE(ring.push(i));
    ASSERT_TRUE(ring.try_push(i));
    ASSERT_TRUE(ring.pop(out));
    ASSERT_TRUE(ring.try_pop(out));
  }
  EXPECT_EQ(Counting::waits.load(), 0);
  EXPECT_EQ(Counting::wakes.load(), 0);
}

template <class Backend>
class RingBackendTest : public ::testing::Test {};
TYPED_TEST_SUITE(RingBackendTest, fev::testing::AllBackends, fev::testing::BackendNames);

TYPED_TEST(RingBackendTest, ParkedConsumersAndProducersAlwaysWake) {
  fev::set_spin_limit(0ns);  // park at once, to exercise the handshake
  fev::BasicRing<int, TypeParam> ring(1);
  constexpr int kItems = 5000;
  std::atomic<long> sum{0};
  std::vector<std::thread> threads;
  for (int p = 0; p < 2; ++p) {
    threads.emplace_back([&] {
      for (int i = 1; i <= kItems; ++i) ASSERT_TRUE(ring.push(i));
    });
  }
  for (int c = 0; c < 2; ++c) {
    threads.emplace_back([&] {
      int out = 0;
      while (ring.pop(out)) sum.fetch_add(out);
    });
  }
  threads[0].join();
  threads[1].join();
  ring.close();
  threads[2].join();
  threads[3].join();
  fev::set_spin_limit(4us);
  EXPECT_EQ(sum.load(), 2L * kItems * (kItems + 1) / 2);
}

}  // namespace

namespace {

TEST(Ring, SlotsInCallerProvidedStorage) {
  using Ring = fev::Ring<Tracked>;
  Tracked::live = 0;
  const std::size_t bytes = Ring::storage_bytes(3);
  EXPECT_GE(bytes, 3 * sizeof(Tracked));
  void* storage = ::operator new(bytes, std::align_val_t{Ring::kStorageAlignment});
  {
    Ring ring(3, storage);
    EXPECT_EQ(ring.capacity(), 3u);
    for (int lap = 0; lap < 5; ++lap) {
      ASSERT_TRUE(ring.try_emplace(lap));
      ASSERT_TRUE(ring.try_emplace(lap + 100));
      Tracked out;
      ASSERT_TRUE(ring.pop(out));
      EXPECT_EQ(out.value, lap);
      ASSERT_TRUE(ring.pop(out));
      EXPECT_EQ(out.value, lap + 100);
    }
    ASSERT_TRUE(ring.try_emplace(7));  // left inside: the destructor destroys it
  }
  EXPECT_EQ(Tracked::live.load(), 0);
  ::operator delete(storage, std::align_val_t{Ring::kStorageAlignment});
  EXPECT_THROW(Ring(0, nullptr), std::invalid_argument);
  alignas(64) static unsigned char misaligned[1024];
  EXPECT_THROW(Ring(2, misaligned + 8), std::invalid_argument);
}

}  // namespace
