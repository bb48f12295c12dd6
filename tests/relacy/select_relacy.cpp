// SPDX-License-Identifier: MIT
// fev::select (include/fev/select.hpp, unmodified) under Relacy's model of the C++
// memory model, beside plain consumers of the same rings: exactly one case fires, every
// value is taken exactly once, a value taken by the select carries what its producer
// wrote and an event case what its setter wrote (rl::var: Relacy reports a data race
// otherwise), and no schedule leaves a plain consumer parked for good beside a value.
// The select takes its one-word-at-a-time path here (Relacy has no futex_waitv), whose
// sleeps are timed slices. That path also makes a select that does not relay an unused
// wake rare enough that these random schedules do not find it: the relay is checked by
// model/ring_select.pml (BROKEN_SELECT_NO_RELAY) and tests/select_test.cpp. One
// scenario turns the slices' timeouts off (a select of one ring case, whose only wakes
// are then the ring's own).
#include "relacy/relacy_std.hpp"

#include "relacy_support.hpp"

#include "fev/select.hpp"

// The one sleep over many words needs futex_waitv, which Relacy cannot model: the select
// uses its fallback (src/select.cpp and src/wait_many.cpp's answers on such a process).
namespace fev::detail {
bool futex_waitv_live() noexcept { return false; }
bool select_sleep(std::atomic<std::uint32_t>* const*, const std::uint32_t*, std::size_t, ManyKind,
                  Deadline) noexcept {
  return false;
}
}  // namespace fev::detail

