// SPDX-License-Identifier: MIT
// fev::SharedRing between processes (fork): millions of items, exactly once, in order
// per producer; a producer killed mid-stream is detected by timeout; and a close()
// killed inside each of its windows leaves what fev/shared.hpp says. Every blocking
// call has a timeout and every child is reaped (killed first if needed): no hang.
#include "fev/shared.hpp"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <thread>
#include <vector>

#include "child_process.hpp"
#include "emulator.hpp"
#include "kill_at_futex_wake.hpp"
#include "test_backends.hpp"

namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
constexpr bool kSanitized = true;
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer) || __has_feature(address_sanitizer)
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif
#else
constexpr bool kSanitized = false;
#endif

// Two million items in a plain build (the issue asks for millions); fewer under the
// sanitizers, which slow every atomic operation down by an order of magnitude.
constexpr std::uint32_t kItemsPerProducer = kSanitized ? 50'000 : 1'000'000;

struct Item {
  std::uint32_t producer;
  std::uint32_t seq;
};

using fev::testing::exited_ok;
using fev::testing::reap;

// Child exit codes, so a failure names its cause.
enum : int { kPushTimedOut = 2, kPushClosed = 3, kOutOfOrder = 4, kPopTimedOut = 5 };

[[noreturn]] void produce(fev::SharedRing<Item>& ring, std::uint32_t producer, std::uint32_t items) {
  for (std::uint32_t seq = 0; seq < items; ++seq) {
    const fev::Status status = ring.push_for(Item{producer, seq}, 30s);
    if (status == fev::Status::timeout) _exit(kPushTimedOut);
    if (status == fev::Status::closed) _exit(kPushClosed);
  }
  _exit(0);
}

TEST(SharedRing, TwoProducerAndTwoConsumerProcessesExactlyOnceInOrder) {
  constexpr std::uint32_t kProducers = 2;
  constexpr int kConsumers = 2;
  constexpr std::size_t kTotal = std::size_t{kProducers} * kItemsPerProducer;
  fev::SharedRegion region = fev::SharedRegion::anonymous(kTotal + (1 << 20));
  auto* ring = fev::construct_shared_ring<Item>(region, 1024);
  // The ledger: how often each item was popped, by any consumer process.
  auto* ledger = static_cast<std::atomic<std::uint8_t>*>(region.allocate(kTotal, alignof(std::atomic<std::uint8_t>)));
  for (std::size_t i = 0; i < kTotal; ++i) ::new (&ledger[i]) std::atomic<std::uint8_t>(0);

  std::vector<pid_t> consumers;
  for (int c = 0; c < kConsumers; ++c) {
    const pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      std::uint32_t next[kProducers] = {};  // per producer: the lowest seq not yet seen here
      for (;;) {
        Item item{};
        const fev::Status status = ring->pop_for(item, 30s);
        if (status == fev::Status::closed) _exit(0);
        if (status == fev::Status::timeout) _exit(kPopTimedOut);
        if (item.producer >= kProducers || item.seq < next[item.producer]) _exit(kOutOfOrder);
        next[item.producer] = item.seq + 1;
        ledger[std::size_t{item.producer} * kItemsPerProducer + item.seq].fetch_add(1, std::memory_order_relaxed);
      }
    }
    consumers.push_back(pid);
  }
  std::vector<pid_t> producers;
  for (std::uint32_t p = 0; p < kProducers; ++p) {
    const pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) produce(*ring, p, kItemsPerProducer);
    producers.push_back(pid);
  }
  for (const pid_t pid : producers) {
    const int status = reap(pid);
    EXPECT_TRUE(exited_ok(status)) << "producer wait status " << status;
  }
  ring->close();  // every push has returned: the consumers drain what is left and stop
  for (const pid_t pid : consumers) {
    const int status = reap(pid);
    EXPECT_TRUE(exited_ok(status)) << "consumer wait status " << status;
  }
  std::size_t missing = 0, duplicated = 0;
  for (std::size_t i = 0; i < kTotal; ++i) {
    const int count = ledger[i].load(std::memory_order_relaxed);
    missing += count == 0;
    duplicated += count > 1;
  }
  EXPECT_EQ(missing, 0u);
  EXPECT_EQ(duplicated, 0u);
  EXPECT_EQ(ring->size(), 0u);
}

// A producer killed at an arbitrary moment: the consumer gets a gap-free prefix of its
// items, each once, and then a timeout (how a dead peer shows), never a hang or junk.
TEST(SharedRing, KilledProducerIsDetectedByTimeout) {
  fev::SharedRegion region = fev::SharedRegion::anonymous(1 << 20);
  auto* ring = fev::construct_shared_ring<Item>(region, 64);
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  constexpr std::uint32_t kEndless = 0xFFFFFFFFu;  // it is killed long before
  if (pid == 0) produce(*ring, 0, kEndless);
  std::uint32_t next = 0;
  const auto kill_at = Clock::now() + 50ms;
  bool killed = false;
  fev::Status status = fev::Status::ok;
  for (;;) {
    if (!killed && Clock::now() >= kill_at) {
      kill(pid, SIGKILL);
      killed = true;
    }
    Item item{};
    status = ring->pop_for(item, 300ms);
    if (status != fev::Status::ok) break;
    ASSERT_EQ(item.producer, 0u);
    ASSERT_EQ(item.seq, next) << "items arrive once each, in order, with no gap";
    ++next;
  }
  const int wait_status = reap(pid);
  EXPECT_EQ(status, fev::Status::timeout);
  EXPECT_TRUE(WIFSIGNALED(wait_status) && WTERMSIG(wait_status) == SIGKILL);
  EXPECT_GT(next, 0u);
}

