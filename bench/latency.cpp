// SPDX-License-Identifier: MIT
// bench/latency.cpp — wake latency percentiles of fev::Event and the baselines.
//
// Two measurements, each in two regimes, for every implementation in baselines.hpp
// (condvar_spin and atomic_wait_spin spin for fev::spin_limit() before they block, as
// fev does; futex is the bare FUTEX_WAIT/FUTEX_WAKE pair):
//
//   oneway     t0 = now() just before set() in thread A; t1 = now() just after wait()
//              returns in thread B; the sample is t1 - t0. Between samples B clears the
//              event and announces that it is about to wait again.
//   roundtrip  A: t0 = now(); set(ping); wait(pong); t1 = now(); clear(pong).
//              B: wait(ping); clear(ping); set(pong). The sample is t1 - t0 (one clock).
//
//   parked     A sets only once B's thread is seen asleep in the kernel
//              (state S in /proc/self/task/TID/stat), so every sample pays the park and
//              the kernel wake. Where /proc cannot tell, A sleeps --gap-us instead.
//   spinning   A sets --spin-delay-ns after B announced it is about to wait (oneway), or
//              right after the previous round (roundtrip): fev and atomic_wait are still
//              in their spin loops; condvar and eventfd, which never spin, are on their
//              way into the kernel or already there.
//
// Clock: std::chrono::steady_clock (clock_gettime(CLOCK_MONOTONIC) through the vDSO;
// comparable across CPUs, which oneway needs). Its own cost (~20-50 ns) is in every
// sample, for every implementation alike.
//
// Output: a table per (measurement, regime) on stdout with p50/p90/p99/p99.9/max in ns,
// p50 relative to condvar and to the fastest peer (the best implementation other than
// fev), and with --csv FILE the same rows as CSV. Exit status 0, or 2 on a bad argument.
#include <fcntl.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <limits>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "arguments.hpp"
#include "baselines.hpp"
#include "measure.hpp"

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::nanoseconds;

enum class Mode { oneway, roundtrip };
enum class Regime { parked, spinning };

std::string_view to_string(Mode mode) { return mode == Mode::oneway ? "oneway" : "roundtrip"; }
std::string_view to_string(Regime regime) { return regime == Regime::parked ? "parked" : "spinning"; }

struct Options {
  std::size_t samples = 100000;
  std::size_t warmup = 0;  // default: samples / 20, at most 2000
  bool warmup_given = false;
  std::vector<std::string> impls;  // empty: all
  std::vector<Mode> modes{Mode::oneway, Mode::roundtrip};
  std::vector<Regime> regimes{Regime::parked, Regime::spinning};
  bool pin = false;
  std::string csv;
  long gap_us = 50;
  long spin_delay_ns = 1000;
  long fev_spin_ns = -1;  // -1: leave fev's default
};

// ---- Threads: pinning and "is it asleep in the kernel?" ---------------------------

std::vector<int> pin_cpus;  // [0] for thread A (main), [1] for thread B; empty: no pinning

void pin_self(int which) {
  if (pin_cpus.empty()) return;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(pin_cpus[static_cast<std::size_t>(which)], &set);
  if (sched_setaffinity(0, sizeof set, &set) != 0) {
    std::fprintf(stderr, "latency: --pin: sched_setaffinity(CPU %d) failed (%s); continuing unpinned\n",
                 pin_cpus[static_cast<std::size_t>(which)], std::strerror(errno));
  }
}

pid_t current_tid() { return static_cast<pid_t>(::syscall(SYS_gettid)); }

// Reads a thread's scheduler state from /proc. Unavailable (no /proc): every query
// answers "unknown", and the caller falls back to sleeping.
class ThreadState {
 public:
  explicit ThreadState(pid_t tid) {
    const std::string path = "/proc/self/task/" + std::to_string(tid) + "/stat";
    fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  }
  ThreadState(const ThreadState&) = delete;
  ThreadState& operator=(const ThreadState&) = delete;
  ~ThreadState() {
    if (fd_ >= 0) ::close(fd_);
  }
  bool known() const { return fd_ >= 0; }
  // 'R', 'S', 'D', ...; 0 if it cannot be read.
  char state() const {
    char buffer[512];
    const ssize_t size = ::pread(fd_, buffer, sizeof buffer - 1, 0);
    if (size <= 0) return 0;
    buffer[size] = 0;
    const char* paren = std::strrchr(buffer, ')');  // the command name may hold spaces
    return paren && paren[1] == ' ' ? paren[2] : 0;
  }

