// SPDX-License-Identifier: MIT
// Who is woken and how long a waiter spins: precise ring wakeups (one per value
// published or slot freed, passed on by the woken thread), and spins that never
// outlast the caller's deadline.
#include <gtest/gtest.h>

#if defined(__linux__)
#include <sched.h>
#endif

#include <atomic>
#include <chrono>
#include <optional>
#include <thread>
#include <vector>

#include "fev/event.hpp"
#include "fev/ring.hpp"
#include "fev/ring_access.hpp"
#include "fev/spin.hpp"
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

// Wakes a parked thread the way a release does: a thread parks on an Event, this thread
// sets it (set() sees the parked bit and wakes).
void wake_a_parked_waiter() {
  fev::Event event;
  std::thread waiter([&] { event.wait(); });
  // relaxed: a test's poll for the parked bit; set() orders what matters.
  while (!(event.word().load(std::memory_order_relaxed) & fev::detail::EventBits::kParked)) std::this_thread::yield();
  event.set();
  waiter.join();
}

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

// The spin policy's memory: a thread whose spins stopped paying parks at once, except
// right after it woke a parked thread, which is about to answer. Without that exception
// two threads that each learned "spins do not pay" would keep parking and waking each
// other (ping-pong across two CPUs stuck at futex speed).
TEST(SpinPolicy, SpinsAfterWakingAPeerEvenWhenSpinsStoppedPaying) {
  SpinLimit limit(4us);
  std::thread([] {  // a fresh thread: a history of its own
    const fev::detail::SpinOutcome failed{false, false, 0};
    const auto next_plan = [] { return fev::detail::begin_spin(fev::Deadline::max()); };
    // Learn that spinning does not pay, and stop right after a probe.
    fev::detail::SpinPlan plan = next_plan();
    if (plan.pause == 0ns) GTEST_SKIP() << "one CPU: this process never pause-spins";
    for (int wait = 0; wait < 64 || !plan.probe; ++wait) {
      fev::detail::end_spin(plan, failed);
      plan = next_plan();
    }
    fev::detail::end_spin(plan, failed);

    plan = next_plan();
    ASSERT_FALSE(plan.probe);
    EXPECT_EQ(plan.pause, 0ns) << "spins stopped paying: park at once";
    fev::detail::end_spin(plan, failed);

    wake_a_parked_waiter();
    plan = next_plan();
    ASSERT_FALSE(plan.probe);
    EXPECT_EQ(plan.pause, fev::spin_limit()) << "just woke a peer: spin whatever the history";
    fev::detail::end_spin(plan, failed);

    plan = next_plan();
    ASSERT_FALSE(plan.probe);
    EXPECT_EQ(plan.pause, 0ns) << "only the wait right after a wake";
    fev::detail::end_spin(plan, failed);
  }).join();
}

#if defined(__linux__)
// Pins the calling thread to the first CPU it may run on, and gives it back its mask
// when destroyed. pinned() is false (nothing changed) where it may run on one CPU only.
class PinnedToOneCpu {
 public:
  PinnedToOneCpu() {
    if (sched_getaffinity(0, sizeof original_, &original_) != 0 || CPU_COUNT(&original_) < 2) return;
    int first = 0;
    while (!CPU_ISSET(first, &original_)) ++first;
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(first, &one);
    pinned_ = sched_setaffinity(0, sizeof one, &one) == 0;
  }
  ~PinnedToOneCpu() {
    if (pinned_) {
      EXPECT_EQ(sched_setaffinity(0, sizeof original_, &original_), 0);
    }
  }
  PinnedToOneCpu(const PinnedToOneCpu&) = delete;
  PinnedToOneCpu& operator=(const PinnedToOneCpu&) = delete;
  bool pinned() const { return pinned_; }
  const cpu_set_t& original() const { return original_; }

 private:
  cpu_set_t original_{};
  bool pinned_ = false;
};
#endif

