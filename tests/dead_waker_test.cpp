// SPDX-License-Identifier: MIT
// A process that dies between its waking atomic step and its futex wake must not strand
// the survivors: the next set() or push by a live process makes the wake. The peer is
// killed exactly there by a seccomp filter (tests/kill_at_futex_wake.hpp).
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "fev/event.hpp"
#include "fev/shared.hpp"
#include "child_process.hpp"
#include "emulator.hpp"
#include "kill_at_futex_wake.hpp"
#include "test_backends.hpp"

namespace {

using namespace std::chrono_literals;
using fev::testing::eventually;
using fev::testing::reap;

// Long enough that a waiter that returns within kPrompt was woken, not timed out.
constexpr auto kWaitLimit = 60s;
constexpr auto kPrompt = 20s;

// Forks a child that runs `step` with the kill-at-wake filter installed; returns once
// the child is gone. Fails the test unless the filter killed it (SIGSYS).
template <class Step>
void child_dies_at_its_wake(Step&& step) {
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    if (!fev::testing::die_at_next_futex_wake()) _exit(3);
    step();
    _exit(0);  // the step made no wake: the parent reports it
  }
  const int status = reap(pid);
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS)
      << "the child was to die at its futex wake; wait status " << status;
}

class DeadWaker : public ::testing::Test {
 protected:
  void SetUp() override {
    FEV_SKIP_SECCOMP_TEST_UNDER_EMULATOR();
    before_ = fev::spin_limit();
    fev::set_spin_limit(0ns);  // park at once: the test is about parked waiters
  }
  void TearDown() override { fev::set_spin_limit(before_); }
  fev::SharedRegion region_ = fev::SharedRegion::anonymous(1 << 20);

 private:
  std::chrono::nanoseconds before_{};
};

TEST_F(DeadWaker, SurvivorsSetWakesWaitersStrandedByADeadSetter) {
  auto* event = fev::construct_shared<fev::SharedEvent>(region_);
  std::atomic<bool> returned{false};
  std::thread waiter([&] {
    EXPECT_TRUE(event->wait_for(kWaitLimit));
    returned = true;
  });
  ASSERT_TRUE(eventually([&] { return (event->word().load() & 2u) != 0; })) << "the waiter parks";
  std::this_thread::sleep_for(20ms);  // in the kernel by now (a late sleep only returns at once)
  child_dies_at_its_wake([&] { event->set(); });
  // The survivor's next clear(); set() must wake the waiter the dead setter owed.
  event->clear();
  event->set();
  EXPECT_TRUE(eventually([&] { return returned.load(); }, kPrompt)) << "the waiter is stranded";
  event->set();
  waiter.join();
}

TEST_F(DeadWaker, SurvivorsSetOfAnAlreadySetEventWakesStrandedWaiters) {
  auto* event = fev::construct_shared<fev::SharedEvent>(region_);
  std::atomic<bool> returned{false};
  std::thread waiter([&] {
    EXPECT_TRUE(event->wait_for(kWaitLimit));
    returned = true;
  });
  ASSERT_TRUE(eventually([&] { return (event->word().load() & 2u) != 0; }));
  std::this_thread::sleep_for(20ms);
  child_dies_at_its_wake([&] { event->set(); });
  event->set();  // the event is still set: this set() makes the wake that was owed
  EXPECT_TRUE(eventually([&] { return returned.load(); }, kPrompt)) << "the waiter is stranded";
  waiter.join();
}

TEST_F(DeadWaker, SurvivorsSetWakesAutoResetWaiterStrandedByADeadSetter) {
  using SharedAutoResetEvent = fev::BasicAutoResetEvent<fev::backend::FutexShared>;
  auto* event = fev::construct_shared<SharedAutoResetEvent>(region_);
  std::atomic<bool> returned{false};
  std::thread waiter([&] {
    EXPECT_TRUE(event->wait_for(kWaitLimit));
    returned = true;
  });
  ASSERT_TRUE(eventually([&] { return event->word().load() >= 2u; })) << "the waiter registers";
  std::this_thread::sleep_for(20ms);
  child_dies_at_its_wake([&] { event->set(); });
  event->set();  // still signalled: this set() makes the wake that was owed
  EXPECT_TRUE(eventually([&] { return returned.load(); }, kPrompt)) << "the waiter is stranded";
  waiter.join();
}

TEST_F(DeadWaker, LiveProducersWakeAConsumerStrandedByADeadProducer) {
  auto* ring = fev::construct_shared_ring<int>(region_, 8);
  std::atomic<int> popped{0};
  std::thread consumer([&] {
    int value = 0;
    for (int i = 0; i < 4; ++i) {
      if (ring->pop_for(value, kWaitLimit) != fev::Status::ok) break;
      popped.fetch_add(1);
    }
  });
  ASSERT_TRUE(eventually([&] { return ring->snapshot().consumers_sleeping == 1; }));
  std::this_thread::sleep_for(20ms);
  child_dies_at_its_wake([&] { (void)ring->try_push(1); });
  for (int value = 2; value <= 4; ++value) ASSERT_TRUE(ring->try_push(value));
  EXPECT_TRUE(eventually([&] { return popped.load() == 4; }, kPrompt))
      << "the consumer is stranded with " << ring->size() << " values in the ring";
  ring->close();
  consumer.join();
}

TEST_F(DeadWaker, LiveConsumersWakeAProducerStrandedByADeadConsumer) {
  auto* ring = fev::construct_shared_ring<int>(region_, 1);
  ASSERT_TRUE(ring->try_push(0));
  std::atomic<int> pushed{0};
  std::thread producer([&] {
    for (int value = 1; value <= 3; ++value) {
      if (ring->push_for(value, kWaitLimit) != fev::Status::ok) break;
      pushed.fetch_add(1);
    }
  });
  ASSERT_TRUE(eventually([&] { return ring->snapshot().producers_sleeping == 1; }));
  std::this_thread::sleep_for(20ms);
  int value = -1;
  child_dies_at_its_wake([&] { (void)ring->try_pop(value); });
  for (int expected = 1; expected <= 3; ++expected) {
    ASSERT_EQ(ring->pop_for(value, kPrompt), fev::Status::ok) << "the producer is stranded";
    EXPECT_EQ(value, expected);
  }
  producer.join();
  EXPECT_EQ(pushed.load(), 3);
}

}  // namespace
