// SPDX-License-Identifier: MIT
// fev::BasicRing (include/fev/ring.hpp, unmodified) under Relacy's model of the C++
// memory model, with capacities 1 and 2: every value pushed is popped exactly once, a
// consumer sees what its producer wrote before the push (rl::var: Relacy reports a data
// race otherwise), and no schedule leaves a thread parked for good beside a value
// (room) it could take (Relacy reports a deadlock when every thread is parked).
#include "relacy/relacy_std.hpp"

#include "relacy_support.hpp"

#include "fev/ring.hpp"
#include "fev/ring_access.hpp"

namespace {

using fev::testing::RelacyWait;
using Ring = fev::BasicRing<int, RelacyWait>;
using SharedRing = fev::BasicRing<int, fev::testing::RelacySharedWait>;
using fev::detail::RingAccess;
using fev::detail::RingClaim;
constexpr fev::WaitOptions kPark{.spin = std::chrono::nanoseconds{0}};

// Values 1..kMaxValue; payload[v] is written by v's producer before the push and read
// by whoever pops v; popped[v] counts the pops of v.
constexpr int kMaxValue = 8;
struct Values {
  rl::var<int> payload[kMaxValue + 1];
  std::atomic<int> popped[kMaxValue + 1];
  void reset() {
    for (int v = 0; v <= kMaxValue; ++v) {
      payload[v]($) = 0;
      popped[v].store(0, std::memory_order_relaxed);
    }
  }
  void produce(int v) { payload[v]($) = v * 10; }
  void consume(int v) {
    RL_ASSERT(v >= 1 && v <= kMaxValue);
    RL_ASSERT(payload[v]($) == v * 10);
    popped[v].fetch_add(1, std::memory_order_relaxed);
  }
  void each_popped_once(int values) {
    for (int v = 1; v <= values; ++v) RL_ASSERT(popped[v].load(std::memory_order_relaxed) == 1);
  }
};

// Two producers push kEach values each, two consumers pop kEach values each, with
// blocking push and pop (pop_n(out, 1) with kBulk): with capacity 1 or 2 both sides
// park and wake each other.
template <std::size_t kCapacity, int kEach, bool kBulk = false>
struct TwoByTwo : rl::test_suite<TwoByTwo<kCapacity, kEach, kBulk>, 4> {
  relacy_fev::Globals globals;
  Ring ring{kCapacity, kPark};
  Values values;
  void before() { values.reset(); }
  void thread(unsigned index) {
    if (index < 2) {
      for (int i = 0; i < kEach; ++i) {
        const int v = static_cast<int>(index) * kEach + i + 1;
        values.produce(v);
        RL_ASSERT(ring.push(int{v}));
      }
    } else {
      for (int i = 0; i < kEach; ++i) {
        int v = 0;
        if (kBulk) {
          RL_ASSERT(ring.pop_n(&v, 1) == 1);
        } else {
          RL_ASSERT(ring.pop(v));
        }
        values.consume(v);
      }
    }
  }
  void after() { values.each_popped_once(2 * kEach); }
};

// close() racing consumers that register to sleep: each consumer drains what is there
// and then returns closed, never parks for good; the value pushed before close() is
// popped exactly once.
struct CloseRacesRegistration : rl::test_suite<CloseRacesRegistration, 3> {
  relacy_fev::Globals globals;
  Ring ring{1, kPark};
  Values values;
  void before() { values.reset(); }
  void thread(unsigned index) {
    if (index == 0) {
      values.produce(1);
      RL_ASSERT(ring.push(1));
      ring.close();
    } else {
      int v = 0;
      while (ring.pop(v)) values.consume(v);
      RL_ASSERT(ring.closed());
    }
  }
  void after() { values.each_popped_once(1); }
};

// close() happens-before a pop that reports closed (the contract): what the closer
// wrote before close() is read after the closed pop without a data race, by a blocking
// pop (possibly parked first) and by a try-once pop.
struct CloseHappensBeforeClosedPop : rl::test_suite<CloseHappensBeforeClosedPop, 3> {
  relacy_fev::Globals globals;
  Ring ring{1, kPark};
  rl::var<int> note;
  void before() { note($) = 0; }
  void thread(unsigned index) {
    if (index == 0) {
      note($) = 7;
      ring.close();
    } else if (index == 1) {
      int v = 0;
      RL_ASSERT(!ring.pop(v));
      RL_ASSERT(note($) == 7);
    } else {
      int v = 0;
      if (ring.pop_for(v, std::chrono::seconds(0)) == fev::Status::closed) RL_ASSERT(note($) == 7);
    }
  }
};

// close() racing a producer parked on a full ring: a push returns false (closed) only
// once the ring is closed, and leaves its value; every value a push took is popped
// exactly once, also after the close.
struct CloseWakesProducer : rl::test_suite<CloseWakesProducer, 3> {
  relacy_fev::Globals globals;
  Ring ring{1, kPark};
  Values values;
  std::atomic<int> accepted[3] = {};
  void before() { values.reset(); }
  void thread(unsigned index) {
    if (index == 0) {
      for (int v = 1; v <= 2; ++v) {
        values.produce(v);
        const bool pushed = ring.push(int{v});
        RL_ASSERT(pushed || ring.closed());
        accepted[v].store(pushed ? 1 : 0, std::memory_order_relaxed);
      }
    } else if (index == 1) {
      ring.close();
    } else {
      int v = 0;
      while (ring.pop(v)) values.consume(v);
    }
  }
  void after() {
    for (int v = 1; v <= 2; ++v)
      RL_ASSERT(values.popped[v].load(std::memory_order_relaxed) == accepted[v].load(std::memory_order_relaxed));
  }
};

// Relay: one bulk push of two values makes one wake; two consumers are parked, and the
// one woken must pass the wake on (the second value is still there), or the other one
// sleeps beside it for good.
struct RelayChain : rl::test_suite<RelayChain, 3> {
  relacy_fev::Globals globals;
  Ring ring{2, kPark};
  Values values;
  void before() { values.reset(); }
  void thread(unsigned index) {
    if (index == 0) {
      int items[2] = {1, 2};
      values.produce(1);
      values.produce(2);
      std::size_t pushed = 0;
      while (pushed < 2) {
        pushed += ring.try_push_n(items + pushed, 2 - pushed);
        if (pushed < 2) rl::yield(1, $);
      }
    } else {
      int v = 0;
      RL_ASSERT(ring.pop(v));
      values.consume(v);
    }
  }
  void after() { values.each_popped_once(2); }
};

// Bulk claims on both sides: a producer pushes 1..3 with try_push_n and then 4 with
// push; a consumer takes three of them with pop_n (up to 2 at a time), another one with
// pop.
struct BulkClaims : rl::test_suite<BulkClaims, 3> {
  relacy_fev::Globals globals;
  Ring ring{2, kPark};
  Values values;
  std::atomic<int> bulk_popped{0};
  void before() { values.reset(); }
  void thread(unsigned index) {
    if (index == 0) {
      int items[3] = {1, 2, 3};
      for (int v : items) values.produce(v);
      std::size_t pushed = 0;
      while (pushed < 3) {
        pushed += ring.try_push_n(items + pushed, 3 - pushed);
        if (pushed < 3) rl::yield(1, $);
      }
      values.produce(4);
      RL_ASSERT(ring.push(4));
    } else if (index == 1) {
      int got = 0;
      while (got < 3) {
        int out[2] = {0, 0};
        const std::size_t want = 3 - got < 2 ? 1 : 2;
        const std::size_t n = ring.pop_n(out, want);
        RL_ASSERT(n >= 1 && n <= want);
        for (std::size_t i = 0; i < n; ++i) values.consume(out[i]);
        got += static_cast<int>(n);
      }
      bulk_popped.store(got, std::memory_order_relaxed);
    } else {
      int v = 0;
      RL_ASSERT(ring.pop(v));
      values.consume(v);
    }
  }
  void after() { values.each_popped_once(4); }
};

// Timed pops: a consumer whose pop_for times out (Relacy ends its park by a timeout)
// leaves cleanly, passing on a wake it took; the value is then popped by the other
// consumer or by its own retry.
struct TimedPops : rl::test_suite<TimedPops, 3> {
  relacy_fev::Globals globals;
  Ring ring{1, kPark};
  Values values;
  void before() { values.reset(); }
  void thread(unsigned index) {
    if (index == 0) {
      values.produce(1);
      RL_ASSERT(ring.push(1));
      values.produce(2);
      RL_ASSERT(ring.push(2));
    } else {
      int v = 0;
      const fev::Status status = ring.pop_for(v, std::chrono::microseconds(10));
      if (status == fev::Status::ok) {
        values.consume(v);
      } else {
        RL_ASSERT(status == fev::Status::timeout);
        RL_ASSERT(ring.pop(v));
        values.consume(v);
      }
    }
  }
  void after() { values.each_popped_once(2); }
};

// A value type whose life Relacy watches. Each object at an address writes that address's
// cell when it is constructed and destroyed, and a move reads the source's: a slot's
// cell is written by a push (construction), read and written by a pop (move out,
// destruction), and written again by the next lap's push. Relacy reports a data race
// unless each step happens-before the next (the turns' release and acquire on both
// sides). The cell, not a member, because Relacy forgets a member's history when the
// next object is constructed in its place.
struct Cells {
  const void* address[24];
  rl::var<int> cell[24];
  int used = 0;
  rl::var<int>& at(const void* object) {
    for (int i = 0; i < used; ++i) {
      if (address[i] == object) return cell[i];
    }
    RL_ASSERT(used < 24);
    address[used] = object;
    return cell[used++];
  }
};
inline Cells* cells = nullptr;

struct Watched {
  int value;
  explicit Watched(int v) noexcept : value(v) { cells->at(this)($) = v; }
  Watched(Watched&& other) noexcept : value(other.value) {
    RL_ASSERT(cells->at(&other)($) == other.value);
    cells->at(this)($) = value;
  }
  Watched& operator=(Watched&& other) noexcept {
    RL_ASSERT(cells->at(&other)($) == other.value);
    value = other.value;
    cells->at(this)($) = value;
    return *this;
  }
  ~Watched() { cells->at(this)($) = -1; }
};
using WatchedRing = fev::BasicRing<Watched, RelacyWait>;

// Capacity 1, one producer, two consumers (one bulk), three laps through the one slot.
struct SlotReuse : rl::test_suite<SlotReuse, 3> {
  relacy_fev::Globals globals;
  Cells object_cells;
  bool cells_set = (cells = &object_cells, true);
  WatchedRing ring{1, kPark};
  std::atomic<int> popped{0};
  void thread(unsigned index) {
    if (index == 0) {
      for (int v = 1; v <= 3; ++v) RL_ASSERT(ring.push(Watched(v)));
      ring.close();
    } else if (index == 1) {
      Watched out(0);
      while (ring.pop(out)) {
        RL_ASSERT(out.value >= 1);
        popped.fetch_add(1, std::memory_order_relaxed);
      }
    } else {
      Watched out[1] = {Watched(0)};
      while (ring.pop_n(out, 1) == 1) {
        RL_ASSERT(out[0].value >= 1);
        popped.fetch_add(1, std::memory_order_relaxed);
      }
    }
  }
  void after() { RL_ASSERT(popped.load(std::memory_order_relaxed) == 3); }
};

// Capacity 2, bulk pushes reusing slots freed by a consumer.
struct BulkSlotReuse : rl::test_suite<BulkSlotReuse, 2> {
  relacy_fev::Globals globals;
  Cells object_cells;
  bool cells_set = (cells = &object_cells, true);
  WatchedRing ring{2, kPark};
  void thread(unsigned index) {
    if (index == 0) {
      int next = 1;
      while (next <= 4) {
        Watched items[2] = {Watched(next), Watched(next + 1)};
        std::size_t pushed = 0;
        while (pushed < 2) {
          pushed += ring.try_push_n(items + pushed, 2 - pushed);
          if (pushed < 2) rl::yield(1, $);
        }
        next += 2;
      }
    } else {
      Watched out(0);
      for (int i = 1; i <= 4; ++i) {
        RL_ASSERT(ring.pop(out));
        RL_ASSERT(out.value == i);
      }
    }
  }
};

// closed() and then empty() both true: a pop that tries once reports closed, not
// timeout (the contract's "Closed or empty?"); closed()'s acquire makes the consumers'
// copy of the closed bit visible.
struct ClosedThenTryOnce : rl::test_suite<ClosedThenTryOnce, 2> {
  relacy_fev::Globals globals;
  Ring ring{1, kPark};
  void thread(unsigned index) {
    if (index == 0) {
      ring.close();
    } else {
      while (!ring.closed()) rl::yield(1, $);
      int v = 0;
      RL_ASSERT(ring.empty());
      RL_ASSERT(ring.pop_for(v, std::chrono::seconds(0)) == fev::Status::closed);
    }
  }
};

// Waits (by yielding) until a thread has registered to sleep on `word` or `done` is set.
void await_sleeper(const std::atomic<std::uint32_t>& word, const std::atomic<bool>& done) {
  while ((word.load(std::memory_order_relaxed) & RingAccess::kSleepersMask) == 0 &&
         !done.load(std::memory_order_relaxed))
    rl::yield(1, $);
}

// pop(std::stop_token) racing a push and a stop request: the value is popped exactly
// once, by the stoppable pop or (left in the ring by a cancelled one) afterwards.
// kLate: the push waits until the consumer registered to sleep (the random scheduler
// rarely runs it that far ahead of the push otherwise).
template <bool kLate>
struct PopStopRacesPush : rl::test_suite<PopStopRacesPush<kLate>, 3> {
  relacy_fev::Globals globals;
  Ring ring{1, kPark};
  Values values;
  std::stop_source source;
  std::atomic<bool> consumer_done{false};
  void before() { values.reset(); }
  void thread(unsigned index) {
    if (index == 0) {
      values.produce(1);
      if (kLate) await_sleeper(RingAccess::consumers_word(ring), consumer_done);
      RL_ASSERT(ring.push(1));
    } else if (index == 1) {
      source.request_stop();
    } else {
      int v = 0;
      const fev::Status status = ring.pop(v, source.get_token());
      RL_ASSERT(status == fev::Status::ok || status == fev::Status::cancelled);
      if (status == fev::Status::ok) values.consume(v);
      if (status == fev::Status::cancelled) RL_ASSERT(source.stop_requested());
      consumer_done.store(true, std::memory_order_relaxed);
    }
  }
  void after() {
    int v = 0;
    if (ring.try_pop(v)) values.consume(v);
    values.each_popped_once(1);
  }
};

// A stop request is all that can end a parked pop of a ring nothing is pushed to (or a
// parked push to a full ring nothing is popped from): its callback's bump of the word
// and the waiter's re-read before it sleeps must pass the request on, or the waiter
// sleeps on the bumped value for good.
template <bool kPush>
struct StopWakesParked : rl::test_suite<StopWakesParked<kPush>, 2> {
  relacy_fev::Globals globals;
  Ring ring{1, kPark};
  std::stop_source source;
  std::atomic<bool> never{false};
  void before() {
    if (kPush) RL_ASSERT(ring.try_push(1));
  }
  void thread(unsigned index) {
    if (index == 0) {
      if constexpr (kPush) {
        RL_ASSERT(ring.push(2, source.get_token()) == fev::Status::cancelled);
      } else {
        int v = 0;
        RL_ASSERT(ring.pop(v, source.get_token()) == fev::Status::cancelled);
      }
    } else {
      await_sleeper(kPush ? RingAccess::producers_word(ring) : RingAccess::consumers_word(ring), never);
      source.request_stop();
    }
  }
};

// push(T&&, std::stop_token) on a full ring racing a pop and a stop request: a push that
// returns ok delivered its value, a cancelled one did not.
struct PushStopRacesPop : rl::test_suite<PushStopRacesPop, 3> {
  relacy_fev::Globals globals;
  Ring ring{1, kPark};
  Values values;
  std::stop_source source;
  std::atomic<int> pushed{0};
  void before() {
    values.reset();
    values.produce(1);
    RL_ASSERT(ring.try_push(1));
  }
  void thread(unsigned index) {
    if (index == 0) {
      int v = 0;
      RL_ASSERT(ring.pop(v));
      values.consume(v);
    } else if (index == 1) {
      source.request_stop();
    } else {
      values.produce(2);
      const fev::Status status = ring.push(2, source.get_token());
      RL_ASSERT(status == fev::Status::ok || status == fev::Status::cancelled);
      pushed.store(status == fev::Status::ok ? 1 : 0, std::memory_order_relaxed);
    }
  }
  void after() {
    int v = 0;
    while (ring.try_pop(v)) values.consume(v);
    RL_ASSERT(values.popped[1].load(std::memory_order_relaxed) == 1);
    RL_ASSERT(values.popped[2].load(std::memory_order_relaxed) == pushed.load(std::memory_order_relaxed));
  }
};

// A cancelled pop passes on the wake it took over: one bulk push of two values makes one
// wake; if the stoppable consumer takes it and is then cancelled, the plain consumer
// must still be woken (it sleeps beside two values for good otherwise).
struct CancelledPopRelays : rl::test_suite<CancelledPopRelays, 4> {
  relacy_fev::Globals globals;
  Ring ring{2, kPark};
  Values values;
  std::stop_source source;
  void before() { values.reset(); }
  void thread(unsigned index) {
    if (index == 0) {
      int items[2] = {1, 2};
      values.produce(1);
      values.produce(2);
      std::size_t pushed = 0;
      while (pushed < 2) {
        pushed += ring.try_push_n(items + pushed, 2 - pushed);
        if (pushed < 2) rl::yield(1, $);
      }
    } else if (index == 1) {
      source.request_stop();
    } else if (index == 2) {
      if (std::optional<int> v = ring.pop(source.get_token())) values.consume(*v);
    } else {
      int v = 0;
      RL_ASSERT(ring.pop(v));
      values.consume(v);
    }
  }
  void after() {
    int v = 0;
    while (ring.try_pop(v)) values.consume(v);
    values.each_popped_once(2);
  }
};

// Thread 0 of the dead-peer scenarios publishes its claim and dies before its wake call.
struct DiesBeforeWake : fev::RingHooks {
  static bool wake_consumers() noexcept { return rl::thread_index() != 0; }
  static bool wake_producers() noexcept { return rl::thread_index() != 0; }
};
using DyingPeerRing = fev::BasicRing<int, RelacyWait, DiesBeforeWake>;
using SharedDyingPeerRing = fev::BasicRing<int, fev::testing::RelacySharedWait, DiesBeforeWake>;

// Process-shared rings: a peer may die between its claim and its wake call. Here a
// producer claims a push (the claim and the publish; its wake is skipped) once the
// consumer has registered to sleep on the empty ring, and dies. A live producer that
// finds the ring full wakes the consumers before it parks (other_can_proceed), or
// both sides would sleep for good beside the dead producer's value.
// (With an in-process ring, which skips that wake, some schedule must deadlock: the
// check that this scenario reaches the dead peer's case.)
template <class AnyRing>
struct DeadProducer : rl::test_suite<DeadProducer<AnyRing>, 3> {
  relacy_fev::Globals globals;
  AnyRing ring{1, kPark};
  Values values;
  std::atomic<bool> consumer_done{false};
  void before() { values.reset(); }
  void thread(unsigned index) {
    if (index == 0) {
      values.produce(1);
      await_sleeper(RingAccess::consumers_word(ring), consumer_done);
      while (RingAccess::claim_push(ring, [](void* slot) noexcept { ::new (slot) int(1); }) != RingClaim::done)
        rl::yield(1, $);
    } else if (index == 1) {
      int v = 0;
      RL_ASSERT(ring.pop(v));
      values.consume(v);
      consumer_done.store(true, std::memory_order_relaxed);
    } else {
      values.produce(2);
      RL_ASSERT(ring.push(2));
    }
  }
  void after() {
    int v = 0;
    while (ring.try_pop(v)) values.consume(v);
    values.each_popped_once(2);
  }
};

// The other side: a consumer claims a pop of a full ring (freeing the slot; its wake is
// skipped) once a producer has registered to sleep on the full ring, and dies. A live consumer that finds
// the ring empty wakes the producers before it parks.
template <class AnyRing>
struct DeadConsumer : rl::test_suite<DeadConsumer<AnyRing>, 3> {
  relacy_fev::Globals globals;
  AnyRing ring{1, kPark};
  Values values;
  std::atomic<bool> producer_done{false};
  void before() {
    values.reset();
    values.produce(1);
    RL_ASSERT(ring.try_push(1));
  }
  void thread(unsigned index) {
    if (index == 0) {
      int v = 0;
      await_sleeper(RingAccess::producers_word(ring), producer_done);
      while (RingAccess::claim_pop(ring, [&](int& slot) noexcept { v = slot; }) != RingClaim::done) rl::yield(1, $);
      values.consume(v);
    } else if (index == 1) {
      values.produce(2);
      RL_ASSERT(ring.push(2));
      producer_done.store(true, std::memory_order_relaxed);
    } else {
      int v = 0;
      RL_ASSERT(ring.pop(v));
      values.consume(v);
    }
  }
  void after() {
    int v = 0;
    while (ring.try_pop(v)) values.consume(v);
    values.each_popped_once(2);
  }
};

}  // namespace