 private:
  int fd_ = -1;
};

// Returns once the thread sleeps in the kernel, or after `give_up` (returns false).
bool wait_until_asleep(const ThreadState& thread, nanoseconds give_up) {
  const auto start = Clock::now();
  for (;;) {
    const char state = thread.state();
    if (state == 'S' || state == 'D') return true;
    if (Clock::now() - start > give_up) return false;
  }
}

void pause_cpu() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

// Busy-waits until done(); yields after a while so that an unpinned run sharing one CPU
// still progresses.
template <class Done>
void spin_until(Done&& done) {
  for (int round = 0; !done(); ++round) {
    if (round < 4000) {
      pause_cpu();
    } else {
      std::this_thread::yield();
    }
  }
}

void busy_wait(nanoseconds duration) {
  const auto until = Clock::now() + duration;
  while (Clock::now() < until) pause_cpu();
}

// Waits for thread B to be parked (parked regime) or lets `spin_delay` pass.
// Returns false if B was expected to park and did not within 100 ms.
bool prepare(const Options& options, Regime regime, const ThreadState& thread) {
  if (regime == Regime::spinning) {
    if (options.spin_delay_ns > 0) busy_wait(nanoseconds(options.spin_delay_ns));
    return true;
  }
  if (!thread.known()) {
    std::this_thread::sleep_for(std::chrono::microseconds(options.gap_us));
    return true;
  }
  return wait_until_asleep(thread, std::chrono::milliseconds(100));
}

// ---- The two measurements ---------------------------------------------------------

struct Samples {
  std::vector<std::int64_t> ns;
  std::size_t unparked = 0;  // parked regime: samples where B was not seen asleep
};

template <class E>
Samples one_way(const Options& options, Regime regime) {
  const std::size_t total = options.warmup + options.samples;
  std::vector<Clock::time_point> set_at(total);
  std::vector<Clock::time_point> woke_at(total);
  E event;
  std::atomic<std::size_t> armed{0};  // B is about to wait for round armed - 1
  std::atomic<pid_t> tid{0};
  std::thread waiter([&] {
    pin_self(1);
    tid.store(current_tid(), std::memory_order_relaxed);
    for (std::size_t round = 0; round < total; ++round) {
      // release: A's set() for this round must come after our clear() of the last one.
      armed.store(round + 1, std::memory_order_release);
      event.wait();
      woke_at[round] = Clock::now();
      event.clear();
    }
  });
  spin_until([&] { return tid.load(std::memory_order_relaxed) != 0; });
  const ThreadState thread(tid.load(std::memory_order_relaxed));
  Samples result;
  for (std::size_t round = 0; round < total; ++round) {
    spin_until([&] { return armed.load(std::memory_order_acquire) == round + 1; });
    if (!prepare(options, regime, thread) && round >= options.warmup) ++result.unparked;
    set_at[round] = Clock::now();
    event.set();
  }
  waiter.join();
  result.ns.reserve(options.samples);
  for (std::size_t round = options.warmup; round < total; ++round)
    result.ns.push_back(std::chrono::duration_cast<nanoseconds>(woke_at[round] - set_at[round]).count());
  return result;
}

