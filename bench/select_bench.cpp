// SPDX-License-Identifier: MIT
// bench/select_bench.cpp — one consumer serving N sources (N = 2 and 8): fev::select over
// N fev::Rings against the ways a program does the same without it, in one run.
//
// Contenders. Each source is one queue of --capacity items (default 1024) unless said
// otherwise; the consumer learns which source an item came from.
//
//   fev_select    N fev::Ring<Item>; the consumer calls fev::select(on_pop(ring_0, v), ...,
//                 on_pop(ring_N-1, v)) once per item: it tries the rings, polls within
//                 fev::spin_limit(), then sleeps in one futex_waitv on all N rings.
//   fev_one_ring  a reference, not a select: one fev::Ring of (source, value) pairs that
//                 every source pushes to (capacity N * --capacity). What a program gives
//                 up a queue per source for.
//   cv_poll       N blocking queues, each std::mutex + std::deque + its own two
//                 std::condition_variables (not empty, not full): the queue a program
//                 already has per source. A condition variable cannot wait for N others,
//                 so the consumer tries every queue round-robin (from the one after the
//                 last served); when all are empty it waits on the next queue's "not
//                 empty" for at most --poll-us (default 100 us), then tries all again. An
//                 item on a queue it is not waiting on waits for the end of that slice.
//                 The alternative without a timeout, one condition variable that every
//                 producer notifies, needs one mutex over all N queues: that is go_hub.
//   go_hub        a Go-like channel select: N bounded channels (std::deque) under ONE
//                 std::mutex, one std::condition_variable the selecting consumer waits
//                 on, and one per channel for its blocked sender. Go's runtime locks
//                 every channel of a select and parks the goroutine on all of them; one
//                 mutex over the N channels is the analogue for threads. A sender
//                 notifies only when the consumer waits (as Go hands a value to a parked
//                 receiver); the consumer takes the first non-empty channel round-robin.
//   moodycamel_tagged  one moodycamel::BlockingConcurrentQueue of (source, value) pairs,
//                 a producer token per thread, wait_dequeue with a consumer token. NOT
//                 BOUNDED: its producers never wait for the consumer. Its semaphore
//                 spins (about 10^4 polls) before it parks.
//
// Sections (--section latency,throughput; default both), each for N = 2 and N = 8:
//
//   latency     one producer thread sends an item every 50-150 us (--gap-us; uniformly
//               random gaps) to a source chosen uniformly at random, both from one fixed
//               seed, so every contender sees the same schedule; the consumer is idle
//               between items (parked, or spinning where its policy spins). Each item
//               carries its push time; the sample is push -> pop returned in the
//               consumer. Reported: p50 and p99 over --samples items, and the consumer
//               thread's CPU time (CLOCK_THREAD_CPUTIME_ID), context switches
//               (getrusage(RUSAGE_THREAD), voluntary + involuntary) and time runnable
//               but waiting for a CPU (/proc/thread-self/schedstat) per item: a p50 far
//               above the wake-up cost with a large runqueue wait is CPU contention.
//   throughput  NP1C: N producers, each owning one source, push --items/N items each as
//               fast as the queue takes them (blocking while it is full); one consumer
//               takes them all. Million items/s (wall clock), CPU time and context
//               switches of the whole process per item; --repeat runs per contender,
//               interleaved, the run with the median rate reported.
//
// Data checks (exit status 1, "data check failed" on stderr): every run compares, per
// source, the count and the sum of the items the consumer took with those pushed to
// that source; a run that makes no progress for --stall-s seconds stops the program.
//
// Output: a table per section and N on stdout, each ending with one line per other
// contender: "fev_select vs <name>" per column, "level" (within 10%), "Nx better" or
// "Nx worse"; --csv FILE writes every row as CSV:
//   section,scenario,impl,count,p50_ns,p99_ns,cpu_us_per_item,switches_per_item,
//   runqueue_us_per_item,mitems_per_s
// (fields that do not apply are empty). Exit status: 0, 1 on a failed data check, 2 on a
// bad argument.
#include <sys/prctl.h>
#include <sys/resource.h>
#include <time.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <fstream>
#include <latch>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "arguments.hpp"
#include "bench_config.hpp"
#include "compare.hpp"
#include "data_check.hpp"
#include "fev/ring.hpp"
#include "fev/select.hpp"
#include "fev/spin.hpp"
#include "measure.hpp"