int main(int argc, char** argv) {
  relacy_fev::Runner runner(argc, argv);
  runner.run<TwoByTwo<1, 1>>("ring-capacity-1-2p2c", rl::sched_random, 20000, true);
  runner.run<TwoByTwo<1, 2>>("ring-capacity-1-2p2c-twice", rl::sched_random, 20000, true);
  runner.run<TwoByTwo<1, 1, true>>("ring-capacity-1-2p2c-pop-n", rl::sched_random, 20000, true);
  runner.run<TwoByTwo<2, 2>>("ring-capacity-2-2p2c-twice", rl::sched_random, 20000, true);
  runner.run<CloseRacesRegistration>("ring-close-races-registration", rl::sched_random, 20000, true);
  runner.run<CloseWakesProducer>("ring-close-wakes-parked-producer", rl::sched_random, 20000, true);
  runner.run<CloseHappensBeforeClosedPop>("ring-close-happens-before-closed-pop", rl::sched_random, 20000, true);
  runner.run<RelayChain>("ring-relay-after-bulk-push", rl::sched_random, 20000, true);
  runner.run<BulkClaims>("ring-bulk-claims", rl::sched_random, 20000, true);
  runner.run<TimedPops>("ring-timed-pops", rl::sched_random, 20000, true);
  runner.run<SlotReuse>("ring-slot-reuse", rl::sched_random, 20000, true);
  runner.run<BulkSlotReuse>("ring-bulk-slot-reuse", rl::sched_random, 20000, true);
  runner.run<ClosedThenTryOnce>("ring-closed-then-try-once", rl::sched_random, 5000, false);
  // The stop_token overloads and the process-shared paths: no spurious wakes, so a wake
  // that does not come is a deadlock, never rescued.
  runner.run<PopStopRacesPush<false>>("ring-pop-stop-races-push", rl::sched_random, 20000, false, 0);
  runner.run<PopStopRacesPush<true>>("ring-pop-stop-races-late-push", rl::sched_random, 20000, true, 0);
  runner.run<StopWakesParked<false>>("ring-stop-wakes-parked-pop", rl::sched_random, 20000, true, 0);
  runner.run<StopWakesParked<false>>("ring-stop-wakes-parked-pop", rl::sched_bound, 0, true);
  runner.run<StopWakesParked<true>>("ring-stop-wakes-parked-push", rl::sched_random, 20000, true, 0);
  runner.run<StopWakesParked<true>>("ring-stop-wakes-parked-push", rl::sched_bound, 0, true);
  runner.run<PushStopRacesPop>("ring-push-stop-races-pop", rl::sched_random, 20000, true, 0);
  runner.run<CancelledPopRelays>("ring-cancelled-pop-relays", rl::sched_random, 20000, true, 0);
  runner.run<DeadProducer<SharedDyingPeerRing>>("ring-shared-dead-producer", rl::sched_random, 20000, true, 0);
  runner.run<DeadConsumer<SharedDyingPeerRing>>("ring-shared-dead-consumer", rl::sched_random, 20000, true, 0);
  runner.must_fail<DeadProducer<DyingPeerRing>>("ring-in-process-dead-producer", 20000);
  runner.must_fail<DeadConsumer<DyingPeerRing>>("ring-in-process-dead-consumer", 20000);
  // The context-bound search where it ends within seconds.
  runner.run<RelayChain>("ring-relay-after-bulk-push", rl::sched_bound, 0, true);
  return runner.exit_code();
}
