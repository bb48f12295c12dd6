// SPDX-License-Identifier: MIT
// bench/conditions.cpp — fev::Ring and fev::Event under the conditions programs meet
// outside a quiet machine, against the peers, in one binary and one run.
//
// Four sections (--section pool,mix,pingpong,wake; default all):
//
//   pool      A worker pool: C consumers (1, 4, 16, 64) parked in pop() on one queue,
//             one producer pushing an item every 50-150 us (uniformly random gaps from
//             one fixed seed, so every queue sees the same schedule). Each item carries
//             its push time. Reported: process CPU time per item (CLOCK_PROCESS_CPUTIME_ID,
//             all threads), context switches per item (getrusage(RUSAGE_SELF),
//             voluntary + involuntary), push -> pop latency p50/p99.
//   mix       Oversubscribed throughput, capacity 1024: 8P8C, 16P16C, 1P16C, 16P1C,
//             4P1C (P producer and C consumer threads, usually more than the CPUs).
//             Million items/s, plus CPU and context switches per item.
//   pingpong  Two threads, two manual-reset events, round trip p50/p99: both threads
//             pinned to ONE CPU (what a CPU quota or a busy host does to a program),
//             then pinned to two different CPUs.
//   wake      One-way wake of a parked waiter: the waiter announces it is about to
//             wait, the setter sleeps 200 us (the waiter is surely parked by then),
//             then set(); the sample is set() -> wait() returned. Waiter and setter on
//             two different CPUs.
//
// Queues (pool, mix): bench/queues.hpp (fev, mutex_condvar, tbb, moodycamel unbounded,
// moodycamel_bounded). Events (pingpong, wake): bench/baselines.hpp (fev, condvar,
// atomic_wait, the bare futex pair, and condvar_spin / atomic_wait_spin, which spin
// for fev::spin_limit() before blocking as fev does).
//
// Data checks (exit status 1, "data check failed" on stderr): every queue run compares
// the count and the sum of popped items with the pushed ones; every ping-pong round
// checks that the echo answered this round; every wake checks that the waiter returned
// after set(); a run that makes no progress for --stall-s seconds stops the program.
//
// Output: one table per section on stdout, each scenario ending with "fev vs best peer"
// per column: "level" (within 10%), "Nx better" or "Nx worse" against the best
// implementation other than fev; --csv FILE writes every row as CSV:
//   section,scenario,impl,count,mitems_per_s,cpu_us_per_item,switches_per_item,p50_ns,p99_ns
// (fields that do not apply are empty). Exit status: 0, 1 on a failed data check, 2 on
// a bad argument.
#include <sched.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <time.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <latch>
#include <limits>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "arguments.hpp"
#include "baselines.hpp"
#include "compare.hpp"
#include "data_check.hpp"
#include "measure.hpp"
#include "queues.hpp"

namespace {

using fev_bench::Clock;
using fev_bench::Item;
using fev_bench::now_ns;
using fev_bench::sleep_until;
using fev_bench::Usage;
using fev_bench::Watchdog;

constexpr int kBadArgument = 2;
constexpr std::size_t kCapacity = 1024;

struct Options {
  bool quick = false;
  std::uint64_t items = std::uint64_t{1} << 18;  // mix: items per run (multiple of 16)
  std::size_t pool_items = 1500;                 // pool: items per consumer count
  std::size_t rounds = 20000;                    // pingpong: rounds per row
  std::size_t wakes = 1000;                      // wake: samples per row
  long stall_s = 60;
  std::vector<std::string> sections{"pool", "mix", "pingpong", "wake"};
  std::string csv;
  bool corrupt = false;  // --self-test-corrupt: one pushed item off by one, to prove the check fails

