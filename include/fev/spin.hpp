// SPDX-License-Identifier: MIT
// fev/spin.hpp — what every blocking fev operation does before it parks.
//
// One bound: everything a wait does before it parks fits in its budget (fev::WaitOptions:
// `spin`, fev::spin_limit() by default; `spin_after_wake` for the first wait after this
// thread woke a parked thread, while such waits pay), counted from its first poll, and
// ends at the caller's deadline if that comes first. A budget of zero parks at once. The
// plan's end is fixed before the first poll; a batch of polls starts only if it fits
// before that end at the cost per poll just measured, and a sched_yield() only in an
// untimed wait and only if this thread's typical yield fits before that end (a yield
// can last a CPU hog's whole time slice: a timed wait parks with its timeout instead).
// The wait path makes no syscall except the backend's wait, sched_yield() and
// steady_clock reads.
//
// Within the budget, three rules, each learned per thread from its recent waits (a
// success rate over about the last eight):
//  1. Poll with the pause instruction for up to `spin` while recent pause spins ended
//     their waits; none once about ten in a row did not (the releaser shares this CPU, or
//     items are far apart). Every kProbeInterval-th wait polls anyway, to relearn.
//  2. Then, in an untimed wait, sched_yield() while recent yields ended waits (two
//     threads sharing one CPU, a CPU quota) or the wait is a probe, and the yield fits
//     in what is left.
//  3. The first wait after this thread woke a parked thread polls (if polls pay) and then
//     yields for up to `spin_after_wake` (every kAfterWakeProbeInterval-th such wait, and
//     every one while they pay; otherwise its budget is `spin`).
// A new thread starts from the rates the process's threads last reported, not from
// "spins pay". An untimed wait whose polls pay polls kPollsBeforePlan times before it
// reads the clock to plan (a ping-pong's answer lands within them); those polls count in
// its budget.
// Event, AutoResetEvent, Ring and wait_any/wait_all all spin through spin_until(); none
// keeps a policy of its own.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>

#include "fev/wait.hpp"

