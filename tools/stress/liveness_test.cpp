// SPDX-License-Identifier: MIT
// The stress harness's per-thread watchdog (StallDetector), fed with samples made up
// here: no threads run and no clock is read, so its verdicts cannot depend on the machine.
#include "liveness.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <vector>

namespace stress {
namespace {

using namespace std::chrono_literals;

// One producer (index 0) and two consumers (1 and 2), judged over windows of 500 ms; at
// every sample the ring holds items and has free slots, so both roles are offered work.
// Whether the threads sleep in the kernel is `asleep`'s answer (true unless a test says),
// except for `runnable`.
class Watch {
 public:
  static inline bool asleep = true;
  Watch() {
    asleep = true;
    runnable = nullptr;
  }

  ThreadLiveness& producer() { return threads_[0]; }
  ThreadLiveness& consumer() { return threads_[1]; }
  ThreadLiveness& other_consumer() { return threads_[2]; }
  // This thread is runnable whatever `asleep` says.
  static inline const ThreadLiveness* runnable = nullptr;

  // Samples every 5 ms for `span`, calling `between()` before each sample; the first
  // stall reported, if any.
  template <class Between>
  std::optional<ThreadStall> run_for(Clock::duration span, Between&& between) {
    for (const Clock::time_point end = now_ + span; now_ < end;) {
      between();
      now_ += 5ms;
      if (auto stall = detector_.observe(RingSample{now_, true, true, consumer_wake_in_flight, false})) return stall;
    }
    return std::nullopt;
  }
  bool consumer_wake_in_flight = false;  // the consumers' word has its waking bit
  std::optional<ThreadStall> run_for(Clock::duration span) {
    return run_for(span, [] {});
  }

 private:
  std::vector<ThreadLiveness> threads_ = std::vector<ThreadLiveness>(3);
  StallDetector detector_{threads_, 1, 500ms, [](const ThreadLiveness& thread) {
                            return &thread == runnable ? false : asleep;
                          }};
  Clock::time_point now_{};
};

TEST(StressLiveness, ABlockingPopThatDoesNotReturnIsAStall) {
  Watch watch;
  watch.consumer().enter(CallKind::blocking);
  watch.consumer().count_call();
  const auto stall = watch.run_for(2s);
  ASSERT_TRUE(stall.has_value()) << "a consumer parked for 2 s beside items was not reported";
  EXPECT_EQ(stall->role, Role::consumer);
  EXPECT_EQ(stall->kind, CallKind::blocking);
}

// On a loaded machine a woken thread may wait long for a CPU: it is runnable, not
// asleep, and slow is not stuck. The same for a try loop preempted between its calls.
TEST(StressLiveness, AThreadWaitingForACpuIsNoStall) {
  for (const CallKind kind : {CallKind::blocking, CallKind::try_loop, CallKind::timed_loop}) {
    Watch watch;
    Watch::asleep = false;
    watch.consumer().enter(kind);
    watch.consumer().count_call();
    const auto stall = watch.run_for(2s);
    EXPECT_FALSE(stall.has_value()) << "a runnable thread was reported as stalled";
  }
}

// Asleep at every sample but one: the window restarts there.
TEST(StressLiveness, ASleeperThatRanInTheWindowIsJudgedFromThen) {
  Watch watch;
  watch.consumer().enter(CallKind::blocking);
  watch.consumer().count_call();
  int samples = 0;
  auto stall = watch.run_for(400ms, [&] { Watch::asleep = ++samples != 60; });  // runs at 300 ms
  EXPECT_FALSE(stall.has_value());
  stall = watch.run_for(350ms);  // 750 ms in, 450 ms since it ran
  EXPECT_FALSE(stall.has_value()) << "the window did not restart when the thread ran";
  stall = watch.run_for(100ms);
  EXPECT_TRUE(stall.has_value()) << "asleep for 500 ms after it ran, beside work";
}

// A consumer parked beside items while the wake is on its way to another consumer that
// is runnable but waits for a CPU: the relay comes once that one runs; not a stall.
TEST(StressLiveness, ASleeperWhoseSideAwaitsARunnableWakeHolderIsNoStall) {
  Watch watch;
  watch.consumer().enter(CallKind::blocking);
  watch.consumer().count_call();
  watch.other_consumer().enter(CallKind::blocking);  // woken, holds the wake, gets no CPU
  Watch::runnable = &watch.other_consumer();
  watch.consumer_wake_in_flight = true;
  EXPECT_FALSE(watch.run_for(2s).has_value()) << "a sleeper waiting for the relay was reported";
}

// The same wake with nobody runnable to hold it (every consumer asleep): stranded.
TEST(StressLiveness, ASleeperBesideAWakeNobodyHoldsIsAStall) {
  Watch watch;
  watch.consumer().enter(CallKind::blocking);
  watch.consumer().count_call();
  watch.other_consumer().enter(CallKind::blocking);
  watch.consumer_wake_in_flight = true;
  const auto stall = watch.run_for(2s);
  ASSERT_TRUE(stall.has_value()) << "a stranded wake went unreported";
  EXPECT_EQ(stall->role, Role::consumer);
}

TEST(StressLiveness, AThreadThatKeepsFinishingOperationsIsNoStall) {
  Watch watch;
  const auto stall = watch.run_for(2s, [&] {
    watch.consumer().enter(CallKind::blocking);
    watch.consumer().count_call();
    watch.consumer().leave();
  });
  EXPECT_FALSE(stall.has_value());
}

// A retry loop that keeps losing the race for every item (starved by the others on a
// loaded machine) is not stuck in the ring, even if it is asleep at every sample (its
// timed waits, or the yields between its tries, whenever the watchdog looks).
TEST(StressLiveness, ATryLoopThatKeepsLosingTheRaceIsNoStall) {
  Watch watch;
  watch.consumer().enter(CallKind::try_loop);
  const auto stall = watch.run_for(2s, [&] { watch.consumer().count_call(); });
  EXPECT_FALSE(stall.has_value()) << "a try loop making calls was reported as stalled";
}

TEST(StressLiveness, ATimedLoopThatKeepsTimingOutIsNoStall) {
  Watch watch;
  watch.producer().enter(CallKind::timed_loop);
  const auto stall = watch.run_for(2s, [&] { watch.producer().count_call(); });
  EXPECT_FALSE(stall.has_value()) << "a timed retry loop making calls was reported as stalled";
}

// One call of a retry loop that does not return (a try that livelocks inside the ring,
// a timed wait that outlives its deadline) is a stall.
TEST(StressLiveness, ARetryLoopCallThatDoesNotReturnIsAStall) {
  for (const CallKind kind : {CallKind::try_loop, CallKind::timed_loop}) {
    Watch watch;
    watch.consumer().enter(kind);
    int calls = 0;
    // 100 ms of calls, then one that never returns.
    const auto stall = watch.run_for(3s, [&] {
      if (++calls <= 20) watch.consumer().count_call();
    });
    ASSERT_TRUE(stall.has_value()) << "a retry loop stuck in one call was not reported";
    EXPECT_EQ(stall->role, Role::consumer);
    EXPECT_EQ(stall->kind, kind);
  }
}

// Two rings, for operations that wait on several (a select) or on one of several: at
// every sample ring 0 is empty and ring 1 holds items; both have free slots. Threads
// sleep as Watch::asleep and Watch::runnable say.
class TwoRings {
 public:
  TwoRings() {
    Watch::asleep = true;
    Watch::runnable = nullptr;
  }
  ThreadLiveness& consumer() { return threads_[1]; }
  ThreadLiveness& other_consumer() { return threads_[2]; }
  bool wake_in_flight[2] = {false, false};  // on ring 0's and ring 1's consumers' word