  bool wants(std::string_view section) const {
    return std::find(sections.begin(), sections.end(), section) != sections.end();
  }
};

[[noreturn]] void data_check_failed(const std::string& what) { fev_bench::data_check_failed("conditions", what); }

// ---- Stall watchdog: a queue or event that loses a wakeup stops the program --------

Watchdog* g_watchdog = nullptr;

struct Armed {
  explicit Armed(std::string label) { g_watchdog->arm(std::move(label)); }
  Armed(const Armed&) = delete;
  Armed& operator=(const Armed&) = delete;
  ~Armed() { g_watchdog->disarm(); }
};

// ---- CPU placement -----------------------------------------------------------------

std::vector<int> g_cpus;  // the CPUs this process may run on, in order

// Pinning happens only in threads made for one row (in_fresh_thread), so the main
// thread and every other row keep the CPUs the process started with.
void read_allowed_cpus() {
  cpu_set_t allowed;
  CPU_ZERO(&allowed);
  if (::sched_getaffinity(0, sizeof allowed, &allowed) != 0) return;
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu)
    if (CPU_ISSET(cpu, &allowed)) g_cpus.push_back(cpu);
}

void pin_self_to(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  if (::sched_setaffinity(0, sizeof set, &set) != 0) {
    std::fprintf(stderr, "conditions: sched_setaffinity(CPU %d) failed (%s)\n", cpu, std::strerror(errno));
  }
}

// ---- Rows and statistics ------------------------------------------------------------

struct Row {
  Row(std::string section_name, std::string scenario_name, std::string_view impl_name)
      : section(std::move(section_name)), scenario(std::move(scenario_name)), impl(impl_name) {}
  std::string section;
  std::string scenario;
  std::string impl;
  std::size_t count = 0;
  std::optional<double> mitems_per_s, cpu_us_per_item, switches_per_item, p50_ns, p99_ns;
};

using fev_bench::add_percentiles;

void add_usage(Row& row, const Usage& before, const Usage& after, std::size_t items) {
  const fev_bench::PerUnit per_item = fev_bench::per_unit(before, after, items);
  row.cpu_us_per_item = per_item.cpu_us;
  row.switches_per_item = per_item.switches;
}

// ---- pool: consumers parked on one queue, spaced items ------------------------------

template <class Q>
Row pool_run(const Options& options, int consumers) {
  const std::size_t items = options.pool_items;
  Q queue(kCapacity);
  std::latch ready(consumers);
  std::atomic<std::size_t> consumed{0};
  std::vector<std::vector<std::int64_t>> latencies(static_cast<std::size_t>(consumers));
  std::vector<std::uint64_t> sums(static_cast<std::size_t>(consumers), 0);
  std::vector<std::thread> threads;
  threads.reserve(static_cast<std::size_t>(consumers));
  for (int c = 0; c < consumers; ++c) {
    threads.emplace_back([&, c] {
      auto token = queue.consumer();
      auto& mine = latencies[static_cast<std::size_t>(c)];
      mine.reserve(items);
      std::uint64_t sum = 0;
      ready.count_down();
      for (;;) {
        Item item = 0;
        queue.pop(token, item);
        if (item == 0) break;  // the stop item: one per consumer, after the measurement
        mine.push_back(now_ns() - static_cast<std::int64_t>(item));
        sum += item;
        consumed.fetch_add(1, std::memory_order_relaxed);  // only counted; the join orders the data
      }
      sums[static_cast<std::size_t>(c)] = sum;  // read after join
    });
  }
  ready.wait();
  // Let every consumer reach pop() and park before the clock starts.
  std::this_thread::sleep_for(options.quick ? std::chrono::milliseconds(5) : std::chrono::milliseconds(30));

  auto producer = queue.producer();
  std::mt19937_64 random(20240601);  // the same gaps for every queue
  std::uniform_int_distribution<int> gap_ns(50000, 150000);
  std::uint64_t pushed_sum = 0;
  const Usage before = Usage::now();
  const auto begin = Clock::now();
  auto next = begin;
  for (std::size_t i = 0; i < items; ++i) {
    next += std::chrono::nanoseconds(gap_ns(random));
    sleep_until(next);
    const Item stamp = static_cast<Item>(now_ns());
    pushed_sum += stamp;
    queue.push(producer, (options.corrupt && i == 0) ? stamp + 1 : stamp);
  }
  // The last item is taken within microseconds; poll for it without burning a CPU.
  while (consumed.load(std::memory_order_relaxed) < items) std::this_thread::sleep_for(std::chrono::microseconds(200));
  const Usage after = Usage::now();
  for (int c = 0; c < consumers; ++c) queue.push(producer, 0);
  for (std::thread& thread : threads) thread.join();

  Row row("pool", std::to_string(consumers) + " consumers", std::string(Q::name));
  row.count = items;
  std::uint64_t popped_sum = 0;
  std::vector<std::int64_t> all;
  all.reserve(items);
  for (int c = 0; c < consumers; ++c) {
    popped_sum += sums[static_cast<std::size_t>(c)];
    all.insert(all.end(), latencies[static_cast<std::size_t>(c)].begin(), latencies[static_cast<std::size_t>(c)].end());
  }
  if (all.size() != items || popped_sum != pushed_sum) {
    data_check_failed("pool, " + row.scenario + ", " + row.impl + ": popped " + std::to_string(all.size()) + " of " +
                      std::to_string(items) + " items" +
                      (popped_sum != pushed_sum ? ", and their sum differs from the pushed sum" : ""));
  }
  add_usage(row, before, after, items);
  add_percentiles(row, std::move(all));
  return row;
}