#if FEV_BENCH_HAVE_MOODYCAMEL
#include <concurrentqueue/blockingconcurrentqueue.h>
#endif

namespace {

using fev_bench::Clock;
using fev_bench::now_ns;
using fev_bench::Usage;
using fev_bench::Watchdog;
using Item = std::uint64_t;

constexpr int kBadArgument = 2;

struct Options {
  bool quick = false;
  std::size_t samples = 3000;                    // latency: items per row
  std::uint64_t items = std::uint64_t{1} << 18;  // throughput: items per run
  std::size_t repeat = 3;                        // throughput: runs per contender
  std::size_t capacity = 1024;                   // items per source queue
  std::chrono::microseconds poll{100};           // cv_poll: the longest wait on one queue
  long gap_min_us = 50;
  long gap_max_us = 150;
  long stall_s = 60;
  long fev_spin_ns = -1;  // -1: leave fev's default
  std::vector<std::string> sections{"latency", "throughput"};
  std::vector<std::size_t> sources{2, 8};
  std::vector<std::string> impls;  // empty: all
  std::string csv;
  bool corrupt = false;  // --self-test-corrupt: one pushed item off by one, to prove the check fails

  bool wants(std::string_view section) const {
    return std::find(sections.begin(), sections.end(), section) != sections.end();
  }
  bool wants_impl(std::string_view name) const {
    return impls.empty() || std::find(impls.begin(), impls.end(), name) != impls.end();
  }
  bool wants(std::size_t count) const { return std::find(sources.begin(), sources.end(), count) != sources.end(); }
};

[[noreturn]] void data_check_failed(const std::string& what) { fev_bench::data_check_failed("select_bench", what); }

// An item with the source it was sent to, for the contenders with one queue for all.
struct Tagged {
  Item value = 0;
  std::size_t source = 0;
};

struct NoToken {};

// ---- fev_select: N rings, one fev::select per item ----------------------------------

template <std::size_t N>
class FevSelect {
 public:
  static constexpr std::string_view name = "fev_select";
  using Producer = NoToken;
  using Consumer = NoToken;
  explicit FevSelect(const Options& options) {
    for (auto& ring : rings_) ring = std::make_unique<fev::Ring<Item>>(options.capacity);
  }
  Producer producer() { return {}; }
  Consumer consumer() { return {}; }
  void push(Producer&, std::size_t source, Item value) { (void)rings_[source]->push(value); }
  // Takes one item; returns its source.
  std::size_t pop(Consumer&, Item& value) {
    const fev::Selected fired = [&]<std::size_t... I>(std::index_sequence<I...>) {
      return fev::select(fev::on_pop(*rings_[I], value)...);
    }(std::make_index_sequence<N>{});
    if (fired.status != fev::Status::ok) data_check_failed("fev_select: a select on open rings did not pop");
    return fired.index;
  }

 private:
  std::array<std::unique_ptr<fev::Ring<Item>>, N> rings_;
};

// ---- fev_one_ring: one ring of tagged items (a reference) ------------------------------

template <std::size_t N>
class FevOneRing {
 public:
  static constexpr std::string_view name = "fev_one_ring";
  using Producer = NoToken;
  using Consumer = NoToken;
  explicit FevOneRing(const Options& options) : ring_(N * options.capacity) {}
  Producer producer() { return {}; }
  Consumer consumer() { return {}; }
  void push(Producer&, std::size_t source, Item value) { (void)ring_.push(Tagged{value, source}); }
  std::size_t pop(Consumer&, Item& value) {
    Tagged item;
    (void)ring_.pop(item);
    value = item.value;
    return item.source;
  }

