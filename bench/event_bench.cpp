// SPDX-License-Identifier: MIT
// bench/event_bench.cpp — fev::Event and fev::AutoResetEvent against the baselines of
// bench/baselines.hpp, every one through the same template, in one binary.
//
// Names: event/<operation>/<implementation> and auto_reset/<operation>/<implementation>.
//   is_set          read the flag of an unset event
//   set_no_waiter   set() an event nobody waits on (it stays set after the first call)
//   wait_on_set     wait() on an event that is already set
//   set_wait_clear  set(); wait(); clear() in one thread (uncontended)
//   ping_pong       two threads, two events: set(ping); wait(pong); clear(pong) against
//                   wait(ping); clear(ping); set(pong). Time and items/s per round trip.
//   set_try_wait    auto-reset set(); try_wait() in one thread
//   hand_off        two threads, two auto-reset events passing the turn back and forth
//
// The manual-reset implementations include condvar_spin and atomic_wait_spin, which spin
// for fev::spin_limit() before blocking as fev does (see baselines.hpp), and the bare
// futex pair. Threads are not pinned here; for tail latencies and pinning see bench/latency.cpp.
#include <benchmark/benchmark.h>

#include <atomic>
#include <string>
#include <thread>

#include "baselines.hpp"
#include "bench_main.hpp"

namespace {

using fev_bench::FevAutoResetEvent;
using fev_bench::FevEvent;

template <class E>
void is_set(benchmark::State& state) {
  E event;
  for (auto _ : state) benchmark::DoNotOptimize(event.is_set());
}

template <class E>
void set_no_waiter(benchmark::State& state) {
  E event;
  for (auto _ : state) event.set();
}

template <class E>
void wait_on_set(benchmark::State& state) {
  E event;
  event.set();
  for (auto _ : state) event.wait();
}

template <class E>
void set_wait_clear(benchmark::State& state) {
  E event;
  for (auto _ : state) {
    event.set();
    event.wait();
    event.clear();
  }
}

template <class E>
void ping_pong(benchmark::State& state) {
  E ping;
  E pong;
  std::atomic<bool> stop{false};
  std::thread echo([&] {
    for (;;) {
      ping.wait();
      ping.clear();
      // relaxed is enough: the stop store happens before the final ping.set(), whose
      // release this thread's ping.wait() acquired.
      if (stop.load(std::memory_order_relaxed)) return;
      pong.set();
    }
  });
  for (auto _ : state) {
    ping.set();
    pong.wait();
    pong.clear();
  }
  stop.store(true, std::memory_order_relaxed);
  ping.set();
  echo.join();
  state.SetItemsProcessed(state.iterations());
}

template <class E>
void set_try_wait(benchmark::State& state) {
  E event;
  for (auto _ : state) {
    event.set();
    benchmark::DoNotOptimize(event.try_wait());
  }
}

template <class E>
void hand_off(benchmark::State& state) {
  E there;
  E back;
  std::atomic<bool> stop{false};
  std::thread echo([&] {
    for (;;) {
      there.wait();
      if (stop.load(std::memory_order_relaxed)) return;  // ordered by there.set()
      back.set();
    }
  });
  for (auto _ : state) {
    there.set();
    back.wait();
  }
  stop.store(true, std::memory_order_relaxed);
  there.set();
  echo.join();
  state.SetItemsProcessed(state.iterations());
}

template <class E>
void register_manual_reset() {
  const std::string name(E::name);
  benchmark::RegisterBenchmark(("event/is_set/" + name).c_str(), is_set<E>);
  benchmark::RegisterBenchmark(("event/set_no_waiter/" + name).c_str(), set_no_waiter<E>);
  benchmark::RegisterBenchmark(("event/wait_on_set/" + name).c_str(), wait_on_set<E>);
  benchmark::RegisterBenchmark(("event/set_wait_clear/" + name).c_str(), set_wait_clear<E>);
  benchmark::RegisterBenchmark(("event/ping_pong/" + name).c_str(), ping_pong<E>)->UseRealTime();
}

template <class E>
void register_auto_reset() {
  const std::string name(E::name);
  benchmark::RegisterBenchmark(("auto_reset/set_try_wait/" + name).c_str(), set_try_wait<E>);
  benchmark::RegisterBenchmark(("auto_reset/hand_off/" + name).c_str(), hand_off<E>)->UseRealTime();
}

void register_all() {
  register_manual_reset<FevEvent>();
  register_manual_reset<fev_bench::CondvarEvent>();
  register_manual_reset<fev_bench::AtomicWaitEvent>();
  register_manual_reset<fev_bench::CondvarSpinEvent>();
  register_manual_reset<fev_bench::AtomicWaitSpinEvent>();
#if FEV_BENCH_HAVE_FUTEX
  register_manual_reset<fev_bench::FutexEvent>();
#endif
#if FEV_BENCH_HAVE_BOOST_ATOMIC
  register_manual_reset<fev_bench::BoostAtomicEvent>();
#endif
#if FEV_BENCH_HAVE_EVENTFD
  register_manual_reset<fev_bench::EventfdEvent>();
#endif

  register_auto_reset<FevAutoResetEvent>();
  register_auto_reset<fev_bench::CondvarAutoResetEvent>();
  register_auto_reset<fev_bench::AtomicWaitAutoResetEvent>();
  register_auto_reset<fev_bench::SemaphoreAutoResetEvent>();
#if FEV_BENCH_HAVE_BOOST_ATOMIC
  register_auto_reset<fev_bench::BoostAtomicAutoResetEvent>();
#endif
#if FEV_BENCH_HAVE_EVENTFD
  register_auto_reset<fev_bench::EventfdAutoResetEvent>();
#endif
}

}  // namespace

int main(int argc, char** argv) { return fev_bench::run_main(argc, argv, {}, register_all); }
