// SPDX-License-Identifier: MIT
// fev::wait_any and fev::wait_all (include/fev/wait_many.hpp and its out-of-line core,
// src/wait_many.cpp, both unmodified) under Relacy's model of the C++ memory model: the
// index returned names an event that was set (or pulsed) during the call, and the waiter
// sees what that event's setter wrote before set() (rl::var: Relacy reports a data race
// otherwise); wait_all returns once every event was set and sees every setter's data.
// The calls take their one-word-at-a-time path (Relacy has no futex_waitv): each park
// announces itself on one word (the CAS Event::wait uses) and sleeps a timed slice.
#include "relacy/relacy_std.hpp"

#include "relacy_support.hpp"

// The core itself, compiled here: src/waitv_live.cpp's answers for a process without
// futex_waitv, and no futex_waitv to call.
#include "wait_many.cpp"

namespace fev::detail {
bool futex_waitv_live() noexcept { return false; }
void note_waitv_unsupported() noexcept {}
WaitvResult waitv_sleep(std::atomic<std::uint32_t>* const*, const std::uint32_t*, std::size_t, bool,
                        Deadline) noexcept {
  RL_ASSERT(!"the one-word-at-a-time path never calls futex_waitv");
  return WaitvResult::unsupported;
}
}  // namespace fev::detail

namespace {

using fev::testing::RelacyWait;
using Event = fev::BasicEvent<RelacyWait>;

// Two setters, each of its own event; one thread waits for any, then for all.
struct AnyThenAll : rl::test_suite<AnyThenAll, 3> {
  relacy_fev::Globals globals;
  Event events[2];
  rl::var<int> data[2];
  void before() {
    data[0]($) = 0;
    data[1]($) = 0;
  }
  void thread(unsigned index) {
    if (index < 2) {
      data[index]($) = 1;
      events[index].set();
    } else {
      const std::size_t first = fev::wait_any(events[0], events[1]);
      RL_ASSERT(first < 2);
      RL_ASSERT(data[first]($) == 1);
      fev::wait_all(events[0], events[1]);
      RL_ASSERT(data[0]($) == 1 && data[1]($) == 1);
    }
  }
};

// A pulse (set() then clear() at once) of the first event, then a set() of the second:
// a waiter that was there for the pulse counts it (the generation moved); any waiter
// returns, and sees the data of the event it names.
struct PulseThenSet : rl::test_suite<PulseThenSet, 2> {
  relacy_fev::Globals globals;
  Event events[2];
  rl::var<int> data[2];
  void before() {
    data[0]($) = 0;
    data[1]($) = 0;
  }
  void thread(unsigned index) {
    if (index == 0) {
      data[0]($) = 1;
      events[0].set();
      events[0].clear();
      data[1]($) = 1;
      events[1].set();
    } else {
      const std::size_t first = fev::wait_any(events[0], events[1]);
      RL_ASSERT(first < 2);
      RL_ASSERT(data[first]($) == 1);
    }
  }
};

// Timed: wait_any_for and wait_all_for that may time out; what they report as set was
// set, with its data visible.
struct TimedAnyAndAll : rl::test_suite<TimedAnyAndAll, 3> {
  relacy_fev::Globals globals;
  Event events[2];
  rl::var<int> data[2];
  void before() {
    data[0]($) = 0;
    data[1]($) = 0;
  }
  void thread(unsigned index) {
    if (index < 2) {
      data[index]($) = 1;
      events[index].set();
    } else {
      if (const std::optional<std::size_t> first =
              fev::wait_any_for(std::chrono::microseconds(100), events[0], events[1])) {
        RL_ASSERT(*first < 2);
        RL_ASSERT(data[*first]($) == 1);
      }
      if (fev::wait_all_for(std::chrono::microseconds(100), events[0], events[1]))
        RL_ASSERT(data[0]($) == 1 && data[1]($) == 1);
    }
  }
};

}  // namespace

int main(int argc, char** argv) {
  relacy_fev::Runner runner(argc, argv);
  runner.run<AnyThenAll>("wait-any-then-all", rl::sched_random, 20000, true);
  runner.run<PulseThenSet>("wait-any-pulse-then-set", rl::sched_random, 20000, true);
  runner.run<PulseThenSet>("wait-any-pulse-then-set", rl::sched_bound, 0, true);
  runner.run<TimedAnyAndAll>("wait-any-timed", rl::sched_random, 20000, true);
  return runner.exit_code();
}