// Pinning the main thread to one CPU must not turn spinning off for the whole process
// (it did: the policy read the main thread's mask as the process's).
TEST(SpinPolicy, PinnedMainThreadDoesNotStopOtherThreadsSpinning) {
#if defined(__linux__)
  SpinLimit limit(4us);
  const PinnedToOneCpu pin;  // gtest runs tests on the main thread
  if (!pin.pinned()) GTEST_SKIP() << "this process may run on one CPU only";
  const cpu_set_t original = pin.original();
  std::chrono::nanoseconds planned{-1};
  std::thread([&] {
    (void)sched_setaffinity(0, sizeof original, &original);  // this thread may run anywhere
    const fev::detail::SpinPlan plan = fev::detail::begin_spin(fev::Deadline::max());
    planned = plan.pause;
    fev::detail::end_spin(plan, {true, false, 0});
  }).join();
  EXPECT_EQ(planned, fev::spin_limit()) << "a thread that may run on several CPUs spins on its first wait";
#else
  GTEST_SKIP() << "CPU affinity is read on Linux only";
#endif
}

// A thread starts with its creator's CPU mask: when the creator is pinned, a wait in
// the new thread's first moments may find every thread on one CPU, until the new
// threads pin themselves elsewhere. That answer must not stand for long (it stood for a
// second, and two-CPU ping-pong yielded instead of spinning all that time).
TEST(SpinPolicy, OneCpuAnswerIsReadAgainSoon) {
#if defined(__linux__)
  SpinLimit limit(4us);
  const PinnedToOneCpu pin;  // the threads below inherit its mask
  if (!pin.pinned()) GTEST_SKIP() << "this process may run on one CPU only";
  const cpu_set_t original = pin.original();
  std::atomic<int> step{0};  // 1: the waiter found one CPU; 2: the other thread moved
  std::chrono::nanoseconds first_plan{-1};
  std::chrono::nanoseconds later_plan{-1};
  std::thread waiter([&] {
    fev::detail::SpinPlan plan = fev::detail::begin_spin(fev::Deadline::max());
    first_plan = plan.pause;
    fev::detail::end_spin(plan, {false, false, 0});
    step.store(1);
    while (step.load() != 2) std::this_thread::yield();
    // Far less than the second the old answer stood for, far more than the re-reads
    // need (the first comes a millisecond after the first answer).
    const auto give_up = std::chrono::steady_clock::now() + 300ms;
    do {
      plan = fev::detail::begin_spin(fev::Deadline::max());
      later_plan = plan.pause;
      fev::detail::end_spin(plan, {true, false, 0});
      std::this_thread::sleep_for(100us);
    } while (later_plan == 0ns && std::chrono::steady_clock::now() < give_up);
  });
  std::thread mover([&] {
    while (step.load() != 1) std::this_thread::yield();
    (void)sched_setaffinity(0, sizeof original, &original);  // may now run anywhere
    step.store(2);
    while (step.load() != 3) std::this_thread::yield();  // stay alive while the waiter looks
  });
  waiter.join();
  step.store(3);
  mover.join();
  // A thread this test did not start (a sanitizer runtime's) may run on any CPU: then
  // the process was never on one CPU, and there is nothing to re-read.
  if (first_plan != 0ns) GTEST_SKIP() << "another thread of this process may run on other CPUs";
  EXPECT_EQ(later_plan, fev::spin_limit()) << "a thread moved to other CPUs: the waiter must spin again soon";
#else
  GTEST_SKIP() << "CPU affinity is read on Linux only";
#endif
}

