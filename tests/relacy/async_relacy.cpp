// SPDX-License-Identifier: MIT
// The async-waiters bit of fev::BasicEvent (include/fev/event.hpp) and fev::async_wait's
// awaitable (include/fev/async_event.hpp), both unmodified, under Relacy's model of the
// C++ memory model. A Relacy thread plays each coroutine: it calls await_ready,
// await_suspend and await_resume as a co_await does, and "resumes" once its executor's
// schedule() has run. The side table is the Relacy-side double in relacy_support.hpp.
// Every schedule must resume every coroutine exactly once, with true, and the coroutine
// must see what the setter wrote before set().
#include "relacy/relacy_std.hpp"

#include "relacy_support.hpp"

#include "fev/async_event.hpp"
#include "fev/event.hpp"

namespace {

using fev::testing::RelacyWait;
using Event = fev::BasicEvent<RelacyWait>;

// schedule() marks the coroutine runnable (release: the call happens-before the
// resumption, as the executor contract asks); a second call is a double resumption.
struct FlagExecutor {
  std::atomic<int>* scheduled;
  void schedule(std::coroutine_handle<>) {
    RL_ASSERT(scheduled->fetch_add(1, std::memory_order_release) == 0);
  }
};

// One co_await fev::async_wait(executor, event[, stop]) on this thread; returns its result.
bool co_await_event(Event& event, std::atomic<int>& scheduled, std::stop_token stop = {}) {
  FlagExecutor executor{&scheduled};
  auto awaiter = fev::async_wait(executor, event, std::move(stop));
  if (!awaiter.await_ready() && awaiter.await_suspend(std::noop_coroutine())) {
    // Suspended: wait for the executor to run the coroutine. acquire: pairs with
    // schedule()'s release.
    while (scheduled.load(std::memory_order_acquire) == 0) rl::yield(1, $);
  }
  return awaiter.await_resume();
}

// set() while a coroutine registers its node and announces it in the word, beside a
// thread waiting on the same event.
struct SetWhileCoroutineRegisters : rl::test_suite<SetWhileCoroutineRegisters, 3> {
  relacy_fev::Globals globals;
  Event event;
  rl::var<int> data;
  std::atomic<int> scheduled{0};
  void before() { data($) = 0; }
  void thread(unsigned index) {
    if (index == 0) {
      data($) = 1;
      event.set();
    } else if (index == 1) {
      RL_ASSERT(co_await_event(event, scheduled));
      RL_ASSERT(data($) == 1);
    } else {
      event.wait();
      RL_ASSERT(data($) == 1);
    }
  }
};

// Two coroutines and pulses: set(), clear(), set(). A set() that took one coroutine's node
// (clearing the bit) must not leave the other's node behind (the lost wakeup
// model/async_event.pml found when a waiter trusted a bit it read before its insert).
struct TwoCoroutinesPulses : rl::test_suite<TwoCoroutinesPulses, 3> {
  relacy_fev::Globals globals;
  Event event;
  rl::var<int> data;
  std::atomic<int> scheduled[2] = {};
  void before() { data($) = 0; }
  void thread(unsigned index) {
    if (index == 0) {
      data($) = 1;
      event.set();
      event.clear();
      event.set();
    } else {
      RL_ASSERT(co_await_event(event, scheduled[index - 1]));
      RL_ASSERT(data($) == 1);
    }
  }
};

// A coroutine and a parked thread on one word: set() takes the coroutine under the
// table's lock and wakes the thread through the parked bit, in one CAS.
struct CoroutineBesideParkedThread : rl::test_suite<CoroutineBesideParkedThread, 3> {
  relacy_fev::Globals globals;
  Event event;
  rl::var<int> data;
  std::atomic<int> scheduled{0};
  void before() { data($) = 0; }
  void thread(unsigned index) {
    if (index == 0) {
      while (!(event.word().load(std::memory_order_relaxed) & fev::detail::EventBits::kParked)) rl::yield(1, $);
      data($) = 1;
      event.set();
    } else if (index == 1) {
      RL_ASSERT(co_await_event(event, scheduled));
      RL_ASSERT(data($) == 1);
    } else {
      event.wait();
      RL_ASSERT(data($) == 1);
    }
  }
};

// co_await with a stop token, racing set() and request_stop(): the coroutine is resumed
// exactly once; true means a set() released it (its data is visible), false that the
// stop came while the event was unset. A stop may cancel the node first and a set()
// come after: the resumed coroutine's re-read of the word then counts it.
struct StopRacesSet : rl::test_suite<StopRacesSet, 3> {
  relacy_fev::Globals globals;
  Event event;
  std::stop_source source;
  rl::var<int> data;
  std::atomic<int> scheduled{0};
  void before() { data($) = 0; }
  void thread(unsigned index) {
    if (index == 0) {
      data($) = 1;
      event.set();
    } else if (index == 1) {
      source.request_stop();
    } else if (co_await_event(event, scheduled, source.get_token())) {
      RL_ASSERT(data($) == 1);
    } else {
      RL_ASSERT(source.stop_requested());
    }
  }
};

// A stop with no set(): the suspended coroutine is resumed once, by the stop, with false.
struct StopResumesCoroutine : rl::test_suite<StopResumesCoroutine, 2> {
  relacy_fev::Globals globals;
  Event event;
  std::stop_source source;
  std::atomic<int> scheduled{0};
  void thread(unsigned index) {
    if (index == 0) {
      source.request_stop();
    } else {
      RL_ASSERT(!co_await_event(event, scheduled, source.get_token()));
    }
  }
};

}  // namespace

int main(int argc, char** argv) {
  relacy_fev::Runner runner(argc, argv);
  runner.run<SetWhileCoroutineRegisters>("async-set-while-coroutine-registers", rl::sched_random, 20000, false);
  runner.run<TwoCoroutinesPulses>("async-two-coroutines-pulses", rl::sched_random, 20000, false);
  runner.run<CoroutineBesideParkedThread>("async-coroutine-beside-parked-thread", rl::sched_random, 20000, true);
  runner.run<SetWhileCoroutineRegisters>("async-set-while-coroutine-registers", rl::sched_bound, 0, false);
  runner.run<StopRacesSet>("async-stop-races-set", rl::sched_random, 20000, false);
  runner.run<StopRacesSet>("async-stop-races-set", rl::sched_bound, 0, false);
  runner.run<StopResumesCoroutine>("async-stop-resumes-coroutine", rl::sched_random, 20000, false);
  return runner.exit_code();
}