namespace {

using fev::testing::RelacyWait;
using Ring = fev::BasicRing<int, RelacyWait>;
using Event = fev::BasicEvent<RelacyWait>;
constexpr fev::WaitOptions kPark{.spin = std::chrono::nanoseconds{0}};

// A producer pushes 1 into A and 2 into B; a plain consumer pops one value of A; a
// select over A and B takes one value of either. If the select took B's value, A's value
// is the plain consumer's: if the push's wake went to the select and the select did not
// pass it on, the plain consumer parks for good beside it. If the select took A's value,
// the producer pushes 3 into A for the plain consumer.
struct RelayToAPlainConsumer : rl::test_suite<RelayToAPlainConsumer, 3> {
  relacy_fev::Globals globals;
  Ring a{2, kPark};
  Ring b{1, kPark};
  rl::var<int> payload[4];
  std::atomic<int> taken[4];
  std::atomic<int> selected;  // 0 until the select returned, then 1 + the case it fired
  void before() {
    selected.store(0, std::memory_order_relaxed);
    for (int v = 0; v < 4; ++v) {
      payload[v]($) = 0;
      taken[v].store(0, std::memory_order_relaxed);
    }
  }
  void take(int v) {
    RL_ASSERT(v >= 1 && v <= 3);
    RL_ASSERT(payload[v]($) == v * 10);
    taken[v].fetch_add(1, std::memory_order_relaxed);
  }
  void push(Ring& ring, int v) {
    payload[v]($) = v * 10;
    RL_ASSERT(ring.push(int{v}));
  }
  void thread(unsigned index) {
    if (index == 0) {
      push(a, 1);
      push(b, 2);
      int fired = 0;
      while ((fired = selected.load(std::memory_order_acquire)) == 0) rl::yield(1, $);
      if (fired == 1) push(a, 3);  // the select took A's value
    } else if (index == 1) {
      int v = 0;
      RL_ASSERT(a.pop(v));
      take(v);
    } else {
      int from_a = 0, from_b = 0;
      const fev::Selected s = fev::select(fev::on_pop(a, from_a), fev::on_pop(b, from_b));
      RL_ASSERT(s.status == fev::Status::ok);
      take(s.index == 0 ? from_a : from_b);
      selected.store(1 + static_cast<int>(s.index), std::memory_order_release);
    }
  }
  void after() {
    int v = 0;
    while (a.try_pop(v) || b.try_pop(v)) taken[v].fetch_add(1, std::memory_order_relaxed);
    for (int value = 1; value <= 2; ++value) RL_ASSERT(taken[value].load(std::memory_order_relaxed) == 1);
  }
};

// A select of one ring case beside a plain consumer, two producers, capacity 1, with
// no timed slice ever ending: every wake must come from the ring's protocol as the
// select runs it (registration, taking an issued wake over, the re-check, the relay on
// leaving), or a consumer parks for good beside a value.
struct OneRingNoSlices : rl::test_suite<OneRingNoSlices, 4> {
  relacy_fev::Globals globals;
  Ring ring{1, kPark};
  rl::var<int> payload[3];
  std::atomic<int> taken[3];
  void before() {
    relacy_fev::timeouts_off = true;
    for (int v = 0; v < 3; ++v) {
      payload[v]($) = 0;
      taken[v].store(0, std::memory_order_relaxed);
    }
  }
  void take(int v) {
    RL_ASSERT(v >= 1 && v <= 2);
    RL_ASSERT(payload[v]($) == v * 10);
    taken[v].fetch_add(1, std::memory_order_relaxed);
  }
  void thread(unsigned index) {
    if (index < 2) {
      const int v = static_cast<int>(index) + 1;
      payload[v]($) = v * 10;
      RL_ASSERT(ring.push(int{v}));
    } else if (index == 2) {
      int v = 0;
      RL_ASSERT(ring.pop(v));
      take(v);
    } else {
      int v = 0;
      const fev::Selected s = fev::select(fev::on_pop(ring, v));
      RL_ASSERT(s.index == 0 && s.status == fev::Status::ok);
      take(v);
    }
  }
  void after() {
    for (int v = 1; v <= 2; ++v) RL_ASSERT(taken[v].load(std::memory_order_relaxed) == 1);
  }
};

// A select over a ring and an event: a set() ends it with what the setter wrote before
// set() visible; a push ends it with the producer's payload visible; exactly one fires.
struct RingOrEvent : rl::test_suite<RingOrEvent, 3> {
  relacy_fev::Globals globals;
  Ring ring{1, kPark};
  Event event;
  rl::var<int> payload;
  rl::var<int> note;
  void before() {
    payload($) = 0;
    note($) = 0;
  }
  void thread(unsigned index) {
    if (index == 0) {
      payload($) = 5;
      RL_ASSERT(ring.push(5));
    } else if (index == 1) {
      note($) = 7;
      event.set();
    } else {
      int v = 0;
      const fev::Selected s = fev::select(fev::on_pop(ring, v), fev::on_set(event));
      RL_ASSERT(s.status == fev::Status::ok);
      if (s.index == 0) {
        RL_ASSERT(v == 5 && payload($) == 5);
      } else {
        RL_ASSERT(note($) == 7);
      }
    }
  }
};

// A select over two full rings pushes into the one a consumer makes room in; the value is
// moved in exactly once and the other ring is untouched.
struct PushWhereRoomAppears : rl::test_suite<PushWhereRoomAppears, 2> {
  relacy_fev::Globals globals;
  Ring a{1, kPark};
  Ring b{1, kPark};
  void before() {
    RL_ASSERT(a.try_push(1));
    RL_ASSERT(b.try_push(2));
  }
  void thread(unsigned index) {
    if (index == 0) {
      int v = 0;
      RL_ASSERT(b.pop(v));
      RL_ASSERT(v == 2);
    } else {
      int first = 10, second = 20;
      const fev::Selected s = fev::select(fev::on_push(a, first), fev::on_push(b, second));
      RL_ASSERT(s == (fev::Selected{1, fev::Status::ok}));
    }
  }
  void after() {
    int v = 0;
    RL_ASSERT(a.try_pop(v) && v == 1);
    RL_ASSERT(b.try_pop(v) && v == 20);
  }
};

}  // namespace

int main(int argc, char** argv) {
  relacy_fev::Runner runner(argc, argv);
  runner.run<RelayToAPlainConsumer>("select-relay-to-a-plain-consumer", rl::sched_random, 20000, true);
  // Without spurious wakes: a lost wake is a deadlock.
  runner.run<RelayToAPlainConsumer>("select-relay-no-spurious-wakes", rl::sched_random, 20000, true, 0);
  runner.run<OneRingNoSlices>("select-one-ring-no-slices", rl::sched_random, 20000, true, 0);
  runner.run<RingOrEvent>("select-ring-or-event", rl::sched_random, 20000, false);
  runner.run<PushWhereRoomAppears>("select-push-where-room-appears", rl::sched_random, 20000, false);
  return runner.exit_code();
}