// ---- mix: oversubscribed throughput ----------------------------------------------------

template <class Q>
Row mix_run(const Options& options, int producers, int consumers) {
  const std::uint64_t items = options.items;
  const std::uint64_t per_producer = items / static_cast<std::uint64_t>(producers);
  const std::uint64_t per_consumer = items / static_cast<std::uint64_t>(consumers);
  const std::uint64_t expected_sum = items * (items + 1) / 2;  // items are 1..items
  Q queue(kCapacity);
  std::latch ready(producers + consumers);
  std::latch start(1);
  std::atomic<std::uint64_t> sum{0};
  std::vector<std::thread> threads;
  threads.reserve(static_cast<std::size_t>(producers + consumers));
  for (int p = 0; p < producers; ++p) {
    threads.emplace_back([&, p] {
      auto token = queue.producer();
      ready.count_down();
      start.wait();
      const std::uint64_t first = static_cast<std::uint64_t>(p) * per_producer + 1;
      queue.push(token, (options.corrupt && p == 0) ? first + 1 : first);
      for (std::uint64_t i = 1; i < per_producer; ++i) queue.push(token, first + i);
    });
  }
  for (int c = 0; c < consumers; ++c) {
    threads.emplace_back([&] {
      auto token = queue.consumer();
      ready.count_down();
      start.wait();
      std::uint64_t local = 0;
      Item item = 0;
      for (std::uint64_t i = 0; i < per_consumer; ++i) {
        queue.pop(token, item);
        local += item;
      }
      sum.fetch_add(local, std::memory_order_relaxed);  // read after join
    });
  }
  ready.wait();
  const Usage before = Usage::now();
  const auto begin = Clock::now();
  start.count_down();
  for (std::thread& thread : threads) thread.join();
  const auto end = Clock::now();
  const Usage after = Usage::now();

  Row row("mix", std::to_string(producers) + "P" + std::to_string(consumers) + "C", std::string(Q::name));
  if (sum.load(std::memory_order_relaxed) != expected_sum) {
    data_check_failed("mix, " + row.scenario + ", " + row.impl +
                      ": the popped items do not add up to the pushed ones");
  }
  row.count = items;
  row.mitems_per_s = static_cast<double>(items) / std::chrono::duration<double>(end - begin).count() / 1e6;
  add_usage(row, before, after, items);
  return row;
}

// ---- pingpong: round trip, one CPU or two ---------------------------------------------

// Runs `body` in a new thread and waits for it: every row starts from fresh threads, so
// nothing a thread learned in one row (a per-thread spin history) carries into the next.
template <class Body>
void in_fresh_thread(Body&& body) {
  std::thread thread(std::forward<Body>(body));
  thread.join();
}