// ---- close() killed between its steps ----

// Long enough that a waiter that returns within kPrompt was woken, not timed out.
constexpr auto kWaitLimit = 60s;
constexpr auto kPrompt = 20s;

// Ring hooks that kill the process at its first step once `armed` (this process's own
// flag, outside the region: a forked child arms it, the parent's stays false). Called
// only by a child that does nothing but close(), the first step is close()'s own,
// between setting the consumers' copy of the closed bit and setting tail_'s.
struct DieAtFirstStep : fev::RingHooks {
  static inline bool armed = false;
  static void step() noexcept {
    if (armed) raise(SIGKILL);
  }
};
using StepKilledRing = fev::BasicRing<int, fev::backend::FutexShared, DieAtFirstStep>;

// A shared ring with the hooks above, placed as fev::construct_shared_ring places one.
StepKilledRing* construct_step_killed_ring(fev::SharedRegion& region, std::size_t capacity) {
  void* slots = region.allocate(StepKilledRing::storage_bytes(capacity), StepKilledRing::kStorageAlignment);
  return ::new (region.allocate(sizeof(StepKilledRing), alignof(StepKilledRing))) StepKilledRing(capacity, slots);
}

// Forks a child that runs `step` and must die by `signal`; returns once it is gone.
template <class Step>
void child_dies_by(int signal, Step&& step) {
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    step();
    _exit(0);  // it did not die where it was to: the parent reports it
  }
  const int status = reap(pid);
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == signal)
      << "the child was to die by signal " << signal << "; wait status " << status;
}

// Waiters park at once: these tests are about parked waiters.
class SharedRingDeadCloser : public ::testing::Test {
 protected:
  const fev::testing::NoSpinning park_at_once_;
  fev::SharedRegion region_ = fev::SharedRegion::anonymous(1 << 20);
};

// Killed after the consumers' copy of the closed bit and before tail_'s: the ring stays
// open. Pushes go in, a parked consumer is woken by them as usual, closed() says false;
// a survivor's close() then closes it and wakes the consumer parked again.
TEST_F(SharedRingDeadCloser, KilledBeforeTheClosedBitLeavesTheRingOpen) {
  auto* ring = construct_step_killed_ring(region_, 4);
  std::atomic<int> popped{0};
  std::atomic<int> last_status{-1};
  std::thread consumer([&] {
    int value = 0;
    for (;;) {
      const fev::Status status = ring->pop_for(value, kWaitLimit);
      last_status = static_cast<int>(status);
      if (status != fev::Status::ok) return;
      popped.fetch_add(1);
    }
  });
  ASSERT_TRUE(fev::testing::eventually([&] { return ring->snapshot().consumers_sleeping == 1; }));
  child_dies_by(SIGKILL, [&] {
    DieAtFirstStep::armed = true;
    ring->close();
  });
  EXPECT_FALSE(ring->closed()) << "the dead close() set tail_'s closed bit";
  ASSERT_TRUE(ring->try_push(1)) << "a push into the ring that the dead close() left open";
  EXPECT_TRUE(fev::testing::eventually([&] { return popped.load() == 1; }, kPrompt))
      << "the parked consumer did not get the value";
  ASSERT_TRUE(fev::testing::eventually([&] { return ring->snapshot().consumers_sleeping == 1; }));
  ring->close();  // the survivor's close() completes it
  EXPECT_TRUE(ring->closed());
  EXPECT_FALSE(ring->try_push(2));
  EXPECT_TRUE(fev::testing::eventually([&] { return last_status.load() == static_cast<int>(fev::Status::closed); },
                                       kPrompt))
      << "the consumer was not woken by the survivor's close()";
  consumer.join();
  EXPECT_EQ(popped.load(), 1);
}

// Killed after tail_'s closed bit, at its first wake: the ring is closed (pushes fail,
// closed() says so), and the consumer parked before it is woken by a survivor's close().
TEST_F(SharedRingDeadCloser, KilledBeforeItsWakesLeavesTheRingClosedForTheNextCloseToWake) {
  FEV_SKIP_SECCOMP_TEST_UNDER_EMULATOR();
  auto* ring = fev::construct_shared_ring<int>(region_, 4);
  std::atomic<int> last_status{-1};
  std::thread consumer([&] {
    int value = 0;
    last_status = static_cast<int>(ring->pop_for(value, kWaitLimit));
  });
  ASSERT_TRUE(fev::testing::eventually([&] { return ring->snapshot().consumers_sleeping == 1; }));
  child_dies_by(SIGSYS, [&] {
    if (!fev::testing::die_at_next_futex_wake()) _exit(3);
    ring->close();
  });
  EXPECT_TRUE(ring->closed());
  EXPECT_FALSE(ring->try_push(1)) << "a push into the closed ring";
  ring->close();  // idempotent: makes the wakes the dead close() owed
  EXPECT_TRUE(fev::testing::eventually([&] { return last_status.load() == static_cast<int>(fev::Status::closed); },
                                       kPrompt))
      << "the consumer was not woken by the survivor's close()";
  consumer.join();
}

}  // namespace