 private:
  fev::Ring<Tagged> ring_;
};

// ---- cv_poll: a mutex + deque + condition variable queue per source, polled -----------

// The textbook bounded blocking queue, with a timed pop.
class CvQueue {
 public:
  explicit CvQueue(std::size_t capacity) : capacity_(capacity) {}
  void push(Item value) {
    {
      std::unique_lock<std::mutex> lock(mutex_);
      not_full_.wait(lock, [this] { return items_.size() < capacity_; });
      items_.push_back(value);
    }
    not_empty_.notify_one();
  }
  bool try_pop(Item& value) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (items_.empty()) return false;
      value = items_.front();
      items_.pop_front();
    }
    not_full_.notify_one();
    return true;
  }
  // As try_pop, waiting at most `timeout` for an item.
  bool pop_for(Item& value, std::chrono::microseconds timeout) {
    {
      std::unique_lock<std::mutex> lock(mutex_);
      if (!not_empty_.wait_for(lock, timeout, [this] { return !items_.empty(); })) return false;
      value = items_.front();
      items_.pop_front();
    }
    not_full_.notify_one();
    return true;
  }

 private:
  const std::size_t capacity_;
  std::mutex mutex_;
  std::condition_variable not_empty_;
  std::condition_variable not_full_;
  std::deque<Item> items_;
};

template <std::size_t N>
class CvPoll {
 public:
  static constexpr std::string_view name = "cv_poll";
  using Producer = NoToken;
  struct Consumer {
    std::size_t next = 0;  // the queue tried (and waited on) first next time
  };
  explicit CvPoll(const Options& options) : poll_(options.poll) {
    for (auto& queue : queues_) queue = std::make_unique<CvQueue>(options.capacity);
  }
  Producer producer() { return {}; }
  Consumer consumer() { return {}; }
  void push(Producer&, std::size_t source, Item value) { queues_[source]->push(value); }
  std::size_t pop(Consumer& consumer, Item& value) {
    for (;;) {
      for (std::size_t k = 0; k < N; ++k) {
        const std::size_t source = (consumer.next + k) % N;
        if (queues_[source]->try_pop(value)) {
          consumer.next = (source + 1) % N;
          return source;
        }
      }
      // All empty: wait on one queue for a slice, the next one in turn each time.
      const std::size_t source = consumer.next;
      consumer.next = (source + 1) % N;
      if (queues_[source]->pop_for(value, poll_)) return source;
    }
  }

 private:
  const std::chrono::microseconds poll_;
  std::array<std::unique_ptr<CvQueue>, N> queues_;
};

// ---- go_hub: N channels under one mutex, the selecting consumer on one cv --------------

template <std::size_t N>
class GoHub {
 public:
  static constexpr std::string_view name = "go_hub";
  using Producer = NoToken;
  struct Consumer {
    std::size_t next = 0;  // the channel looked at first next time
  };
  explicit GoHub(const Options& options) : capacity_(options.capacity) {}
  Producer producer() { return {}; }
  Consumer consumer() { return {}; }
  void push(Producer&, std::size_t source, Item value) {
    Channel& channel = channels_[source];
    std::unique_lock<std::mutex> lock(mutex_);
    if (channel.items.size() == capacity_) {
      ++channel.blocked_senders;
      channel.not_full.wait(lock, [&] { return channel.items.size() < capacity_; });
      --channel.blocked_senders;
    }
    channel.items.push_back(value);
    const bool wake = consumer_waiting_;
    lock.unlock();
    if (wake) consumer_ready_.notify_one();
  }
  std::size_t pop(Consumer& consumer, Item& value) {
    std::unique_lock<std::mutex> lock(mutex_);
    for (;;) {
      for (std::size_t k = 0; k < N; ++k) {
        const std::size_t source = (consumer.next + k) % N;
        Channel& channel = channels_[source];
        if (channel.items.empty()) continue;
        value = channel.items.front();
        channel.items.pop_front();
        const bool wake = channel.blocked_senders > 0;
        lock.unlock();
        if (wake) channel.not_full.notify_one();
        consumer.next = (source + 1) % N;
        return source;
      }
      consumer_waiting_ = true;
      consumer_ready_.wait(lock);
      consumer_waiting_ = false;
    }
  }

 private:
  struct Channel {
    std::deque<Item> items;
    std::condition_variable not_full;
    std::size_t blocked_senders = 0;
  };
  const std::size_t capacity_;
  std::mutex mutex_;  // guards every channel and consumer_waiting_
  std::condition_variable consumer_ready_;
  bool consumer_waiting_ = false;
  std::array<Channel, N> channels_;
};

// ---- moodycamel_tagged: one unbounded queue of tagged items ----------------------------