// main_cpu: the CPU of the measuring thread; echo_cpu: the CPU of the echo thread.
template <class E>
Row ping_pong(const Options& options, int main_cpu, int echo_cpu, const std::string& scenario) {
  const std::size_t warmup = std::min<std::size_t>(options.rounds / 20, 1000);
  const std::size_t total = warmup + options.rounds;
  std::vector<std::int64_t> samples;
  samples.reserve(options.rounds);
  in_fresh_thread([&] {
    E ping;
    E pong;
    // Written before set() and read after the matching wait(): the events order them.
    std::size_t sent = 0;
    std::size_t echoed = 0;
    bool stop = false;
    pin_self_to(main_cpu);
    std::thread echo([&] {
      pin_self_to(echo_cpu);
      for (;;) {
        ping.wait();
        ping.clear();
        if (stop) return;
        echoed = sent;
        pong.set();
      }
    });
    for (std::size_t round = 0; round < total; ++round) {
      sent = round + 1;
      const auto begin = Clock::now();
      ping.set();
      pong.wait();
      const auto end = Clock::now();
      pong.clear();
      if (echoed != round + 1) {
        data_check_failed("pingpong, " + scenario + ", " + std::string(E::name) + ": round " +
                          std::to_string(round + 1) + " returned before the echo answered it");
      }
      if (round >= warmup) samples.push_back(std::chrono::duration_cast<std::chrono::nanoseconds>(end - begin).count());
    }
    stop = true;
    ping.set();
    echo.join();
  });
  Row row("pingpong", scenario, std::string(E::name));
  row.count = options.rounds;
  add_percentiles(row, std::move(samples));
  return row;
}

// ---- wake: one-way wake of a parked waiter -----------------------------------------------

template <class E>
Row parked_wake(const Options& options, int setter_cpu, int waiter_cpu) {
  const std::size_t total = options.wakes + 2;  // two warm-up rounds
  std::vector<std::int64_t> set_at(total);
  std::vector<std::int64_t> woke_at(total);
  in_fresh_thread([&] {
    E event;
    std::atomic<std::size_t> armed{0};  // the waiter is about to wait for round armed - 1
    pin_self_to(setter_cpu);
    std::thread waiter([&] {
      pin_self_to(waiter_cpu);
      for (std::size_t round = 0; round < total; ++round) {
        // release: the setter's set() for this round must come after our clear() of the last.
        armed.store(round + 1, std::memory_order_release);
        event.wait();
        woke_at[round] = now_ns();
        event.clear();
      }
    });
    for (std::size_t round = 0; round < total; ++round) {
      while (armed.load(std::memory_order_acquire) != round + 1) std::this_thread::yield();
      sleep_until(Clock::now() + std::chrono::microseconds(200));
      set_at[round] = now_ns();
      event.set();
    }
    waiter.join();
  });
  Row row("wake", "parked waiter", std::string(E::name));
  row.count = options.wakes;
  std::vector<std::int64_t> samples;
  samples.reserve(options.wakes);
  for (std::size_t round = 2; round < total; ++round) {
    if (woke_at[round] < set_at[round]) {
      data_check_failed("wake, " + row.impl + ": the waiter returned before set() in round " + std::to_string(round));
    }
    samples.push_back(woke_at[round] - set_at[round]);
  }
  add_percentiles(row, std::move(samples));
  return row;
}

// ---- The implementations ---------------------------------------------------------------

struct QueueImpl {
  std::string_view name;
  Row (*pool)(const Options&, int);
  Row (*mix)(const Options&, int, int);
};

template <class Q>
QueueImpl make_queue() {
  return {Q::name, &pool_run<Q>, &mix_run<Q>};
}

std::vector<QueueImpl> queue_impls() {
  std::vector<QueueImpl> impls{make_queue<fev_bench::FevQueue>(), make_queue<fev_bench::MutexCondvarQueue>()};
#if FEV_BENCH_HAVE_TBB
  impls.push_back(make_queue<fev_bench::TbbQueue>());
#endif
#if FEV_BENCH_HAVE_MOODYCAMEL
  impls.push_back(make_queue<fev_bench::MoodycamelQueue>());
  impls.push_back(make_queue<fev_bench::MoodycamelBoundedQueue>());
#endif
  return impls;
}