template <class E>
Samples round_trip(const Options& options, Regime regime) {
  const std::size_t total = options.warmup + options.samples;
  E ping;
  E pong;
  std::atomic<bool> stop{false};
  std::atomic<pid_t> tid{0};
  std::thread echo([&] {
    pin_self(1);
    tid.store(current_tid(), std::memory_order_relaxed);
    for (;;) {
      ping.wait();
      ping.clear();
      if (stop.load(std::memory_order_relaxed)) return;  // ordered by the last ping.set()
      pong.set();
    }
  });
  spin_until([&] { return tid.load(std::memory_order_relaxed) != 0; });
  const ThreadState thread(tid.load(std::memory_order_relaxed));
  Samples result;
  result.ns.reserve(options.samples);
  for (std::size_t round = 0; round < total; ++round) {
    bool parked = true;
    if (regime == Regime::parked) parked = prepare(options, regime, thread);
    const auto begin = Clock::now();
    ping.set();
    pong.wait();
    const auto end = Clock::now();
    pong.clear();
    if (round < options.warmup) continue;
    if (!parked) ++result.unparked;
    result.ns.push_back(std::chrono::duration_cast<nanoseconds>(end - begin).count());
  }
  stop.store(true, std::memory_order_relaxed);
  ping.set();
  echo.join();
  return result;
}

// ---- Implementations, statistics, output ------------------------------------------

struct Impl {
  std::string_view name;
  Samples (*one_way)(const Options&, Regime);
  Samples (*round_trip)(const Options&, Regime);
};

template <class E>
Impl make_impl() {
  return {E::name, &one_way<E>, &round_trip<E>};
}

std::vector<Impl> all_impls() {
  std::vector<Impl> impls{make_impl<fev_bench::FevEvent>(),         make_impl<fev_bench::CondvarEvent>(),
                          make_impl<fev_bench::AtomicWaitEvent>(),  make_impl<fev_bench::CondvarSpinEvent>(),
                          make_impl<fev_bench::AtomicWaitSpinEvent>()};
#if FEV_BENCH_HAVE_FUTEX
  impls.push_back(make_impl<fev_bench::FutexEvent>());
#endif
#if FEV_BENCH_HAVE_BOOST_ATOMIC
  impls.push_back(make_impl<fev_bench::BoostAtomicEvent>());
#endif
#if FEV_BENCH_HAVE_EVENTFD
  impls.push_back(make_impl<fev_bench::EventfdEvent>());
#endif
  return impls;
}

struct Row {
  Mode mode;
  Regime regime;
  std::string impl;
  std::size_t samples = 0;
  std::size_t unparked = 0;
  double p50 = 0, p90 = 0, p99 = 0, p999 = 0, max = 0, mean = 0;
  double vs_condvar = 0, vs_best_peer = 0;
};

using fev_bench::percentile;

Row summarize(Mode mode, Regime regime, std::string_view impl, Samples samples) {
  std::sort(samples.ns.begin(), samples.ns.end());
  Row row{mode, regime, std::string(impl)};
  row.samples = samples.ns.size();
  row.unparked = samples.unparked;
  row.p50 = percentile(samples.ns, 0.50);
  row.p90 = percentile(samples.ns, 0.90);
  row.p99 = percentile(samples.ns, 0.99);
  row.p999 = percentile(samples.ns, 0.999);
  row.max = samples.ns.empty() ? 0 : static_cast<double>(samples.ns.back());
  double sum = 0;
  for (const std::int64_t value : samples.ns) sum += static_cast<double>(value);
  row.mean = samples.ns.empty() ? 0 : sum / static_cast<double>(samples.ns.size());
  return row;
}

// Fills the ratio columns of rows [first, end) (one measurement and regime).
void add_ratios(std::vector<Row>& rows, std::size_t first) {
  double condvar = 0;
  double best_peer = std::numeric_limits<double>::infinity();
  for (std::size_t i = first; i < rows.size(); ++i) {
    if (rows[i].impl == "condvar") condvar = rows[i].p50;
    if (rows[i].impl != "fev") best_peer = std::min(best_peer, rows[i].p50);
  }
  for (std::size_t i = first; i < rows.size(); ++i) {
    rows[i].vs_condvar = condvar > 0 ? rows[i].p50 / condvar : 0;
    rows[i].vs_best_peer = best_peer > 0 && best_peer < std::numeric_limits<double>::infinity()
                               ? rows[i].p50 / best_peer
                               : 0;
  }
}