#if FEV_BENCH_HAVE_MOODYCAMEL
template <std::size_t N>
class MoodycamelTagged {
 public:
  static constexpr std::string_view name = "moodycamel_tagged";
  using Queue = moodycamel::BlockingConcurrentQueue<Tagged>;
  using Producer = moodycamel::ProducerToken;
  using Consumer = moodycamel::ConsumerToken;
  explicit MoodycamelTagged(const Options& options) : queue_(N * options.capacity) {}
  Producer producer() { return Producer(queue_); }
  Consumer consumer() { return Consumer(queue_); }
  void push(Producer& token, std::size_t source, Item value) { (void)queue_.enqueue(token, Tagged{value, source}); }
  std::size_t pop(Consumer& token, Item& value) {
    Tagged item;
    queue_.wait_dequeue(token, item);
    value = item.value;
    return item.source;
  }

 private:
  Queue queue_;
};
#endif

// ---- Measurement ------------------------------------------------------------------------

Watchdog* g_watchdog = nullptr;

struct Armed {
  explicit Armed(std::string label) { g_watchdog->arm(std::move(label)); }
  Armed(const Armed&) = delete;
  Armed& operator=(const Armed&) = delete;
  ~Armed() { g_watchdog->disarm(); }
};

// The calling thread's CPU time and context switches (voluntary + involuntary) so far.
struct ThreadUsage {
  double cpu_s = 0;
  long switches = 0;

  static ThreadUsage now() {
    ThreadUsage usage;
    timespec cpu{};
    (void)::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &cpu);
    usage.cpu_s = static_cast<double>(cpu.tv_sec) + static_cast<double>(cpu.tv_nsec) * 1e-9;
    rusage self{};
    (void)::getrusage(RUSAGE_THREAD, &self);
    usage.switches = self.ru_nvcsw + self.ru_nivcsw;
    return usage;
  }
};

// How long the calling thread has been runnable but not running (waiting for a CPU), in
// ns, from /proc/thread-self/schedstat's second field; -1 where that cannot be read.
std::int64_t runqueue_wait_ns() {
  std::ifstream in("/proc/thread-self/schedstat");
  std::int64_t running = 0, waiting = -1;
  if (!(in >> running >> waiting)) return -1;
  return waiting;
}

// What went through one source.
struct Tally {
  std::uint64_t count = 0;
  std::uint64_t sum = 0;  // wraps; compared exactly
  void add(Item value) {
    ++count;
    sum += value;
  }
  friend bool operator==(const Tally&, const Tally&) = default;
};

template <std::size_t N>
void check_tallies(const std::string& run, const std::array<Tally, N>& pushed, const std::array<Tally, N>& popped) {
  for (std::size_t source = 0; source < N; ++source) {
    if (pushed[source] == popped[source]) continue;
    data_check_failed(run + ": source " + std::to_string(source) + " got " + std::to_string(popped[source].count) +
                      " of " + std::to_string(pushed[source].count) + " items" +
                      (popped[source].sum != pushed[source].sum ? ", and their sum differs from the pushed sum" : ""));
  }
}

struct Row {
  Row(std::string section_name, std::string scenario_name, std::string_view impl_name)
      : section(std::move(section_name)), scenario(std::move(scenario_name)), impl(impl_name) {}
  std::string section;
  std::string scenario;
  std::string impl;
  std::size_t count = 0;
  std::optional<double> p50_ns, p99_ns, cpu_us_per_item, switches_per_item, runqueue_us_per_item, mitems_per_s;
};

std::string latency_scenario(std::size_t sources) { return std::to_string(sources) + " sources"; }
std::string throughput_scenario(std::size_t sources) {
  return std::to_string(sources) + "P1C over " + std::to_string(sources) + " sources";
}