struct EventImpl {
  std::string_view name;
  Row (*ping_pong)(const Options&, int, int, const std::string&);
  Row (*wake)(const Options&, int, int);
  bool in_wake;  // the wake section compares fev with the blocking baselines only
};

template <class E>
EventImpl make_event(bool in_wake) {
  return {E::name, &ping_pong<E>, &parked_wake<E>, in_wake};
}

std::vector<EventImpl> event_impls() {
  std::vector<EventImpl> impls{make_event<fev_bench::FevEvent>(true)};
#if FEV_BENCH_HAVE_FUTEX
  impls.push_back(make_event<fev_bench::FutexEvent>(true));
#endif
  impls.push_back(make_event<fev_bench::CondvarEvent>(true));
  impls.push_back(make_event<fev_bench::AtomicWaitEvent>(true));
  impls.push_back(make_event<fev_bench::CondvarSpinEvent>(false));
  impls.push_back(make_event<fev_bench::AtomicWaitSpinEvent>(false));
  return impls;
}

// ---- Output ------------------------------------------------------------------------------

using fev_bench::Better;
using Column = fev_bench::Column<Row>;

// fev against the best peer (the best implementation other than fev) in one column;
// "-" when either is missing.
std::string fev_against_best_peer(const std::vector<Row>& rows, std::size_t first, std::size_t end,
                                  std::optional<double> Row::*field, Better better) {
  std::optional<double> fev;
  std::optional<double> best;
  for (std::size_t i = first; i < end; ++i) {
    const std::optional<double> value = rows[i].*field;
    if (!value) continue;
    if (rows[i].impl == "fev") {
      fev = value;
    } else if (!best || fev_bench::beats(better, *value, *best)) {
      best = value;
    }
  }
  if (!fev || !best || *fev <= 0 || *best <= 0) return "-";
  return fev_bench::against_best_peer_text(better, *fev, *best);
}

// Prints rows [first, end) of one scenario, and a last line with fev against the best peer per column.
void print_scenario(const std::vector<Row>& rows, std::size_t first, std::size_t end, const std::vector<Column>& columns) {
  std::printf("  %s\n", rows[first].scenario.c_str());
  for (std::size_t i = first; i < end; ++i) {
    std::printf("    %-18s", rows[i].impl.c_str());
    for (const Column& column : columns) {
      std::optional<double> value = rows[i].*column.field;
      if (value) *value *= column.scale;
      std::printf(" %13s", fev_bench::value_text(value, column.precision).c_str());
    }
    std::printf("\n");
  }
  std::printf("    %-18s", "fev vs best peer");
  for (const Column& column : columns) {
    std::printf(" %13s", fev_against_best_peer(rows, first, end, column.field, column.better).c_str());
  }
  std::printf("\n");
  std::fflush(stdout);
}

void print_header(const char* title, const std::vector<Column>& columns) {
  std::printf("\n%s\n    %-18s", title, "impl");
  for (const Column& column : columns) std::printf(" %13s", column.title);
  std::printf("\n");
}

bool write_csv(const std::string& path, const std::vector<Row>& rows) {
  // Names never hold a comma (scenarios are written without one), so no field is quoted.
  std::ofstream out(path);
  out << "section,scenario,impl,count,mitems_per_s,cpu_us_per_item,switches_per_item,p50_ns,p99_ns\n";
  for (const Row& row : rows) {
    out << row.section << ',' << row.scenario << ',' << row.impl << ',' << row.count;
    for (const auto& value : {row.mitems_per_s, row.cpu_us_per_item, row.switches_per_item, row.p50_ns, row.p99_ns}) {
      out << ',';
      if (value) out << *value;
    }
    out << '\n';
  }
  return static_cast<bool>(out);
}

// ---- Command line --------------------------------------------------------------------------

void usage(std::FILE* to) {
  std::fprintf(to,
               "usage: conditions [options]\n"
               "  --quick            a smoke run: tiny counts, a few seconds\n"
               "  --items N          mix: items per run, rounded down to a multiple of 16 (default 262144)\n"
               "  --pool-items N     pool: items per consumer count (default 1500)\n"
               "  --rounds N         pingpong: round trips per row (default 20000)\n"
               "  --wakes N          wake: samples per row (default 1000)\n"
               "  --section S,...    pool, mix, pingpong, wake (default all)\n"
               "  --stall-s N        a run that takes longer fails the data check (default 60)\n"
               "  --csv FILE         also write every row as CSV\n");
}