void print_table(const std::vector<Row>& rows, std::size_t first) {
  const Row& head = rows[first];
  std::printf("\n%s, waiter %s (ns; %zu samples each)\n",
              head.mode == Mode::oneway ? "one-way wake latency (set -> waiter running)" : "ping-pong round trip",
              head.regime == Regime::parked ? "parked in the kernel" : "still spinning / just entering wait", head.samples);
  std::printf("  %-16s %9s %9s %9s %9s %10s %11s %11s\n", "impl", "p50", "p90", "p99", "p99.9", "max", "p50/condvar",
              "p50/bestpeer");
  for (std::size_t i = first; i < rows.size(); ++i) {
    const Row& row = rows[i];
    std::printf("  %-16s %9.0f %9.0f %9.0f %9.0f %10.0f", row.impl.c_str(), row.p50, row.p90, row.p99, row.p999,
                row.max);
    for (const double ratio : {row.vs_condvar, row.vs_best_peer}) {
      if (ratio > 0) std::printf(" %10.3fx", ratio);
      else std::printf(" %11s", "-");
    }
    if (row.unparked) std::printf("  (%zu samples not parked)", row.unparked);
    std::printf("\n");
  }
  std::fflush(stdout);
}

bool write_csv(const std::string& path, const std::vector<Row>& rows) {
  std::ofstream out(path);
  out << "mode,regime,impl,samples,p50_ns,p90_ns,p99_ns,p999_ns,max_ns,mean_ns,p50_vs_condvar,p50_vs_best_peer,"
         "unparked\n";
  out << std::fixed;
  for (const Row& row : rows) {
    out << std::setprecision(0) << to_string(row.mode) << ',' << to_string(row.regime) << ',' << row.impl << ',' << row.samples << ','
        << row.p50 << ',' << row.p90 << ',' << row.p99 << ',' << row.p999 << ',' << row.max << ',' << row.mean << ','
        << std::setprecision(4) << row.vs_condvar << ',' << row.vs_best_peer << ',' << row.unparked << '\n';
  }
  return static_cast<bool>(out);
}

// ---- Command line ----------------------------------------------------------------

void usage(std::FILE* to) {
  std::fprintf(to,
               "usage: latency [options]\n"
               "  --samples N        samples per implementation, measurement and regime (default 100000)\n"
               "  --warmup N         rounds run first and discarded (default samples/20, at most 2000)\n"
               "  --impl A,B,...     implementations (default all: fev,condvar,atomic_wait,condvar_spin,\n"
               "                     atomic_wait_spin,futex,boost_atomic,eventfd)\n"
               "  --mode M,...       oneway, roundtrip (default both)\n"
               "  --regime R,...     parked, spinning (default both)\n"
               "  --pin              pin the two threads to two different allowed CPUs\n"
               "  --csv FILE         also write the rows as CSV\n"
               "  --gap-us N         parked regime without /proc: sleep N us before set (default 50)\n"
               "  --spin-delay-ns N  spinning regime, oneway: delay before set (default 1000)\n"
               "  --fev-spin-ns N    fev::set_spin_limit(N ns) for this run (default: library default)\n");
}

using fev_bench::parse_int;
using fev_bench::split;