// Right after waking a parked thread, a waiter keeps polling with yields for up to 16
// spin limits while that pays: the woken thread answers only once it runs again (tens
// of microseconds), and an answer that finds us polling keeps both threads from
// parking. While it does not pay, only every 8th such wait tries; one that pays turns
// it back on.
TEST(SpinPolicy, AfterAWakeYieldsLongerWhileThatPays) {
  SpinLimit limit(4us);
  std::thread([] {
    const auto plan_after_wake = [] {
      wake_a_parked_waiter();
      return fev::detail::begin_spin(fev::Deadline::max());
    };
    const fev::detail::SpinOutcome failed{false, false, 0};
    fev::detail::SpinPlan plan = plan_after_wake();
    if (plan.pause == 0ns) GTEST_SKIP() << "one CPU: this process never pause-spins";
    EXPECT_TRUE(plan.after_wake);
    EXPECT_EQ(plan.yield_for, 16 * fev::spin_limit());
    fev::detail::end_spin(plan, failed);

    int extended = 0;
    for (int wait = 1; wait < 24; ++wait) {
      plan = plan_after_wake();
      if (wait >= 8 && plan.yield_for > 0ns) ++extended;
      fev::detail::end_spin(plan, failed);
    }
    EXPECT_EQ(extended, 2) << "after-wake waits that keep failing: only every 8th tries";

    // The next try pays: back on for the following ones.
    for (int wait = 0; wait < 8; ++wait) {
      plan = plan_after_wake();
      if (plan.yield_for > 0ns) break;
      fev::detail::end_spin(plan, failed);
    }
    ASSERT_GT(plan.yield_for, 0ns);
    fev::detail::end_spin(plan, {true, true, 10});
    plan = plan_after_wake();
    EXPECT_GT(plan.yield_for, 0ns);
    fev::detail::end_spin(plan, failed);

    plan = fev::detail::begin_spin(fev::Deadline::max());  // no wake before this one
    EXPECT_FALSE(plan.after_wake);
    EXPECT_EQ(plan.yield_for, 0ns);
    fev::detail::end_spin(plan, failed);
  }).join();
}

// Waits until a thread sleeps on the ring's consumers' (`consumers`) or producers' word.
template <class Ring>
void until_someone_sleeps_on(Ring& ring, bool consumers) {
  auto& word = consumers ? fev::detail::RingAccess::consumers_word(ring) : fev::detail::RingAccess::producers_word(ring);
  // relaxed: a test's poll of the sleeper count.
  while (!(word.load(std::memory_order_relaxed) & fev::detail::RingAccess::kSleepersMask)) std::this_thread::yield();
}

// A ring's wake (a push that wakes a parked consumer) does not make the pusher's next
// wait poll longer unless that wait is for room in a ring: the woken consumer answers
// no Event, and in a worker pool the extra polling would only burn CPU.
TEST(SpinPolicy, ARingWakeIsNotAnAnswerToWaitFor) {
  SpinLimit limit(4us);
  std::thread([] {
    fev::Ring<int> ring(4);
    std::thread consumer([&] { EXPECT_EQ(ring.pop(), std::optional<int>(1)); });
    until_someone_sleeps_on(ring, true);
    ASSERT_TRUE(ring.push(1));  // wakes the parked consumer
    consumer.join();
    const fev::detail::SpinPlan plan = fev::detail::begin_spin(fev::Deadline::max());
    EXPECT_FALSE(plan.after_wake);
    EXPECT_EQ(plan.yield_for, 0ns);
    fev::detail::end_spin(plan, {true, false, 0});
  }).join();
}