// One producer, items spaced in time, each to a random source.
template <template <std::size_t> class S, std::size_t N>
Row latency_run(const Options& options) {
  const std::size_t warmup = std::min<std::size_t>(options.samples / 10, 200);
  const std::size_t total = warmup + options.samples;
  S<N> sources(options);
  Row row("latency", latency_scenario(N), S<N>::name);
  std::vector<std::int64_t> samples(total);  // written by the consumer, read after join
  std::array<Tally, N> pushed{};
  std::array<Tally, N> popped{};  // written by the consumer, read after join
  ThreadUsage used;               // likewise
  std::int64_t runqueue_ns = -1;  // likewise
  std::latch ready(1);
  std::thread consumer([&] {
    auto token = sources.consumer();
    ready.count_down();
    ThreadUsage start = ThreadUsage::now();
    std::int64_t runqueue_start = runqueue_wait_ns();
    for (std::size_t i = 0; i < total; ++i) {
      if (i == warmup) {
        start = ThreadUsage::now();
        runqueue_start = runqueue_wait_ns();
      }
      Item value = 0;
      const std::size_t source = sources.pop(token, value);
      samples[i] = now_ns() - static_cast<std::int64_t>(value);
      if (source >= N) data_check_failed(row.impl + ": an item from source " + std::to_string(source));
      popped[source].add(value);
    }
    const ThreadUsage end = ThreadUsage::now();
    const std::int64_t runqueue_end = runqueue_wait_ns();
    if (runqueue_start >= 0 && runqueue_end >= 0) runqueue_ns = runqueue_end - runqueue_start;
    used.cpu_s = end.cpu_s - start.cpu_s;
    used.switches = end.switches - start.switches;
  });
  ready.wait();
  std::this_thread::sleep_for(std::chrono::milliseconds(2));  // the consumer reaches its first wait

  auto producer = sources.producer();
  std::mt19937_64 random(20261207);  // the same gaps and sources for every contender
  std::uniform_int_distribution<long> gap_ns(options.gap_min_us * 1000, options.gap_max_us * 1000);
  std::uniform_int_distribution<std::size_t> pick(0, N - 1);
  auto next = Clock::now();
  for (std::size_t i = 0; i < total; ++i) {
    next += std::chrono::nanoseconds(gap_ns(random));
    const std::size_t source = pick(random);
    fev_bench::sleep_until(next);
    const Item stamp = static_cast<Item>(now_ns());
    pushed[source].add(stamp);
    sources.push(producer, source, (options.corrupt && i == warmup) ? stamp + 1 : stamp);
  }
  consumer.join();

  check_tallies<N>("latency, " + row.scenario + ", " + row.impl, pushed, popped);
  row.count = options.samples;
  row.cpu_us_per_item = used.cpu_s * 1e6 / static_cast<double>(options.samples);
  row.switches_per_item = static_cast<double>(used.switches) / static_cast<double>(options.samples);
  if (runqueue_ns >= 0) row.runqueue_us_per_item = static_cast<double>(runqueue_ns) * 1e-3 / static_cast<double>(options.samples);
  fev_bench::add_percentiles(row, std::vector<std::int64_t>(samples.begin() + static_cast<std::ptrdiff_t>(warmup),
                                                            samples.end()));
  return row;
}

// N producers, one per source, as fast as they can; one consumer.
template <template <std::size_t> class S, std::size_t N>
Row throughput_run(const Options& options) {
  const std::uint64_t per_source = options.items / N;
  S<N> sources(options);
  Row row("throughput", throughput_scenario(N), S<N>::name);
  std::array<Tally, N> pushed{};  // each source's own, written by its producer, read after join
  std::array<Tally, N> popped{};  // written by the consumer, read after join
  std::latch ready(N + 1);
  std::latch start(1);
  std::vector<std::thread> threads;
  threads.reserve(N + 1);
  for (std::size_t p = 0; p < N; ++p) {
    threads.emplace_back([&, p] {
      auto token = sources.producer();
      ready.count_down();
      start.wait();
      Tally tally;
      for (std::uint64_t i = 1; i <= per_source; ++i) {
        const Item value = p * per_source + i;
        tally.add(value);
        sources.push(token, p, (options.corrupt && p == 0 && i == 1) ? value + 1 : value);
      }
      pushed[p] = tally;
    });
  }
  threads.emplace_back([&] {
    auto token = sources.consumer();
    ready.count_down();
    start.wait();
    for (std::uint64_t i = 0; i < per_source * N; ++i) {
      Item value = 0;
      const std::size_t source = sources.pop(token, value);
      if (source >= N) data_check_failed(row.impl + ": an item from source " + std::to_string(source));
      popped[source].add(value);
    }
  });
  ready.wait();
  const Usage before = Usage::now();
  const auto begin = Clock::now();
  start.count_down();
  for (std::thread& thread : threads) thread.join();
  const auto end = Clock::now();
  const Usage after = Usage::now();

  check_tallies<N>("throughput, " + row.scenario + ", " + row.impl, pushed, popped);
  const std::size_t items = per_source * N;
  row.count = items;
  row.mitems_per_s = static_cast<double>(items) / std::chrono::duration<double>(end - begin).count() / 1e6;
  const fev_bench::PerUnit per_item = fev_bench::per_unit(before, after, items);
  row.cpu_us_per_item = per_item.cpu_us;
  row.switches_per_item = per_item.switches;
  return row;
}

