// SPDX-License-Identifier: MIT
// fev::BasicEvent and fev::BasicAutoResetEvent (include/fev/event.hpp, unmodified) under
// Relacy's model of the C++ memory model: every schedule Relacy explores must end with
// each waiter released (Relacy reports a deadlock when all threads are parked), and each
// released waiter must see what its setter wrote before set() (rl::var: Relacy reports
// a data race otherwise).
#include "relacy/relacy_std.hpp"

#include "relacy_support.hpp"

#include "fev/event.hpp"

namespace {

using fev::testing::RelacyWait;
using Event = fev::BasicEvent<RelacyWait>;
using AutoResetEvent = fev::BasicAutoResetEvent<RelacyWait>;
using SharedEvent = fev::BasicEvent<fev::testing::RelacySharedWait>;
constexpr std::uint32_t kParked = fev::detail::EventBits::kParked;

// Waits (by yielding) until a waiter has announced itself parked on `event`.
void await_parked(const Event& event) {
  while (!(event.word().load(std::memory_order_relaxed) & kParked)) rl::yield(1, $);
}

// One set() releases two waiters, one untimed and one timed; both see its data.
struct SetReleasesWaiters : rl::test_suite<SetReleasesWaiters, 3> {
  relacy_fev::Globals globals;
  Event event;
  rl::var<int> data;
  void before() { data($) = 0; }
  void thread(unsigned index) {
    if (index == 0) {
      data($) = 1;
      event.set();
    } else if (index == 1) {
      event.wait();
      RL_ASSERT(data($) == 1);
    } else {
      if (event.wait_for(std::chrono::milliseconds(5))) RL_ASSERT(data($) == 1);
    }
  }
};

// Pulses: set() then clear() at once while a waiter is parked, then set() and clear()
// again, then set(). The parked waiter is released by the first pulse (the generation
// moved); a waiter that comes at any time is released by one of them; all see the data.
struct SetClearPulses : rl::test_suite<SetClearPulses, 3> {
  relacy_fev::Globals globals;
  Event event;
  rl::var<int> data;
  void before() { data($) = 0; }
  void thread(unsigned index) {
    if (index == 0) {
      await_parked(event);
      data($) = 1;
      event.set();
      event.clear();
      event.set();
      event.clear();
      event.set();
    } else {
      event.wait();
      RL_ASSERT(data($) == 1);
    }
  }
};

// A set() racing a clear() and two timed waits: a wait that returns true saw the set()
// (directly, or through the clear()'s RMW) and sees its data.
struct SetClearRace : rl::test_suite<SetClearRace, 3> {
  relacy_fev::Globals globals;
  Event event;
  rl::var<int> data;
  void before() { data($) = 0; }
  void thread(unsigned index) {
    if (index == 0) {
      data($) = 1;
      event.set();
    } else if (index == 1) {
      event.clear();
      if (event.wait_for(std::chrono::milliseconds(1))) RL_ASSERT(data($) == 1);
    } else {
      if (event.wait_until(std::chrono::steady_clock::now() + std::chrono::milliseconds(2)))
        RL_ASSERT(data($) == 1);
    }
  }
};

// is_set() polled until true publishes the setter's data as a wait does.
struct IsSetPublishes : rl::test_suite<IsSetPublishes, 2> {
  relacy_fev::Globals globals;
  Event event;
  rl::var<int> data;
  void before() { data($) = 0; }
  void thread(unsigned index) {
    if (index == 0) {
      data($) = 1;
      event.set();
    } else {
      while (!event.is_set()) rl::yield(1, $);
      RL_ASSERT(data($) == 1);
    }
  }
};

// A timed waiter that times out after parking, beside an untimed one: set() still
// releases the untimed one (the timed one's stale parked bit changes nothing).
struct TimedWaitLeaves : rl::test_suite<TimedWaitLeaves, 3> {
  relacy_fev::Globals globals;
  Event event;
  rl::var<int> data;
  void before() { data($) = 0; }
  void thread(unsigned index) {
    if (index == 0) {
      if (event.wait_for(std::chrono::microseconds(10))) RL_ASSERT(data($) == 1);
    } else if (index == 1) {
      event.wait();
      RL_ASSERT(data($) == 1);
    } else {
      await_parked(event);
      data($) = 1;
      event.set();
    }
  }
};

// AutoResetEvent handoff: thread 0 signals `request` twice, waiting for `reply` after
// each; threads 1 and 2 each take one request and reply. Every signal is taken exactly
// once (a double take lets both pass on one set(): `taken` then races or exceeds `sent`),
// none is lost (a lost one parks everyone), and each taker sees the signaller's writes.
struct AutoResetHandoff : rl::test_suite<AutoResetHandoff, 3> {
  relacy_fev::Globals globals;
  AutoResetEvent request;
  AutoResetEvent reply;
  rl::var<int> sent;
  rl::var<int> taken;
  void before() {
    sent($) = 0;
    taken($) = 0;
  }
  void thread(unsigned index) {
    if (index == 0) {
      for (int i = 1; i <= 2; ++i) {
        sent($) = i;
        request.set();
        reply.wait();
      }
    } else {
      if (index == 1) {
        request.wait();
      } else {
        while (!request.wait_for(std::chrono::microseconds(10))) {
        }
      }
      const int now = taken($) + 1;
      taken($) = now;
      RL_ASSERT(now == sent($));
      reply.set();
    }
  }
  void after() { RL_ASSERT(taken($) == 2); }
};

// wait(std::stop_token) of an Event or AutoResetEvent with no set(): the stop request
// must wake the parked waiter (the Dekker pair of StopGate: either the waiter sees
// `stopped` before it sleeps, or the callback sees `may_sleep` and wakes it), and the
// wait returns false.
template <class AnyEvent>
struct StopWakesParkedWaiter : rl::test_suite<StopWakesParkedWaiter<AnyEvent>, 2> {
  relacy_fev::Globals globals;
  AnyEvent event;
  std::stop_source source;
  void thread(unsigned index) {
    if (index == 0) {
      source.request_stop();
    } else {
      RL_ASSERT(!event.wait(source.get_token()));
      RL_ASSERT(source.stop_requested());
    }
  }
};

// wait(std::stop_token) racing a set() and a stop request: true means the set() released
// the waiter (its data is visible), false that the stop came while the event was unset.
struct StopRacesSet : rl::test_suite<StopRacesSet, 3> {
  relacy_fev::Globals globals;
  Event event;
  std::stop_source source;
  rl::var<int> data;
  void before() { data($) = 0; }
  void thread(unsigned index) {
    if (index == 0) {
      data($) = 1;
      event.set();
    } else if (index == 1) {
      source.request_stop();
    } else if (event.wait(source.get_token())) {
      RL_ASSERT(data($) == 1);
    } else {
      RL_ASSERT(source.stop_requested());
    }
  }
};

// The same on a process-shared word: a set() that finds the parked bit owes a wake
// (kWakeOwed) and the next set() makes it; pulses beside a stoppable and a plain waiter.
struct SharedStopRacesPulses : rl::test_suite<SharedStopRacesPulses, 3> {
  relacy_fev::Globals globals;
  SharedEvent event;
  std::stop_source source;
  rl::var<int> data;
  void before() { data($) = 0; }
  void thread(unsigned index) {
    if (index == 0) {
      data($) = 1;
      event.set();
      event.clear();
      event.set();
      source.request_stop();
    } else if (index == 1) {
      if (event.wait(source.get_token())) RL_ASSERT(data($) == 1);
    } else {
      event.wait();
      RL_ASSERT(data($) == 1);
    }
  }
};

// AutoResetEvent::wait(std::stop_token) racing set() and a stop, beside a parked plain
// waiter: a signal is never lost to the stop. One signal is sent; the stoppable waiter
// passes it on if it took it, so the plain waiter always ends with it (a signal lost to
// the stop parks the plain waiter for good), and none is left pending.
struct AutoResetStopKeepsSignal : rl::test_suite<AutoResetStopKeepsSignal, 4> {
  relacy_fev::Globals globals;
  AutoResetEvent event;
  std::stop_source source;
  rl::var<int> data;
  void before() { data($) = 0; }
  void thread(unsigned index) {
    if (index == 0) {
      data($) = 1;
      event.set();
    } else if (index == 1) {
      source.request_stop();
    } else if (index == 2) {
      if (event.wait(source.get_token())) {
        RL_ASSERT(data($) == 1);
        event.set();
      }
    } else {
      event.wait();
      RL_ASSERT(data($) == 1);
    }
  }
  void after() { RL_ASSERT(!event.try_wait()); }
};

}  // namespace