bool parse(int argc, char** argv, Options& options) {
  fev_bench::Arguments args(argc, argv);
  while (args.next()) {
    const std::string_view arg = args.name();
    std::string_view value;
    const auto need_value = [&] { return args.value(value); };
    if (arg == "--help" || arg == "-h") {
      usage(stdout);
      std::exit(0);
    } else if (arg == "--pin") {
      options.pin = true;
    } else if (arg == "--samples") {
      if (!need_value() || !parse_int(value, options.samples) || options.samples == 0) return false;
    } else if (arg == "--warmup") {
      if (!need_value() || !parse_int(value, options.warmup)) return false;
      options.warmup_given = true;
    } else if (arg == "--impl") {
      if (!need_value()) return false;
      options.impls = split(value);
    } else if (arg == "--mode") {
      if (!need_value()) return false;
      options.modes.clear();
      for (const std::string& mode : split(value)) {
        if (mode == "oneway") options.modes.push_back(Mode::oneway);
        else if (mode == "roundtrip") options.modes.push_back(Mode::roundtrip);
        else return false;
      }
    } else if (arg == "--regime") {
      if (!need_value()) return false;
      options.regimes.clear();
      for (const std::string& regime : split(value)) {
        if (regime == "parked") options.regimes.push_back(Regime::parked);
        else if (regime == "spinning") options.regimes.push_back(Regime::spinning);
        else return false;
      }
    } else if (arg == "--csv") {
      if (!need_value()) return false;
      options.csv = std::string(value);
    } else if (arg == "--gap-us") {
      if (!need_value() || !parse_int(value, options.gap_us) || options.gap_us < 0) return false;
    } else if (arg == "--spin-delay-ns") {
      if (!need_value() || !parse_int(value, options.spin_delay_ns) || options.spin_delay_ns < 0) return false;
    } else if (arg == "--fev-spin-ns") {
      if (!need_value() || !parse_int(value, options.fev_spin_ns) || options.fev_spin_ns < 0) return false;
    } else {
      return false;
    }
  }
  if (!options.warmup_given) options.warmup = std::min<std::size_t>(options.samples / 20, 2000);
  return true;
}

void choose_cpus(const Options& options) {
  if (!options.pin) return;
  cpu_set_t allowed;
  CPU_ZERO(&allowed);
  if (sched_getaffinity(0, sizeof allowed, &allowed) != 0) {
    std::fprintf(stderr, "latency: --pin: sched_getaffinity failed (%s); running unpinned\n", std::strerror(errno));
    return;
  }
  for (int cpu = 0; cpu < CPU_SETSIZE && pin_cpus.size() < 2; ++cpu)
    if (CPU_ISSET(cpu, &allowed)) pin_cpus.push_back(cpu);
  if (pin_cpus.empty()) {
    std::fprintf(stderr, "latency: --pin: no allowed CPU found; running unpinned\n");
    return;
  }
  if (pin_cpus.size() == 1) {
    std::fprintf(stderr, "latency: --pin: only CPU %d is allowed; both threads share it\n", pin_cpus[0]);
    pin_cpus.push_back(pin_cpus[0]);
  }
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  if (!parse(argc, argv, options)) {
    usage(stderr);
    return 2;
  }
  std::vector<Impl> impls;
  for (const Impl& impl : all_impls())
    if (options.impls.empty() || std::find(options.impls.begin(), options.impls.end(), impl.name) != options.impls.end())
      impls.push_back(impl);
  for (const std::string& wanted : options.impls) {
    if (std::none_of(impls.begin(), impls.end(), [&](const Impl& impl) { return impl.name == wanted; })) {
      std::fprintf(stderr, "latency: unknown or not built: --impl %s\n", wanted.c_str());
      return 2;
    }
  }
  if (options.fev_spin_ns >= 0) fev::set_spin_limit(nanoseconds(options.fev_spin_ns));
  (void)prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);  // precise --gap-us sleeps; harmless if refused
  choose_cpus(options);
  pin_self(0);

  std::printf("latency: clock steady_clock; %zu samples (+%zu warm-up) per row; fev spin limit %lld ns; ",
              options.samples, options.warmup, static_cast<long long>(fev::spin_limit().count()));
  if (pin_cpus.empty()) std::printf("threads not pinned\n");
  else std::printf("threads pinned to CPUs %d and %d\n", pin_cpus[0], pin_cpus[1]);

  std::vector<Row> rows;
  for (const Mode mode : options.modes) {
    for (const Regime regime : options.regimes) {
      const std::size_t first = rows.size();
      for (const Impl& impl : impls) {
        Samples samples = mode == Mode::oneway ? impl.one_way(options, regime) : impl.round_trip(options, regime);
        rows.push_back(summarize(mode, regime, impl.name, std::move(samples)));
      }
      add_ratios(rows, first);
      print_table(rows, first);
    }
  }
  if (!options.csv.empty() && !write_csv(options.csv, rows)) {
    std::fprintf(stderr, "latency: cannot write %s\n", options.csv.c_str());
    return 1;
  }
  return 0;
}