struct Impl {
  std::string_view name;
  Row (*latency)(const Options&);
  Row (*throughput)(const Options&);
};

template <template <std::size_t> class S, std::size_t N>
Impl make_impl() {
  return {S<N>::name, &latency_run<S, N>, &throughput_run<S, N>};
}

template <std::size_t N>
std::vector<Impl> impls() {
  std::vector<Impl> all{make_impl<FevSelect, N>(), make_impl<CvPoll, N>(), make_impl<GoHub, N>()};
#if FEV_BENCH_HAVE_MOODYCAMEL
  all.push_back(make_impl<MoodycamelTagged, N>());
#endif
  all.push_back(make_impl<FevOneRing, N>());
  return all;
}

std::vector<Impl> impls_for(std::size_t sources) { return sources == 2 ? impls<2>() : impls<8>(); }

// The contenders asked for, in the order of impls().
std::vector<Impl> chosen(const Options& options, std::size_t sources) {
  std::vector<Impl> wanted;
  for (const Impl& impl : impls_for(sources))
    if (options.wants_impl(impl.name)) wanted.push_back(impl);
  return wanted;
}

// ---- Output -------------------------------------------------------------------------------

using fev_bench::Better;
using Column = fev_bench::Column<Row>;

void print_header(const std::string& title, const std::vector<Column>& columns) {
  std::printf("\n%s\n    %-32s", title.c_str(), "impl");
  for (const Column& column : columns) std::printf(" %12s", column.title);
  std::printf("\n");
}

// Rows [first, end) of one scenario, then fev_select against every other row, per column.
void print_scenario(const std::vector<Row>& rows, std::size_t first, std::size_t end, const std::vector<Column>& columns) {
  if (first == end) return;
  std::printf("  %s\n", rows[first].scenario.c_str());
  const Row* fev = nullptr;
  for (std::size_t i = first; i < end; ++i) {
    if (rows[i].impl == "fev_select") fev = &rows[i];
    std::printf("    %-32s", rows[i].impl.c_str());
    for (const Column& column : columns) {
      std::optional<double> value = rows[i].*column.field;
      if (value) *value *= column.scale;
      std::printf(" %12s", fev_bench::value_text(value, column.precision).c_str());
    }
    std::printf("\n");
  }
  if (fev) {
    for (std::size_t i = first; i < end; ++i) {
      if (&rows[i] == fev) continue;
      std::printf("    %-32s", ("fev_select vs " + rows[i].impl).c_str());
      for (const Column& column : columns) {
        const std::optional<double> mine = fev->*column.field;
        const std::optional<double> theirs = rows[i].*column.field;
        std::string text = "-";
        if (mine && theirs && *mine > 0 && *theirs > 0)
          text = fev_bench::against_best_peer_text(column.better, *mine, *theirs);
        std::printf(" %12s", text.c_str());
      }
      std::printf("\n");
    }
  }
  std::fflush(stdout);
}

bool write_csv(const std::string& path, const std::vector<Row>& rows) {
  // Names never hold a comma, so no field is quoted.
  std::ofstream out(path);
  out << "section,scenario,impl,count,p50_ns,p99_ns,cpu_us_per_item,switches_per_item,runqueue_us_per_item,"
         "mitems_per_s\n";
  for (const Row& row : rows) {
    out << row.section << ',' << row.scenario << ',' << row.impl << ',' << row.count;
    for (const auto& value : {row.p50_ns, row.p99_ns, row.cpu_us_per_item, row.switches_per_item,
                              row.runqueue_us_per_item, row.mitems_per_s}) {
      out << ',';
      if (value) out << *value;
    }
    out << '\n';
  }
  return static_cast<bool>(out);
}