int main(int argc, char** argv) {
  relacy_fev::Runner runner(argc, argv);
  // Random schedules for every scenario; the context-bound search (every schedule with
  // at most one preemption) where it ends within about a second.
  runner.run<SetReleasesWaiters>("event-set-releases-waiters", rl::sched_random, 20000, true);
  runner.run<SetReleasesWaiters>("event-set-releases-waiters", rl::sched_bound, 0, true);
  runner.run<SetClearPulses>("event-set-clear-pulses", rl::sched_random, 20000, true);
  runner.run<SetClearPulses>("event-set-clear-pulses", rl::sched_bound, 0, true);
  runner.run<SetClearRace>("event-set-clear-race", rl::sched_random, 20000, true);
  runner.run<IsSetPublishes>("event-is-set-publishes", rl::sched_random, 20000, false);
  runner.run<IsSetPublishes>("event-is-set-publishes", rl::sched_bound, 0, false);
  runner.run<TimedWaitLeaves>("event-timed-wait-leaves", rl::sched_random, 20000, true);
  runner.run<TimedWaitLeaves>("event-timed-wait-leaves", rl::sched_bound, 0, true);
  runner.run<AutoResetHandoff>("auto-reset-handoff", rl::sched_random, 20000, true);
  // The stop_token overloads: no spurious wakes, so a stop that does not wake its waiter
  // is a deadlock, never rescued.
  runner.run<StopWakesParkedWaiter<Event>>("event-stop-wakes-parked-waiter", rl::sched_random, 20000, true, 0);
  runner.run<StopWakesParkedWaiter<Event>>("event-stop-wakes-parked-waiter", rl::sched_bound, 0, true);
  runner.run<StopRacesSet>("event-stop-races-set", rl::sched_random, 20000, true, 0);
  runner.run<StopRacesSet>("event-stop-races-set", rl::sched_bound, 0, true);
  runner.run<SharedStopRacesPulses>("event-shared-stop-races-pulses", rl::sched_random, 20000, true, 0);
  runner.run<StopWakesParkedWaiter<AutoResetEvent>>("auto-reset-stop-wakes-parked-waiter", rl::sched_random, 20000, true, 0);
  runner.run<StopWakesParkedWaiter<AutoResetEvent>>("auto-reset-stop-wakes-parked-waiter", rl::sched_bound, 0, true);
  runner.run<AutoResetStopKeepsSignal>("auto-reset-stop-keeps-signal", rl::sched_random, 20000, true, 0);
  return runner.exit_code();
}
