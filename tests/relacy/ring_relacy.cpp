// SPDX-License-Identifier: MIT
// fev::BasicRing (include/fev/ring.hpp, unmodified) under Relacy's model of the C++
// memory model, with capacities 1 and 2: every value pushed is popped exactly once, a
// consumer sees what its producer wrote before the push (rl::var: Relacy reports a data
// race otherwise), and no schedule leaves a thread parked for good beside a value
// (room) it could take (Relacy reports a deadlock when every thread is parked).
#include "relacy/relacy_std.hpp"

#include "relacy_support.hpp"

#include "fev/ring.hpp"

namespace {

using fev::testing::RelacyWait;
using Ring = fev::BasicRing<int, RelacyWait>;
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
// blocking push and pop: with capacity 1 or 2 both sides park and wake each other.
template <std::size_t kCapacity, int kEach>
struct TwoByTwo : rl::test_suite<TwoByTwo<kCapacity, kEach>, 4> {
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
        RL_ASSERT(ring.pop(v));
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

}  // namespace

int main(int argc, char** argv) {
  relacy_fev::Runner runner(argc, argv);
  runner.run<TwoByTwo<1, 1>>("ring-capacity-1-2p2c", rl::sched_random, 20000, true);
  runner.run<TwoByTwo<1, 2>>("ring-capacity-1-2p2c-twice", rl::sched_random, 20000, true);
  runner.run<TwoByTwo<2, 2>>("ring-capacity-2-2p2c-twice", rl::sched_random, 20000, true);
  runner.run<CloseRacesRegistration>("ring-close-races-registration", rl::sched_random, 20000, true);
  runner.run<CloseWakesProducer>("ring-close-wakes-parked-producer", rl::sched_random, 20000, true);
  runner.run<RelayChain>("ring-relay-after-bulk-push", rl::sched_random, 20000, true);
  runner.run<BulkClaims>("ring-bulk-claims", rl::sched_random, 20000, true);
  runner.run<TimedPops>("ring-timed-pops", rl::sched_random, 20000, true);
  // The context-bound search where it ends within seconds.
  runner.run<RelayChain>("ring-relay-after-bulk-push", rl::sched_bound, 0, true);
  return runner.exit_code();
}
