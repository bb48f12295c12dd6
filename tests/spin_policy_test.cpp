// SPDX-License-Identifier: MIT
// The spin policy (fev/spin.hpp) against its promises, on a fake clock that advances by
// a fixed cost per poll and per yield: everything a wait does before it parks fits in
// its budget and ends by its deadline, a zero budget parks at once, a new thread starts
// from what the process learned, and the per-call and per-ring options reach the policy.
// No duration is measured on the real clock.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

#include "fev/event.hpp"
#include "fev/ring.hpp"
#include "fev/ring_access.hpp"
#include "fev/spin.hpp"
#include "test_backends.hpp"

namespace {

using namespace std::chrono_literals;
using std::chrono::nanoseconds;
using TimePoint = std::chrono::steady_clock::time_point;

// A clock that moves only when the policy polls or yields, counting what it does.
// Thread-local: each test thread has its own.
struct FakeClock {
  static inline thread_local TimePoint time = TimePoint{} + 1h;
  static inline thread_local nanoseconds poll_cost{25};
  static inline thread_local nanoseconds yield_cost{1000};
  static inline thread_local int polls = 0;
  static inline thread_local int yields = 0;
  static inline thread_local int reads = 0;
  static TimePoint now() noexcept {
    ++reads;
    return time;
  }
  static void relax() noexcept {
    ++polls;
    time += poll_cost;
  }
  static void yield() noexcept {
    ++yields;
    time += yield_cost;
  }
  static void reset_counts() { polls = yields = reads = 0; }
};

// Sets the process defaults for one test and restores them.
class Limits {
 public:
  Limits(nanoseconds spin, nanoseconds after_wake)
      : spin_(fev::spin_limit()), after_wake_(fev::spin_after_wake_limit()) {
    fev::set_spin_limit(spin);
    fev::set_spin_after_wake_limit(after_wake);
  }
  ~Limits() {
    fev::set_spin_limit(spin_);
    fev::set_spin_after_wake_limit(after_wake_);
  }
  Limits(const Limits&) = delete;
  Limits& operator=(const Limits&) = delete;