// The first line of /proc/loadavg ("?" where there is none): how busy the machine was.
std::string load_average() {
  std::ifstream in("/proc/loadavg");
  std::string line;
  if (!std::getline(in, line)) return "?";
  return line;
}

// ---- Command line ---------------------------------------------------------------------------

void usage(std::FILE* to) {
  std::fprintf(to,
               "usage: select_bench [options]\n"
               "  --quick            a smoke run: tiny counts, about a second\n"
               "  --samples N        latency: items per row (default 3000)\n"
               "  --items N          throughput: items per run, rounded down to a multiple of 8 (default 262144)\n"
               "  --repeat N         throughput: runs per contender, the median reported (default 3)\n"
               "  --capacity N       items per source queue (default 1024)\n"
               "  --poll-us N        cv_poll: the longest wait on one queue before trying all (default 100)\n"
               "  --gap-us MIN,MAX   latency: gap between items, uniformly random (default 50,150)\n"
               "  --sources N,...    2, 8 (default both)\n"
               "  --section S,...    latency, throughput (default both)\n"
               "  --impl A,B,...     fev_select, cv_poll, go_hub, moodycamel_tagged, fev_one_ring (default all)\n"
               "  --stall-s N        a run that takes longer fails the data check (default 60)\n"
               "  --fev-spin-ns N    fev::set_spin_limit(N ns) for this run (default: library default)\n"
               "  --csv FILE         also write every row as CSV\n");
}

using fev_bench::parse_int;
using fev_bench::split;

