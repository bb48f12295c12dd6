// SPDX-License-Identifier: MIT
// fev/spin.hpp — the adaptive spin every blocking fev operation does before it parks.
//
// Spinning pays only while the thread that will end the wait runs on another CPU. The
// policy below learns, per thread, from its recent waits (a success rate over about
// the last eight):
//  - an untimed wait first polls a few times without a plan: a fast answer (a
//    ping-pong's, the next value of a busy ring) lands within them, and reading the
//    clock to plan would delay noticing it (none on one CPU, see the last rule);
//  - a pause-instruction spin of fev::spin_limit() (never past the caller's deadline)
//    while recent spins ended their waits; none once about ten in a row did not (the
//    releaser shares this CPU, or items are far apart in a worker pool);
//  - then a couple of sched_yield()s, while recent yields paid (the releasing thread
//    ran on this CPU in the meantime: two threads sharing one CPU, or a CPU quota),
//    none once they stopped paying;
//  - every kProbeInterval-th wait spins and yields the full amount again, so a thread
//    whose situation changed relearns it;
//  - a thread whose Event::set() or AutoResetEvent::set() has just woken a parked
//    thread spins its next wait in any case (so does a ring's pusher that woke a
//    consumer, on its next wait for room, and a popper that woke a producer, on its
//    next wait for values), and
//    then keeps yielding for up to 16 spin limits while such waits pay (every 8th tries
//    anyway): the woken thread needs tens of microseconds to run again, and if its
//    answer finds us still polling, neither thread parks next time. Without this two
//    threads, once one parked, keep parking and waking each other (each wake costs more
//    than any spin lasts);
//  - when every thread of the process may run only on one and the same CPU (the union
//    of their affinity masks), the pause spin is skipped (nothing in the process can
//    change the word while this thread spins). One pinned thread, the main thread
//    included, does not count: the others may run elsewhere.
// Event, AutoResetEvent, Ring and wait_any/wait_all all spin through spin_until(); none
// keeps a policy of its own.
#pragma once

#include <chrono>
#include <cstdint>

#include "fev/wait.hpp"

namespace fev::detail {

// What one spin may do, decided from the thread's history (src/spin.cpp).
struct SpinPlan {
  std::chrono::steady_clock::time_point start;
  std::chrono::nanoseconds pause;  // pause-spin budget (already capped by the deadline)
  std::uint32_t yields;            // sched_yield()s after the pause spin, at least
  std::chrono::nanoseconds yield_for;  // and more, until this long after `start` (0: none)
  bool probe;                      // a periodic full spin that relearns the history
  bool after_wake;                 // the first wait after this thread woke a parked one
};

// How it went: the pause spin ended the wait, or the `yields_used`-th yield did
// (`by_yield`), or neither (`done` false).
struct SpinOutcome {
  bool done;
  bool by_yield;
  std::uint32_t yields_used;
};

// Which side of a ring a thread waits as, or woke: producers wait for room, consumers
// for values. `none`: not a ring wait (an Event, a wait_any).
enum class RingSide : std::uint8_t { none, producers, consumers };

// `waiting`: the side of a ring this wait is on (none for every other wait).
SpinPlan begin_spin(Deadline deadline, RingSide waiting = RingSide::none) noexcept;
void end_spin(const SpinPlan& plan, const SpinOutcome& outcome) noexcept;
void yield_cpu() noexcept;
// Called by Event::set() and AutoResetEvent::set() after they woke a parked thread:
// this thread's next wait spins (the woken thread may answer it), whatever the thread's
// history says, and then polls with yields while that pays. The Ring calls
// note_woke_ring_side() instead: its woken thread answers only the other side.
void note_woke_peer() noexcept;
// Called by a ring's push that woke a parked consumer (`woken` = consumers), or a pop
// that woke a parked producer (producers). This thread's next wait on the other side of
// a ring (a push waiting for room after it woke a consumer; a pop waiting for values
// after it woke a producer) is planned as the wait after an Event's wake is: the woken
// thread is about to drain (fill) the ring and make room (values) for it, and a thread
// that parked meanwhile would be woken tens of microseconds later in turn; at peak the
// two sides otherwise fall into parking and waking each other on every lap of the
// ring. Relays (a consumer waking the next consumer) do not count, nor does a wake
// followed by a wait on the same side (a worker pool's producer never waits for room).
void note_woke_ring_side(RingSide woken) noexcept;

// How many polls an untimed wait makes before it asks for a plan: an answer that lands
// within them (a ping-pong's, the next value of a busy ring: tens of nanoseconds) costs
// the wait no clock read and no bookkeeping, which would otherwise delay noticing it.
// None while the process may run on one CPU only (see above).
int polls_before_plan() noexcept;
// A wait answered within those polls: the wake it followed (note_woke_peer,
// note_woke_ring_side) is answered too, as if the planned spin had ended it.
void answered_before_plan(RingSide waiting) noexcept;

// Calls `done()` until it returns true or the plan's spin and yields are spent, with a
// pause instruction between calls. Returns done()'s last answer. The clock is read once
// per batch of polls, so the bound holds whatever the pause latency is. Never spins past
// `deadline`. `waiting`: as for begin_spin().
template <class Done>
bool spin_until(Done&& done, Deadline deadline, RingSide waiting = RingSide::none) noexcept(noexcept(done())) {
  if (done()) return true;
  if (spin_limit() <= std::chrono::nanoseconds::zero()) return false;
  if (deadline == Deadline::max()) {  // a timed wait spins only as its plan allows
    for (int poll = polls_before_plan(); poll > 0; --poll) {
      cpu_relax();
      if (done()) {
        answered_before_plan(waiting);
        return true;
      }
    }
  }
  const SpinPlan plan = begin_spin(deadline, waiting);
  SpinOutcome outcome{false, false, 0};
  if (plan.pause > std::chrono::nanoseconds::zero()) {
    constexpr int kPollsPerClockRead = 16;
    for (;;) {
      for (int poll = 0; poll < kPollsPerClockRead && !outcome.done; ++poll) {
        cpu_relax();
        outcome.done = done();
      }
      // No clock read once done: the caller's answer waits for nothing more.
      if (outcome.done) break;
      if (std::chrono::steady_clock::now() - plan.start >= plan.pause) break;
    }
  }
  for (std::uint32_t yield = 0; !outcome.done; ++yield) {
    if (yield >= plan.yields &&
        (plan.yield_for <= std::chrono::nanoseconds::zero() || std::chrono::steady_clock::now() - plan.start >= plan.yield_for))
      break;
    if (deadline != Deadline::max() && std::chrono::steady_clock::now() >= deadline) break;
    yield_cpu();
    outcome.yields_used = yield + 1;
    outcome.done = outcome.by_yield = done();
  }
  end_spin(plan, outcome);
  return outcome.done;
}

}  // namespace fev::detail