using fev_bench::parse_int;
using fev_bench::split;

// Returns an empty string, or the reason the arguments are bad.
std::string parse(int argc, char** argv, Options& options) {
  bool items_given = false, pool_given = false, rounds_given = false, wakes_given = false;
  fev_bench::Arguments args(argc, argv);
  while (args.next()) {
    const std::string_view arg = args.name();
    std::string_view value;
    const auto need_value = [&] { return args.value(value); };
    const std::string bad = "bad or missing value for " + std::string(arg);
    if (arg == "--help" || arg == "-h") {
      usage(stdout);
      std::exit(0);
    } else if (arg == "--quick") {
      options.quick = true;
    } else if (arg == "--self-test-corrupt") {
      options.corrupt = true;
    } else if (arg == "--items") {
      if (!need_value() || !parse_int(value, options.items) || options.items < 16) return bad + " (>= 16)";
      items_given = true;
    } else if (arg == "--pool-items") {
      if (!need_value() || !parse_int(value, options.pool_items) || options.pool_items == 0) return bad + " (>= 1)";
      pool_given = true;
    } else if (arg == "--rounds") {
      if (!need_value() || !parse_int(value, options.rounds) || options.rounds == 0) return bad + " (>= 1)";
      rounds_given = true;
    } else if (arg == "--wakes") {
      if (!need_value() || !parse_int(value, options.wakes) || options.wakes == 0) return bad + " (>= 1)";
      wakes_given = true;
    } else if (arg == "--stall-s") {
      if (!need_value() || !parse_int(value, options.stall_s) || options.stall_s <= 0) return bad + " (>= 1)";
    } else if (arg == "--section") {
      if (!need_value()) return bad;
      options.sections = split(value);
      for (const std::string& section : options.sections) {
        if (section != "pool" && section != "mix" && section != "pingpong" && section != "wake")
          return "unknown section " + section + " (pool, mix, pingpong, wake)";
      }
    } else if (arg == "--csv") {
      if (!need_value()) return bad;
      options.csv = std::string(value);
    } else {
      return "unknown argument " + std::string(args.whole());
    }
  }
  if (options.quick) {
    if (!items_given) options.items = 4096;
    if (!pool_given) options.pool_items = 40;
    if (!rounds_given) options.rounds = 300;
    if (!wakes_given) options.wakes = 30;
  }
  options.items = options.items / 16 * 16;  // every mix divides the items evenly
  return {};
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  if (const std::string error = parse(argc, argv, options); !error.empty()) {
    std::fprintf(stderr, "conditions: %s (see --help)\n", error.c_str());
    return kBadArgument;
  }
  (void)::prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);  // precise sleeps; harmless if refused
  read_allowed_cpus();
  Watchdog watchdog("conditions", std::chrono::seconds(options.stall_s), "a lost wakeup or a deadlock");
  g_watchdog = &watchdog;

  std::printf("conditions: %u CPUs online, %zu allowed; fev spin limit %lld ns%s\n", std::thread::hardware_concurrency(),
              g_cpus.size(), static_cast<long long>(fev::spin_limit().count()), options.quick ? "; --quick" : "");
  std::vector<Row> rows;

  if (options.wants("pool")) {
    const std::vector<Column> columns{{"CPU us/item", &Row::cpu_us_per_item, 1, Better::lower},
                                      {"switch/item", &Row::switches_per_item, 2, Better::lower},
                                      {"p50 us", &Row::p50_ns, 1, Better::lower, 1e-3},
                                      {"p99 us", &Row::p99_ns, 1, Better::lower, 1e-3}};
    print_header(("worker pool: consumers parked on one queue, 1 producer, an item every 50-150 us, " +
                  std::to_string(options.pool_items) + " items (CPU and switches of the whole process; latency push -> pop)")
                     .c_str(),
                 columns);
    for (const int consumers : {1, 4, 16, 64}) {
      const std::size_t first = rows.size();
      for (const QueueImpl& impl : queue_impls()) {
        const Armed armed("pool, " + std::to_string(consumers) + " consumers, " + std::string(impl.name));
        rows.push_back(impl.pool(options, consumers));
      }
      print_scenario(rows, first, rows.size(), columns);
    }
  }

  if (options.wants("mix")) {
    const std::vector<Column> columns{{"M items/s", &Row::mitems_per_s, 2, Better::higher},
                                      {"CPU us/item", &Row::cpu_us_per_item, 2, Better::lower},
                                      {"switch/item", &Row::switches_per_item, 3, Better::lower}};
    print_header(("oversubscribed throughput, capacity 1024, " + std::to_string(options.items) +
                  " items per run (P producers, C consumers; " + std::to_string(g_cpus.size()) + " CPUs)")
                     .c_str(),
                 columns);
    constexpr int kMixes[][2] = {{8, 8}, {16, 16}, {1, 16}, {16, 1}, {4, 1}};
    for (const auto& mix : kMixes) {
      const std::size_t first = rows.size();
      for (const QueueImpl& impl : queue_impls()) {
        const Armed armed("mix, " + std::to_string(mix[0]) + "P" + std::to_string(mix[1]) + "C, " +
                          std::string(impl.name));
        rows.push_back(impl.mix(options, mix[0], mix[1]));
      }
      print_scenario(rows, first, rows.size(), columns);
    }
  }

  const std::vector<Column> latency_columns{{"p50 ns", &Row::p50_ns, 0, Better::lower},
                                            {"p99 ns", &Row::p99_ns, 0, Better::lower}};
  if (options.wants("pingpong") && !g_cpus.empty()) {
    print_header(("Event ping-pong round trip, " + std::to_string(options.rounds) +
                  " rounds (condvar_spin, atomic_wait_spin: spin as long as fev before blocking)")
                     .c_str(),
                 latency_columns);
    struct Placement {
      std::string scenario;
      int main_cpu, echo_cpu;
    };
    std::vector<Placement> placements{{"both threads on one CPU (" + std::to_string(g_cpus[0]) + ")", g_cpus[0], g_cpus[0]}};
    if (g_cpus.size() >= 2) {
      placements.push_back({"two CPUs (" + std::to_string(g_cpus[0]) + " and " + std::to_string(g_cpus[1]) + ")",
                            g_cpus[0], g_cpus[1]});
    } else {
      std::printf("  (only one CPU allowed: no two-CPU rows)\n");
    }
    for (const Placement& placement : placements) {
      const std::size_t first = rows.size();
      for (const EventImpl& impl : event_impls()) {
        const Armed armed("pingpong, " + placement.scenario + ", " + std::string(impl.name));
        rows.push_back(impl.ping_pong(options, placement.main_cpu, placement.echo_cpu, placement.scenario));
      }
      print_scenario(rows, first, rows.size(), latency_columns);
    }
  }

  if (options.wants("wake") && !g_cpus.empty()) {
    const int setter_cpu = g_cpus[0];
    const int waiter_cpu = g_cpus.size() >= 2 ? g_cpus[1] : g_cpus[0];
    print_header(("one-way wake of a parked waiter (set -> wait returned; setter on CPU " + std::to_string(setter_cpu) +
                  ", waiter on CPU " + std::to_string(waiter_cpu) + "), " + std::to_string(options.wakes) + " samples")
                     .c_str(),
                 latency_columns);
    const std::size_t first = rows.size();
    for (const EventImpl& impl : event_impls()) {
      if (!impl.in_wake) continue;
      const Armed armed("wake, " + std::string(impl.name));
      rows.push_back(impl.wake(options, setter_cpu, waiter_cpu));
    }
    print_scenario(rows, first, rows.size(), latency_columns);
  }

  if (!options.csv.empty() && !write_csv(options.csv, rows)) {
    std::fprintf(stderr, "conditions: cannot write %s\n", options.csv.c_str());
    return 1;
  }
  return 0;
}