  std::optional<ThreadStall> run_for(Clock::duration span) {
    for (const Clock::time_point end = now_ + span; now_ < end;) {
      now_ += 5ms;
      const RingSample rings[2] = {{now_, false, true, wake_in_flight[0], false},
                                   {now_, true, true, wake_in_flight[1], false}};
      if (auto stall = detector_.observe(rings)) return stall;
    }
    return std::nullopt;
  }

 private:
  std::vector<ThreadLiveness> threads_ = std::vector<ThreadLiveness>(3);
  StallDetector detector_{threads_, 1, 500ms, [](const ThreadLiveness& thread) {
                            return &thread == Watch::runnable ? false : Watch::asleep;
                          }};
  Clock::time_point now_{};
};

constexpr std::uint32_t kRing0 = 1u, kRing1 = 2u;

TEST(StressLiveness, ASelectAsleepBesideItemsInOneOfItsRingsIsAStall) {
  TwoRings watch;
  watch.consumer().enter(CallKind::blocking, kRing0 | kRing1);
  const auto stall = watch.run_for(2s);
  ASSERT_TRUE(stall.has_value()) << "a select parked for 2 s beside items in one of its rings was not reported";
  EXPECT_EQ(stall->role, Role::consumer);
}

TEST(StressLiveness, AConsumerOfAnEmptyRingIsNoStallBesideItemsInAnother) {
  TwoRings watch;
  watch.consumer().enter(CallKind::blocking, kRing0);
  EXPECT_FALSE(watch.run_for(2s).has_value()) << "the items of a ring it does not pop were counted as its work";
}

// A select left with its event case alone (every ring closed and drained) waits on no ring.
TEST(StressLiveness, AnOperationOnNoRingIsNoStall) {
  TwoRings watch;
  watch.consumer().enter(CallKind::blocking, 0u);
  EXPECT_FALSE(watch.run_for(2s).has_value());
}

// A wake on its way on ring 1, held by a runnable select that waits on ring 1 too:
// the relay reaches ring 1's sleepers once it runs; the window pauses.
TEST(StressLiveness, AWakeHeldByARunnableThreadOfTheSameRingPausesTheWindow) {
  TwoRings watch;
  watch.consumer().enter(CallKind::blocking, kRing1);
  watch.other_consumer().enter(CallKind::blocking, kRing0 | kRing1);
  Watch::runnable = &watch.other_consumer();
  watch.wake_in_flight[1] = true;
  EXPECT_FALSE(watch.run_for(2s).has_value()) << "a sleeper waiting for the relay was reported";
}

// A wake on its way on ring 0, held by a runnable consumer of ring 0: nothing it can
// relay reaches a sleeper that waits on ring 1 alone, whose window goes on.
TEST(StressLiveness, AWakeOnAnotherRingPausesNothing) {
  TwoRings watch;
  watch.consumer().enter(CallKind::blocking, kRing1);
  watch.other_consumer().enter(CallKind::blocking, kRing0);
  Watch::runnable = &watch.other_consumer();
  watch.wake_in_flight[0] = true;
  const auto stall = watch.run_for(2s);
  ASSERT_TRUE(stall.has_value()) << "a wake on another ring paused the window of ring 1's sleeper";
  EXPECT_EQ(stall->index, 0);
}

}  // namespace
}  // namespace stress