 private:
  nanoseconds spin_;
  nanoseconds after_wake_;
};

// One wait on the fake clock that nothing answers; returns how long it took, from its
// first check to its return. `checks` counts calls of the condition.
nanoseconds unanswered_wait(fev::Deadline deadline = fev::Deadline::max(), const fev::WaitOptions& options = {},
                            int* checks = nullptr) {
  const TimePoint start = FakeClock::time;
  int calls = 0;
  EXPECT_FALSE(fev::detail::spin_until<FakeClock>([&] { return ++calls, false; }, deadline,
                                                  fev::detail::RingSide::none, options));
  if (checks != nullptr) *checks = calls;
  return FakeClock::time - start;
}

// Makes this thread measure the fake clock's cost of a poll instead of the estimate it
// started from, which may be another thread's from another test: waits answered by
// their 41st check (after at least one full batch of polls, which is measured), one
// probe's worth of them (a probe polls whatever the rates say). Polls pay afterwards.
template <class Clock = FakeClock>
void learn_poll_cost() {
  for (std::uint32_t wait = 0; wait < fev::detail::kProbeInterval + 8; ++wait) {
    int calls = 0;
    (void)fev::detail::spin_until<Clock>([&] { return ++calls > 40; }, fev::Deadline::max(), fev::detail::RingSide::none,
                                         fev::WaitOptions{.spin = 100us, .spin_after_wake = -1ns});
  }
}

// A zero budget parks at once: one check, no poll, no yield, not even a clock read;
// after a wake too, and whether it comes from the process default or the call.
TEST(SpinPolicy, AZeroBudgetParksAtOnce) {
  const auto check = [](const fev::WaitOptions& options) {
    std::thread([&] {
      for (int wait = 0; wait < 40; ++wait) {
        if (wait % 3 == 0) fev::detail::note_woke_peer();
        FakeClock::reset_counts();
        int checks = 0;
        const fev::Deadline deadline = wait % 2 == 0 ? fev::Deadline::max() : FakeClock::time + 1s;
        EXPECT_EQ(unanswered_wait(deadline, options, &checks), 0ns);
        EXPECT_EQ(checks, 1);
        EXPECT_EQ(FakeClock::polls, 0);
        EXPECT_EQ(FakeClock::yields, 0);
        EXPECT_EQ(FakeClock::reads, 0);
      }
    }).join();
  };
  {
    const Limits limits(0ns, 64us);
    check({});
  }
  const Limits limits(4us, 64us);
  check(fev::WaitOptions{.spin = 0ns, .spin_after_wake = -1ns});
  check(fev::WaitOptions{.spin = 0ns, .spin_after_wake = 1s});
}

// The bound, for every rule: whatever the cost of a poll and of a yield, a wait (plain,
// right after a wake, timed) never runs past its budget or its deadline. A thread's
// estimates come from what it measured, so its first wait, and a probe that tries a yield
// again after the estimate was halved, may overrun by one yield; nothing else may.
TEST(SpinPolicy, EveryWaitEndsWithinItsBudgetAndDeadline) {
  const Limits limits(4us, 64us);
  for (const nanoseconds poll : {10ns, 40ns, 150ns, 450ns}) {
    for (const nanoseconds yield : {300ns, nanoseconds{2us}, nanoseconds{3ms}}) {
      for (const nanoseconds spin : {100ns, nanoseconds{4us}, nanoseconds{50us}}) {
        std::thread([&] {
          SCOPED_TRACE("poll " + std::to_string(poll.count()) + " ns, yield " + std::to_string(yield.count()) +
                       " ns, spin " + std::to_string(spin.count()) + " ns");
          FakeClock::poll_cost = poll;
          FakeClock::yield_cost = yield;
          const fev::WaitOptions options{.spin = spin, .spin_after_wake = -1ns};
          const nanoseconds after_wake_budget = std::max(spin, fev::spin_after_wake_limit());
          learn_poll_cost();
          fev::detail::note_woke_peer();
          (void)unanswered_wait(fev::Deadline::max(), options);  // learns the cost of a yield
          int waits = 0;
          int overruns = 0;
          for (int round = 0; round < 300; ++round) {
            const bool woke = round % 5 == 0;
            if (woke) fev::detail::note_woke_peer();
            const bool timed = round % 3 == 1;
            const nanoseconds to_deadline = round % 2 == 0 ? 700ns : 30us;
            const fev::Deadline deadline = timed ? FakeClock::time + to_deadline : fev::Deadline::max();
            nanoseconds bound = woke ? after_wake_budget : spin;
            if (timed) bound = std::min(bound, to_deadline);
            FakeClock::reset_counts();
            const nanoseconds took = unanswered_wait(deadline, options);
            ++waits;
            if (took > bound) {
              ++overruns;
              EXPECT_LE(took, bound + yield) << "overran by more than one yield, round " << round;
              EXPECT_GE(FakeClock::yields, 1) << "only a yield may overrun, round " << round;
            }
            // The clock is read once per batch of polls (up to kMaxPollsPerClockRead of them,
            // with a few smaller batches as it starts and ends) and once per yield.
            EXPECT_LE(FakeClock::reads, 1 + FakeClock::yields + 10 +
                                            FakeClock::polls / static_cast<int>(fev::detail::kMaxPollsPerClockRead))
                << "round " << round;
          }
          // A probe every kProbeInterval waits; an estimate halved there may let one yield
          // overrun (the bound allows one per 32 waits, and one more).
          EXPECT_LE(overruns, waits / 32 + 1);
        }).join();
      }
    }
  }
}

// A yield that takes longer than the budget has left (a CPU hog shares this CPU) is not
// started again: after such yields, the waits that follow park instead, except at the
// probes, where the halved estimate may allow one more.
TEST(SpinPolicy, ALongYieldIsNotRepeated) {
  const Limits limits(4us, 64us);
  std::thread([] {
    FakeClock::poll_cost = 40ns;
    FakeClock::yield_cost = 3ms;
    int long_waits = 0;
    for (int wait = 0; wait < 300; ++wait) {
      if (unanswered_wait() > 1ms) ++long_waits;
    }
    // A typical cost grows at most 4x per stretched yield: a few to learn, then one per
    // probe.
    EXPECT_LE(long_waits, 6 + 300 / static_cast<int>(fev::detail::kProbeInterval));
  }).join();
}

// A timed wait never yields, however well yields have been paying: one yield can last a
// CPU hog's whole time slice and end past the deadline. It parks with its timeout.
TEST(SpinPolicy, ATimedWaitNeverYields) {
  const Limits limits(4us, 64us);
  std::thread([] {
    FakeClock::poll_cost = 40ns;
    FakeClock::yield_cost = 300ns;
    for (int wait = 0; wait < 40; ++wait) {  // untimed waits answered by their second yield
      FakeClock::reset_counts();
      (void)fev::detail::spin_until<FakeClock>([] { return FakeClock::yields >= 2; }, fev::Deadline::max());
    }
    for (int wait = 0; wait < 300; ++wait) {
      if (wait % 7 == 0) fev::detail::note_woke_peer();
      FakeClock::reset_counts();
      (void)unanswered_wait(FakeClock::time + 10ms);
      EXPECT_EQ(FakeClock::yields, 0) << "wait " << wait;
    }
  }).join();
}

// Beside a CPU hog a yield gives the CPU away for the hog's time slice, and the answer is
// usually there when it comes back: such a yield ended the wait, but only long past its
// budget. It must not count as a yield that paid, and its length must be learned, so
// that later waits stop yielding (they park, and the wake comes in microseconds).
TEST(SpinPolicy, AYieldThatAnswersOnlyAfterAHogsSliceIsNotRepeated) {
  const Limits limits(4us, 64us);
  std::thread([] {
    FakeClock::poll_cost = 40ns;
    FakeClock::yield_cost = 300ns;
    for (int wait = 0; wait < 40; ++wait) {  // yields pay: answered by the first yield
      FakeClock::reset_counts();
      (void)fev::detail::spin_until<FakeClock>([] { return FakeClock::yields >= 1; }, fev::Deadline::max());
    }
    FakeClock::yield_cost = 3ms;  // a hog arrives; each yield still finds the answer
    int yielding_waits = 0;
    for (int wait = 0; wait < 300; ++wait) {
      if (wait % 7 == 0) fev::detail::note_woke_peer();
      FakeClock::reset_counts();
      (void)fev::detail::spin_until<FakeClock>([] { return FakeClock::yields >= 1; }, fev::Deadline::max());
      if (FakeClock::yields > 0) ++yielding_waits;
    }
    // A few while the typical cost catches up (each long yield moves it by up to 4x),
    // and at most one per probe.
    EXPECT_LE(yielding_waits, 12);
  }).join();
}

// A new thread's first waits start from what the process's threads learned: after a
// thread found that neither polls nor yields pay, a new thread's first wait parks after
// one check: no polls, no yields.
TEST(SpinPolicy, ANewThreadStartsFromWhatTheProcessLearned) {
  const Limits limits(4us, 64us);
  std::thread([] {
    FakeClock::poll_cost = 40ns;
    FakeClock::yield_cost = 3ms;
    learn_poll_cost();
    for (std::uint32_t wait = 0; wait < fev::detail::kProbeInterval + 8; ++wait) (void)unanswered_wait();
  }).join();
  for (int fresh = 0; fresh < 5; ++fresh) {
    std::thread([] {
      FakeClock::poll_cost = 40ns;
      FakeClock::yield_cost = 3ms;
      FakeClock::reset_counts();
      (void)unanswered_wait();
      EXPECT_EQ(FakeClock::polls, 0) << "not even the polls before the plan";
      EXPECT_EQ(FakeClock::yields, 0);
    }).join();
  }
  // And the other way: after a thread found (at its probe) that polls pay again, a new
  // thread polls.
  std::thread([] {
    FakeClock::poll_cost = 40ns;
    for (std::uint32_t wait = 0; wait < fev::detail::kProbeInterval + 8; ++wait) {
      int calls = 0;
      (void)fev::detail::spin_until<FakeClock>([&] { return ++calls > 8; }, fev::Deadline::max());
    }
    int calls = 0;
    EXPECT_TRUE(fev::detail::spin_until<FakeClock>([&] { return ++calls > 8; }, fev::Deadline::max()));
  }).join();
  std::thread([] {
    FakeClock::poll_cost = 40ns;
    FakeClock::reset_counts();
    (void)unanswered_wait();
    EXPECT_GT(FakeClock::polls, static_cast<int>(fev::detail::kPollsBeforePlan));
  }).join();
}

// A thread whose polls stopped paying parks at once, except right after it woke a
// parked thread, which is about to answer: then it yields for up to the after-wake
// budget. Without that two threads that each learned "polls do not pay" would keep
// parking and waking each other (ping-pong across two CPUs stuck at futex speed).
TEST(SpinPolicy, YieldsAfterWakingAPeerEvenWhenPollsStoppedPaying) {
  const Limits limits(4us, 64us);
  std::thread([] {
    FakeClock::poll_cost = 40ns;
    FakeClock::yield_cost = 500ns;
    // Learns what a yield costs here (the estimate it started from may be another
    // thread's, which yielded beside a CPU hog), and that waits after a wake pay: waits
    // after a wake, with room for yields, answered after their third yield.
    for (int wait = 0; wait < 20; ++wait) {
      fev::detail::note_woke_peer();
      FakeClock::reset_counts();
      (void)fev::detail::spin_until<FakeClock>([] { return FakeClock::yields >= 3; }, fev::Deadline::max(),
                                               fev::detail::RingSide::none,
                                               fev::WaitOptions{.spin = 4us, .spin_after_wake = 10ms});
    }
    for (int wait = 0; wait < 40; ++wait) (void)unanswered_wait();
    FakeClock::reset_counts();
    (void)unanswered_wait();
    EXPECT_EQ(FakeClock::polls, 0) << "polls stopped paying";
    fev::detail::note_woke_peer();
    FakeClock::reset_counts();
    const nanoseconds took = unanswered_wait();
    EXPECT_GT(FakeClock::yields, 0) << "after a wake it yields";
    EXPECT_GT(took, fev::spin_limit()) << "past the plain budget";
    EXPECT_LE(took, fev::spin_after_wake_limit());
  }).join();
}

// An untimed wait polls a few times before it plans (no clock read while a fast answer
// is on its way), and a wait answered there answers the wake before it.
TEST(SpinPolicy, AWaitAnsweredBeforeItsPlanUsesUpTheWake) {
  const Limits limits(4us, 64us);
  std::thread([] {
    learn_poll_cost();
    fev::detail::note_woke_peer();
    int checks = 0;
    FakeClock::reset_counts();
    EXPECT_TRUE(fev::detail::spin_until<FakeClock>([&] { return ++checks == 2; }, fev::Deadline::max()));
    EXPECT_EQ(checks, 2) << "answered by the first poll";
    EXPECT_EQ(FakeClock::reads, 0);
    const fev::detail::SpinPlan plan =
        fev::detail::begin_spin(std::chrono::steady_clock::now(), fev::Deadline::max(), fev::detail::RingSide::none, {}, 0);
    EXPECT_FALSE(plan.after_wake) << "the wake was answered before the plan";
    fev::detail::end_spin(plan, {});
  }).join();
}

// A timed wait makes no polls beyond what its plan allows: with the deadline passed,
// only the first check.
TEST(SpinPolicy, APassedDeadlineGetsOneCheck) {
  const Limits limits(4us, 64us);
  int checks = 0;
  EXPECT_FALSE(fev::detail::spin_until([&] { return ++checks > 100; }, std::chrono::steady_clock::now() - 1s));
  EXPECT_EQ(checks, 1);
}

// Waits until a thread sleeps on the ring's consumers' (`consumers`) or producers' word.
template <class Ring>
void until_someone_sleeps_on(Ring& ring, bool consumers) {
  auto& word = consumers ? fev::detail::RingAccess::consumers_word(ring) : fev::detail::RingAccess::producers_word(ring);
  // relaxed: a test's poll of the sleeper count.
  while (!(word.load(std::memory_order_relaxed) & fev::detail::RingAccess::kSleepersMask)) std::this_thread::yield();
}

fev::detail::SpinPlan answered_plan_for(fev::detail::RingSide side) {
  const fev::detail::SpinPlan plan =
      fev::detail::begin_spin(std::chrono::steady_clock::now(), fev::Deadline::max(), side, {}, 0);
  fev::detail::SpinOutcome answered;
  answered.done = true;
  answered.polls = 1;
  fev::detail::end_spin(plan, answered);
  return plan;
}

// A ring's wake (a push that wakes a parked consumer) does not make the pusher's next
// wait an after-wake wait unless that wait is for room in a ring: the woken consumer
// answers no Event, and in a worker pool the extra polling would only burn CPU.
TEST(SpinPolicy, ARingWakeIsNotAnAnswerToWaitFor) {
  const Limits limits(4us, 64us);
  std::thread([] {
    fev::Ring<int> ring(4);
    std::thread consumer([&] { EXPECT_EQ(ring.pop(), std::optional<int>(1)); });
    until_someone_sleeps_on(ring, true);
    ASSERT_TRUE(ring.push(1));  // wakes the parked consumer
    consumer.join();
    EXPECT_FALSE(answered_plan_for(fev::detail::RingSide::none).after_wake);
  }).join();
}

// A thread that woke the other side of a ring and then waits on its own side (a push
// waiting for room after it woke a consumer, a pop waiting for values after it woke a
// producer) waits for the woken thread's answer the way a waiter does after an Event's
// wake. Without this, two threads streaming through a ring at full speed fell into
// parking and waking each other on every lap (measured at 1P1C: thousands of parks per
// 4M items instead of tens, and about a third less throughput in the median). Once per
// wake; a wait on the side that was woken does not count.
TEST(SpinPolicy, AfterWakingTheOtherSideOfARingWaitsForItsAnswer) {
  const Limits limits(4us, 64us);
  std::thread([] {
    fev::Ring<int> ring(1);
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
    using fev::detail::RingSide;
    push_waking_a_consumer();
    const fev::detail::SpinPlan plan = answered_plan_for(RingSide::producers);
    EXPECT_TRUE(plan.after_wake) << "a push woke a consumer: the next wait for room waits for its answer";
    EXPECT_EQ(plan.end - plan.start, fev::spin_after_wake_limit());
    EXPECT_FALSE(answered_plan_for(RingSide::producers).after_wake) << "once per wake";

    push_waking_a_consumer();
    EXPECT_FALSE(answered_plan_for(RingSide::consumers).after_wake) << "woke consumers, waits as one";

    pop_waking_a_producer();
    EXPECT_TRUE(answered_plan_for(RingSide::consumers).after_wake) << "a pop woke a producer: the next wait for values waits";
    pop_waking_a_producer();
    EXPECT_FALSE(answered_plan_for(RingSide::producers).after_wake) << "woke producers, waits as one";
  }).join();
}

// Counts the waits that park with more than a millisecond left before their deadline.
struct Counting {
  static inline std::atomic<int> waits{0};
  static void reset() { waits = 0; }
  static fev::WaitResult wait(const std::atomic<std::uint32_t>& word, std::uint32_t expected,
                              fev::Deadline deadline) noexcept {
    if (deadline - std::chrono::steady_clock::now() > 1ms) ++waits;
    return fev::DefaultWait::wait(word, expected, deadline);
  }
  static void wake_one(const std::atomic<std::uint32_t>& word) noexcept { fev::DefaultWait::wake_one(word); }
  static void wake_all(const std::atomic<std::uint32_t>& word) noexcept { fev::DefaultWait::wake_all(word); }
};

// The options reach the policy. A budget longer than the timeout polls until (one poll
// before) the deadline and does not park early; a zero budget parks at once.
// (Polls must pay on this thread for a wait to poll at all: they are made to, first.)
TEST(SpinPolicy, PerCallOptionsReachEventWaits) {
  learn_poll_cost<fev::detail::SteadySpinClock>();
  fev::BasicEvent<Counting> event;
  Counting::reset();
  EXPECT_FALSE(event.wait_for(20ms, fev::WaitOptions{.spin = 1h, .spin_after_wake = -1ns}));
  EXPECT_EQ(Counting::waits.load(), 0) << "polled until the deadline, did not park early";

  fev::BasicAutoResetEvent<Counting> auto_reset;
  learn_poll_cost<fev::detail::SteadySpinClock>();
  EXPECT_FALSE(auto_reset.wait_for(20ms, fev::WaitOptions{.spin = 1h, .spin_after_wake = -1ns}));
  EXPECT_EQ(Counting::waits.load(), 0) << "polled until the deadline, did not park early";

  // A new event: the timed-out wait above may have left its parked bit behind.
  fev::BasicEvent<Counting> parked_on;
  std::thread setter([&] {
    // relaxed: a test's poll for the parked bit.
    while (!(parked_on.word().load(std::memory_order_relaxed) & fev::detail::EventBits::kParked))
      std::this_thread::yield();
    parked_on.set();
  });
  parked_on.wait(fev::WaitOptions{.spin = 0ns, .spin_after_wake = -1ns});
  setter.join();
  EXPECT_GE(Counting::waits.load(), 1) << "parked";
}

TEST(SpinPolicy, PerRingOptionsReachItsWaits) {
  {
    fev::BasicRing<int, Counting> ring(2, fev::WaitOptions{.spin = 1h, .spin_after_wake = -1ns});
    Counting::reset();
    int value = 0;
    learn_poll_cost<fev::detail::SteadySpinClock>();
    EXPECT_EQ(ring.pop_for(value, 20ms), fev::Status::timeout);
    ASSERT_TRUE(ring.try_push(1));
    ASSERT_TRUE(ring.try_push(2));
    learn_poll_cost<fev::detail::SteadySpinClock>();
    EXPECT_EQ(ring.push_for(3, 20ms), fev::Status::timeout);
    EXPECT_EQ(Counting::waits.load(), 0) << "polled until the deadline, did not park early";
  }
  // A ring that never polls parks, and the push that follows wakes it. (That it made no
  // poll before parking is AZeroBudgetParksAtOnce's, on the fake clock; a consumer that
  // registers can also find the value in its re-check, so the push waits for the park.)
  fev::BasicRing<int, Counting> ring(2, fev::WaitOptions{.spin = 0ns, .spin_after_wake = -1ns});
  Counting::reset();
  std::thread producer([&] {
    while (Counting::waits.load() == 0) std::this_thread::yield();
    EXPECT_TRUE(ring.push(7));
  });
  int value = 0;
  EXPECT_TRUE(ring.pop(value));
  EXPECT_EQ(value, 7);
  producer.join();
  EXPECT_GE(Counting::waits.load(), 1) << "parked";
}

}  // namespace