// A thread that woke the other side of a ring and then waits on its own side (a push
// waiting for room after it woke a consumer, a pop waiting for values after it woke a
// producer) waits for the woken thread's answer the way a waiter does after an Event's
// wake. Without this, two threads streaming through a ring at full speed fell into
// parking and waking each other on every lap (each wake takes tens of microseconds to
// land here; measured at 1P1C: thousands of parks per 4M items instead of tens, and
// about a third less throughput in the median). Once per wake; a wait on the side that
// was woken does not count.
TEST(SpinPolicy, AfterWakingTheOtherSideOfARingWaitsForItsAnswer) {
  SpinLimit limit(4us);
  std::thread([] {
    fev::Ring<int> ring(1);
    const auto plan_for = [](fev::detail::RingSide side) {
      const fev::detail::SpinPlan plan = fev::detail::begin_spin(fev::Deadline::max(), side);
      fev::detail::end_spin(plan, {true, false, 0});
      return plan;
    };
    const auto push_waking_a_consumer = [&] {
      std::thread consumer([&] { EXPECT_EQ(ring.pop(), std::optional<int>(1)); });
      until_someone_sleeps_on(ring, true);
      ASSERT_TRUE(ring.push(1));
      consumer.join();
    };
    const auto pop_waking_a_producer = [&] {
      ASSERT_TRUE(ring.try_push(2));
      std::thread producer([&] { EXPECT_TRUE(ring.push(3)); });
      until_someone_sleeps_on(ring, false);
      EXPECT_EQ(ring.pop(), std::optional<int>(2));
      producer.join();
      EXPECT_EQ(ring.try_pop(), std::optional<int>(3));
    };

    if (plan_for(fev::detail::RingSide::producers).pause == 0ns) GTEST_SKIP() << "one CPU: this process never pause-spins";
    push_waking_a_consumer();
    fev::detail::SpinPlan plan = plan_for(fev::detail::RingSide::producers);
    EXPECT_TRUE(plan.after_wake) << "a push woke a consumer: the next wait for room waits for its answer";
    EXPECT_EQ(plan.yield_for, 16 * fev::spin_limit());
    EXPECT_FALSE(plan_for(fev::detail::RingSide::producers).after_wake) << "once per wake";

    push_waking_a_consumer();
    EXPECT_FALSE(plan_for(fev::detail::RingSide::consumers).after_wake) << "woke consumers, waits as one";

    pop_waking_a_producer();
    EXPECT_TRUE(plan_for(fev::detail::RingSide::consumers).after_wake) << "a pop woke a producer: the next wait for values waits";
    pop_waking_a_producer();
    EXPECT_FALSE(plan_for(fev::detail::RingSide::producers).after_wake) << "woke producers, waits as one";
  }).join();
}

// An untimed wait polls a few times before it asks for a plan (no clock read while a
// fast answer is on its way), and a wait answered there answers the wake before it.
TEST(SpinPolicy, AWaitAnsweredBeforeItsPlanUsesUpTheWake) {
  SpinLimit limit(4us);
  std::thread([] {
    if (fev::detail::polls_before_plan() == 0) GTEST_SKIP() << "one CPU: no polls before the plan";
    wake_a_parked_waiter();
    int checks = 0;
    EXPECT_TRUE(fev::detail::spin_until([&] { return ++checks == 2; }, fev::Deadline::max()));
    EXPECT_EQ(checks, 2) << "answered by the first poll";
    const fev::detail::SpinPlan plan = fev::detail::begin_spin(fev::Deadline::max());
    EXPECT_FALSE(plan.after_wake) << "the wake was answered before the plan";
    fev::detail::end_spin(plan, {true, false, 0});
  }).join();
}

// A timed wait makes no polls beyond what its plan allows: with the deadline passed,
// only the first check.
TEST(SpinPolicy, APassedDeadlineGetsOneCheck) {
  SpinLimit limit(4us);
  int checks = 0;
  EXPECT_FALSE(fev::detail::spin_until([&] { return ++checks > 100; }, std::chrono::steady_clock::now() - 1s));
  EXPECT_EQ(checks, 1);
}

#if defined(__linux__)
// No polls before the plan while the whole process may run on one CPU: nothing can
// answer while this thread polls. The hint follows the masks back.
TEST(SpinPolicy, NoPollsBeforeThePlanOnOneCpu) {
  SpinLimit limit(4us);
  // A fresh thread's first wait is a probe that pause-spins unless the process is on
  // one CPU; it re-reads the masks on that first wait.
  const auto first_plan_of_a_fresh_thread = [] {
    fev::detail::SpinPlan plan{};
    std::thread([&] {
      plan = fev::detail::begin_spin(fev::Deadline::max());
      fev::detail::end_spin(plan, {true, false, 0});
    }).join();
    return plan;
  };
  {
    const PinnedToOneCpu pin;  // the fresh threads inherit its mask
    if (!pin.pinned()) GTEST_SKIP() << "this process may run on one CPU only";
    if (first_plan_of_a_fresh_thread().pause != 0ns)
      GTEST_SKIP() << "another thread of this process (a sanitizer's) may run on other CPUs";
    EXPECT_EQ(fev::detail::polls_before_plan(), 0);
  }
  EXPECT_EQ(first_plan_of_a_fresh_thread().pause, fev::spin_limit());
  EXPECT_GT(fev::detail::polls_before_plan(), 0) << "back on several CPUs: the hint follows";
}
#endif

}  // namespace