// Returns an empty string, or the reason the arguments are bad.
std::string parse(int argc, char** argv, Options& options) {
  bool samples_given = false, items_given = false, repeat_given = false;
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
    } else if (arg == "--samples") {
      if (!need_value() || !parse_int(value, options.samples) || options.samples == 0) return bad + " (>= 1)";
      samples_given = true;
    } else if (arg == "--items") {
      if (!need_value() || !parse_int(value, options.items) || options.items < 8) return bad + " (>= 8)";
      items_given = true;
    } else if (arg == "--repeat") {
      if (!need_value() || !parse_int(value, options.repeat) || options.repeat == 0) return bad + " (>= 1)";
      repeat_given = true;
    } else if (arg == "--capacity") {
      if (!need_value() || !parse_int(value, options.capacity) || options.capacity == 0) return bad + " (>= 1)";
    } else if (arg == "--poll-us") {
      long us = 0;
      if (!need_value() || !parse_int(value, us) || us <= 0) return bad + " (>= 1)";
      options.poll = std::chrono::microseconds(us);
    } else if (arg == "--gap-us") {
      if (!need_value()) return bad;
      const std::vector<std::string> gaps = split(value);
      if (gaps.size() != 2 || !parse_int(gaps[0], options.gap_min_us) || !parse_int(gaps[1], options.gap_max_us) ||
          options.gap_min_us < 0 || options.gap_max_us < options.gap_min_us)
        return bad + " (MIN,MAX with 0 <= MIN <= MAX)";
    } else if (arg == "--sources") {
      if (!need_value()) return bad;
      options.sources.clear();
      for (const std::string& text : split(value)) {
        std::size_t count = 0;
        if (!parse_int(text, count) || (count != 2 && count != 8)) return bad + " (2, 8)";
        options.sources.push_back(count);
      }
    } else if (arg == "--section") {
      if (!need_value()) return bad;
      options.sections = split(value);
      for (const std::string& section : options.sections) {
        if (section != "latency" && section != "throughput")
          return "unknown section " + section + " (latency, throughput)";
      }
    } else if (arg == "--impl") {
      if (!need_value()) return bad;
      options.impls = split(value);
      for (const std::string& name : options.impls) {
        const std::vector<Impl> known = impls_for(2);
        if (std::none_of(known.begin(), known.end(), [&](const Impl& impl) { return impl.name == name; }))
          return "unknown or not built: --impl " + name;
      }
    } else if (arg == "--stall-s") {
      if (!need_value() || !parse_int(value, options.stall_s) || options.stall_s <= 0) return bad + " (>= 1)";
    } else if (arg == "--fev-spin-ns") {
      if (!need_value() || !parse_int(value, options.fev_spin_ns) || options.fev_spin_ns < 0) return bad + " (>= 0)";
    } else if (arg == "--csv") {
      if (!need_value()) return bad;
      options.csv = std::string(value);
    } else {
      return "unknown argument " + std::string(args.whole());
    }
  }
  if (options.quick) {
    if (!samples_given) options.samples = 100;
    if (!items_given) options.items = 4096;
    if (!repeat_given) options.repeat = 1;
  }
  options.items = options.items / 8 * 8;  // every source gets the same number
  return {};
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  if (const std::string error = parse(argc, argv, options); !error.empty()) {
    std::fprintf(stderr, "select_bench: %s (see --help)\n", error.c_str());
    return kBadArgument;
  }
  if (options.fev_spin_ns >= 0) fev::set_spin_limit(std::chrono::nanoseconds(options.fev_spin_ns));
  (void)::prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);  // precise sleeps and timed waits; harmless if refused
  Watchdog watchdog("select_bench", std::chrono::seconds(options.stall_s), "a lost wakeup or a deadlock");
  g_watchdog = &watchdog;

  std::printf("select_bench: %u CPUs online; fev spin limit %lld ns; load average at start %s%s\n",
              std::thread::hardware_concurrency(), static_cast<long long>(fev::spin_limit().count()),
              load_average().c_str(), options.quick ? "; --quick" : "");
  std::vector<Row> rows;

  if (options.wants("latency")) {
    const std::vector<Column> columns{{"p50 us", &Row::p50_ns, 1, Better::lower, 1e-3},
                                      {"p99 us", &Row::p99_ns, 1, Better::lower, 1e-3},
                                      {"CPU us/item", &Row::cpu_us_per_item, 2, Better::lower},
                                      {"switch/item", &Row::switches_per_item, 2, Better::lower},
                                      {"runq us/item", &Row::runqueue_us_per_item, 1, Better::lower}};
    print_header("latency: 1 producer, an item every " + std::to_string(options.gap_min_us) + "-" +
                     std::to_string(options.gap_max_us) + " us to a random source, " +
                     std::to_string(options.samples) +
                      " items (push -> pop returned; the consumer thread's CPU, context switches, and time runnable but waiting for a CPU)",
                 columns);
    for (const std::size_t count : {std::size_t{2}, std::size_t{8}}) {
      if (!options.wants(count)) continue;
      const std::size_t first = rows.size();
      for (const Impl& impl : chosen(options, count)) {
        const Armed armed("latency, " + latency_scenario(count) + ", " + std::string(impl.name));
        rows.push_back(impl.latency(options));
      }
      print_scenario(rows, first, rows.size(), columns);
    }
  }

  if (options.wants("throughput")) {
    const std::vector<Column> columns{{"M items/s", &Row::mitems_per_s, 2, Better::higher},
                                      {"CPU us/item", &Row::cpu_us_per_item, 3, Better::lower},
                                      {"switch/item", &Row::switches_per_item, 3, Better::lower}};
    print_header("throughput: N producers, one per source, 1 consumer, " + std::to_string(options.items) +
                     " items per run, capacity " + std::to_string(options.capacity) + " per source, median of " +
                     std::to_string(options.repeat) + " runs (CPU and switches of the whole process)",
                 columns);
    for (const std::size_t count : {std::size_t{2}, std::size_t{8}}) {
      if (!options.wants(count)) continue;
      const std::vector<Impl> contenders = chosen(options, count);
      std::vector<std::vector<Row>> runs(contenders.size());
      for (std::size_t round = 0; round < options.repeat; ++round) {
        for (std::size_t c = 0; c < contenders.size(); ++c) {
          const Armed armed("throughput, " + throughput_scenario(count) + ", " + std::string(contenders[c].name));
          runs[c].push_back(contenders[c].throughput(options));
        }
      }
      const std::size_t first = rows.size();
      for (std::vector<Row>& mine : runs) {
        std::sort(mine.begin(), mine.end(), [](const Row& a, const Row& b) { return *a.mitems_per_s < *b.mitems_per_s; });
        rows.push_back(mine[mine.size() / 2]);
      }
      print_scenario(rows, first, rows.size(), columns);
    }
  }

  std::printf("\nload average at the end %s\n", load_average().c_str());
  if (!options.csv.empty() && !write_csv(options.csv, rows)) {
    std::fprintf(stderr, "select_bench: cannot write %s\n", options.csv.c_str());
    return 1;
  }
  return 0;
}