namespace fev::detail {

// What one wait may do, decided from the thread's history (src/spin.cpp). Every time is
// on the clock of the SpinClock that spin_until runs with.
struct SpinPlan {
  std::chrono::steady_clock::time_point start;      // the first poll (clock read minus the polls before it)
  std::chrono::steady_clock::time_point pause_end;  // pause-poll until here (<= end)
  std::chrono::steady_clock::time_point end;        // nothing after here: min(start + budget, deadline)
  std::chrono::nanoseconds poll_cost;   // this thread's last measured cost of one poll (0: unknown)
  std::chrono::nanoseconds yield_cost;  // a yield starts only with this much left before `end`
  bool pause;       // rule 1: poll with pause until pause_end
  bool yields;      // rule 2 or 3: yield while each yield fits before end
  bool probe;       // a periodic wait that relearns the rates
  bool after_wake;  // rule 3's budget is in force
};

// How it went.
struct SpinOutcome {
  bool done = false;      // the condition held before the plan ended
  bool by_yield = false;  // it was first seen after a yield
  bool late = false;      // ... and that yield ended past the plan's end (it did not pay)
  std::uint32_t polls = 0;   // pause polls made under the plan
  std::uint32_t yields = 0;  // yields made
  std::chrono::nanoseconds longest_yield{0};
  std::chrono::nanoseconds poll_cost{0};  // measured cost of one poll (0: not measured)
};

// Which side of a ring a thread waits as, or woke: producers wait for room, consumers
// for values. `none`: not a ring wait (an Event, a wait_any).
enum class RingSide : std::uint8_t { none, producers, consumers };

// Every kProbeInterval-th wait of a thread polls (for half its budget, if polls have not
// been paying) and yields as if both paid, so that a thread whose situation changed
// finds out. 128: one probe's 2-4 us stays under 1% of a one-CPU ping-pong's round trips
// (32 put 3% of them, a p99, at 4.5 us instead of 2.5 us).
inline constexpr std::uint32_t kProbeInterval = 128;

// Polls of an untimed wait before it plans (see above): at about 25 ns a pause, they
// cover a fast answer's 50-100 ns without a clock read.
inline constexpr std::uint32_t kPollsBeforePlan = 4;
// The most one poll (a pause instruction, the caller's check, a share of a clock read)
// is taken to cost: pause latencies run from a few to about 150 cycles, so a batch that
// measured more was preempted, and measured the preemption.
inline constexpr std::chrono::nanoseconds kMaxPollCost{500};

// Most polls between two clock reads: the clock read (about 20 ns) stays a small part
// of a batch, and a batch stays short next to a budget of microseconds.
inline constexpr std::uint32_t kMaxPollsPerClockRead = 16;

// The budget of a plain wait with `options`, the process default filled in.
std::chrono::nanoseconds spin_budget(const WaitOptions& options) noexcept;
// How many polls an untimed wait with `budget` makes before it plans: kPollsBeforePlan,
// fewer where this thread measured that they would not fit in the budget, none while
// its polls do not pay (rule 1) unless it has just woken a parked thread (rule 3).
std::uint32_t polls_before_plan(std::chrono::nanoseconds budget) noexcept;

// `now`: the clock read right after `polls_made` polls before the plan.
SpinPlan begin_spin(std::chrono::steady_clock::time_point now, Deadline deadline, RingSide waiting,
                    const WaitOptions& options, std::uint32_t polls_made) noexcept;
void end_spin(const SpinPlan& plan, const SpinOutcome& outcome) noexcept;
void yield_cpu() noexcept;
// Called by Event::set() and AutoResetEvent::set() after they woke a parked thread:
// this thread's next wait is planned under rule 3. The Ring calls note_woke_ring_side()
// instead: its woken thread answers only the other side.
void note_woke_peer() noexcept;
// Called by a ring's push that woke a parked consumer (`woken` = consumers), or a pop
// that woke a parked producer (producers). This thread's next wait on the other side of
// a ring (a push waiting for room after it woke a consumer; a pop waiting for values
// after it woke a producer) is planned under rule 3: at peak the two sides otherwise fall
// into parking and waking each other on every lap of the ring. Relays (a consumer waking
// the next consumer) do not count, nor does a wake followed by a wait on the same side.
void note_woke_ring_side(RingSide woken) noexcept;
// A wait answered within the polls before its plan: the wake it followed (note_woke_peer,
// note_woke_ring_side) is answered too, as if a planned spin had ended it.
void answered_before_plan(RingSide waiting) noexcept;

// The real clock, pause and yield. Tests substitute a clock that advances by a fixed
// cost per poll and per yield, to count what a plan does against its budget.
struct SteadySpinClock {
  static std::chrono::steady_clock::time_point now() noexcept { return std::chrono::steady_clock::now(); }
  static void relax() noexcept { cpu_relax(); }
  static void yield() noexcept { yield_cpu(); }
};

// Calls `done()` until it returns true or the plan for this wait is spent (see above).
// Returns done()'s last answer; false means "park now". Never polls past `deadline`.
// `waiting`: the side of a ring this wait is on (none for every other wait).
template <class Clock = SteadySpinClock, class Done>
bool spin_until(Done&& done, Deadline deadline, RingSide waiting = RingSide::none,
                const WaitOptions& options = {}) noexcept(noexcept(done())) {
  using std::chrono::nanoseconds;
  if (done()) return true;
  const nanoseconds budget = spin_budget(options);
  if (budget <= nanoseconds::zero()) return false;
  std::uint32_t polls_made = 0;
  if (deadline == Deadline::max()) {  // a timed wait polls only as its plan allows
    const std::uint32_t polls = polls_before_plan(budget);
    while (polls_made < polls) {
      Clock::relax();
      ++polls_made;
      if (done()) {
        answered_before_plan(waiting);
        return true;
      }
    }
  }
  auto now = Clock::now();
  const SpinPlan plan = begin_spin(now, deadline, waiting, options, polls_made);
  SpinOutcome outcome;
  if (plan.pause) {
    // Batches of up to kMaxPollsPerClockRead polls between clock reads, each as large as
    // fits before pause_end at the cost per poll last measured (which includes the clock
    // read and done()); none starts when one poll does not fit. A thread that has not
    // measured the cost yet starts with one poll and doubles.
    nanoseconds poll_cost = plan.poll_cost;
    std::uint32_t batch = poll_cost > nanoseconds::zero() ? kMaxPollsPerClockRead : 1;
    for (;;) {
      const nanoseconds left = plan.pause_end - now;
      while (batch > 0 && poll_cost * batch > left) batch /= 2;
      if (batch == 0 || left <= nanoseconds::zero()) break;
      const auto batch_start = now;
      for (std::uint32_t poll = 0; poll < batch && !outcome.done; ++poll) {
        Clock::relax();
        ++outcome.polls;
        outcome.done = done();
      }
      if (outcome.done) break;  // no clock read: the caller's answer waits for nothing more
      now = Clock::now();
      poll_cost = outcome.poll_cost = std::clamp<nanoseconds>((now - batch_start) / batch, nanoseconds{1}, kMaxPollCost);
      batch = std::min(2 * batch, kMaxPollsPerClockRead);
    }
  }
  if (plan.yields) {
    while (!outcome.done && now < plan.end && plan.end - now >= plan.yield_cost) {
      Clock::yield();
      ++outcome.yields;
      outcome.done = outcome.by_yield = done();
      // Measured even when it answered: a yield that gave the CPU to a hog for its time
      // slice and then found the answer must raise the typical cost (and not count as
      // paying), or every later wait would yield for milliseconds again.
      const auto after = Clock::now();
      outcome.longest_yield = std::max<nanoseconds>(outcome.longest_yield, after - now);
      now = after;
      if (outcome.done) {
        outcome.late = now > plan.end;
        break;
      }
    }
  }
  end_spin(plan, outcome);
  return outcome.done;
}

}  // namespace fev::detail
