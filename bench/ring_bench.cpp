// SPDX-License-Identifier: MIT
// bench/ring_bench.cpp — fev::Ring against the bounded queues users would otherwise pick.
//
// Every queue of bench/queues.hpp (fev, mutex_condvar, tbb, moodycamel,
// moodycamel_bounded, boost_lockfree: how each waits is described there) is built with
// the same capacity (kCapacity) and moves the same number of items (--items=N, default
// 2^20).
//
// Names: ring/try_push_pop/<queue> (one thread: try_push then try_pop) and
// ring/throughput/<queue>/<P>P<C>C (P producer and C consumer threads; items/s counts
// items moved from producers to consumers; time runs from the moment every thread is
// ready to the last join; every run checks the sum of what was popped).
// ring/throughput_bulk32/fev/<P>P<C>C: the same runs through fev::Ring's bulk calls,
// batches of 32 (try_push_n, and one blocking push when the ring is full; pop_n).
#include <benchmark/benchmark.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <latch>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "bench_main.hpp"
#include "queues.hpp"

namespace {

using fev_bench::Item;
constexpr std::size_t kCapacity = 1024;
std::uint64_t g_items = std::uint64_t{1} << 20;  // --items; a multiple of 4 (see main)

// The data check: every throughput run compares the sum of the popped items with the
// sum of the pushed ones. A wrong sum marks the row as an error and makes the whole
// program exit with kDataCheckFailed, so that a broken queue fails any run or test.
constexpr int kDataCheckFailed = 1;
std::atomic<bool> g_data_check_failed{false};  // written by the benchmark thread, read after the runs
// --self-test-corrupt (hidden, for the test that proves the check fails): producer 0
// pushes its first item off by one in every run.
bool g_corrupt_one_item = false;

template <class Q>
void try_push_pop(benchmark::State& state) {
  Q queue(kCapacity);
  auto producer = queue.producer();
  auto consumer = queue.consumer();
  Item item = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(queue.try_push(producer, item + 1));
    benchmark::DoNotOptimize(queue.try_pop(consumer, item));
  }
  state.SetItemsProcessed(state.iterations());
}

template <class Q>
void throughput(benchmark::State& state, int producers, int consumers) {
  const std::uint64_t items = g_items;
  const std::uint64_t per_producer = items / static_cast<std::uint64_t>(producers);
  const std::uint64_t per_consumer = items / static_cast<std::uint64_t>(consumers);
  const std::uint64_t expected_sum = items * (items + 1) / 2;  // items are 1..items
  for (auto _ : state) {
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
        const std::uint64_t corruption = (g_corrupt_one_item && p == 0) ? 1 : 0;
        queue.push(token, first + corruption);
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
    const auto begin = std::chrono::steady_clock::now();
    start.count_down();
    for (std::thread& thread : threads) thread.join();
    const auto end = std::chrono::steady_clock::now();
    state.SetIterationTime(std::chrono::duration<double>(end - begin).count());
    if (sum.load(std::memory_order_relaxed) != expected_sum) {
      state.SkipWithError("data check failed: the popped items do not add up to the pushed ones");
      g_data_check_failed.store(true, std::memory_order_relaxed);  // read by main after the runs
      break;
    }
  }
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(items));
}

// As throughput<FevQueue>, moving items in batches of up to `batch` per call.
void fev_bulk_throughput(benchmark::State& state, int producers, int consumers, std::size_t batch) {
  const std::uint64_t items = g_items;
  const std::uint64_t per_producer = items / static_cast<std::uint64_t>(producers);
  const std::uint64_t per_consumer = items / static_cast<std::uint64_t>(consumers);
  const std::uint64_t expected_sum = items * (items + 1) / 2;  // items are 1..items
  for (auto _ : state) {
    fev::Ring<Item> ring(kCapacity);
    std::latch ready(producers + consumers);
    std::latch start(1);
    std::atomic<std::uint64_t> sum{0};
    std::vector<std::thread> threads;
    threads.reserve(static_cast<std::size_t>(producers + consumers));
    for (int p = 0; p < producers; ++p) {
      threads.emplace_back([&, p] {
        std::vector<Item> values(batch);
        ready.count_down();
        start.wait();
        const std::uint64_t first = static_cast<std::uint64_t>(p) * per_producer + 1;
        const std::uint64_t corruption = (g_corrupt_one_item && p == 0) ? 1 : 0;
        for (std::uint64_t next = 0; next < per_producer;) {
          const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(batch, per_producer - next));
          for (std::size_t i = 0; i < n; ++i) values[i] = first + next + i;
          if (next == 0) values[0] += corruption;
          const std::size_t pushed = ring.try_push_n(values.begin(), n);
          if (pushed == 0) {
            (void)ring.push(values[0]);  // full: wait for room
            next += 1;
          } else {
            next += pushed;
          }
        }
      });
    }
    for (int c = 0; c < consumers; ++c) {
      threads.emplace_back([&] {
        std::vector<Item> values(batch);
        ready.count_down();
        start.wait();
        std::uint64_t local = 0;
        for (std::uint64_t taken = 0; taken < per_consumer;) {
          const std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(batch, per_consumer - taken));
          const std::size_t got = ring.pop_n(values.begin(), want);
          for (std::size_t i = 0; i < got; ++i) local += values[i];
          taken += got;
        }
        sum.fetch_add(local, std::memory_order_relaxed);  // read after join
      });
    }
    ready.wait();
    const auto begin = std::chrono::steady_clock::now();
    start.count_down();
    for (std::thread& thread : threads) thread.join();
    const auto end = std::chrono::steady_clock::now();
    state.SetIterationTime(std::chrono::duration<double>(end - begin).count());
    if (sum.load(std::memory_order_relaxed) != expected_sum) {
      state.SkipWithError("data check failed: the popped items do not add up to the pushed ones");
      g_data_check_failed.store(true, std::memory_order_relaxed);  // read by main after the runs
      break;
    }
  }
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(items));
}

void register_fev_bulk() {
  constexpr std::size_t kBatch = 32;
  constexpr int kMixes[][2] = {{1, 1}, {2, 2}, {4, 4}, {1, 4}, {4, 1}};
  for (const auto& mix : kMixes) {
    const int producers = mix[0];
    const int consumers = mix[1];
    const std::string label = std::to_string(producers) + "P" + std::to_string(consumers) + "C";
    benchmark::RegisterBenchmark(("ring/throughput_bulk" + std::to_string(kBatch) + "/fev/" + label).c_str(),
                                 [producers, consumers](benchmark::State& state) {
                                   fev_bulk_throughput(state, producers, consumers, kBatch);
                                 })
        ->UseManualTime()
        ->Unit(benchmark::kMillisecond);
  }
}

template <class Q>
void register_queue() {
  const std::string name(Q::name);
  benchmark::RegisterBenchmark(("ring/try_push_pop/" + name).c_str(), try_push_pop<Q>);
  constexpr int kMixes[][2] = {{1, 1}, {2, 2}, {4, 4}, {1, 4}, {4, 1}};
  for (const auto& mix : kMixes) {
    const int producers = mix[0];
    const int consumers = mix[1];
    const std::string label = std::to_string(producers) + "P" + std::to_string(consumers) + "C";
    benchmark::RegisterBenchmark(("ring/throughput/" + name + "/" + label).c_str(),
                                 [producers, consumers](benchmark::State& state) {
                                   throughput<Q>(state, producers, consumers);
                                 })
        ->UseManualTime()
        ->Unit(benchmark::kMillisecond);
  }
}

void register_all() {
  register_queue<fev_bench::FevQueue>();
  register_fev_bulk();
  register_queue<fev_bench::MutexCondvarQueue>();
  register_queue<fev_bench::TicketSpinQueue>();
#if FEV_BENCH_HAVE_TBB
  register_queue<fev_bench::TbbQueue>();
#endif
#if FEV_BENCH_HAVE_MOODYCAMEL
  register_queue<fev_bench::MoodycamelQueue>();
  register_queue<fev_bench::MoodycamelBoundedQueue>();
#endif
#if FEV_BENCH_HAVE_BOOST_LOCKFREE
  register_queue<fev_bench::BoostLockfreeQueue>();
#endif
}

bool parse_items(std::string_view text) {
  std::uint64_t value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size() || value < 4) return false;
  g_items = value / 4 * 4;  // every mix divides the items evenly among 1, 2 or 4 threads
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<char*> args;
  for (int i = 0; i < argc; ++i) {
    if (std::strcmp(argv[i], "--self-test-corrupt") == 0) g_corrupt_one_item = true;
    else args.push_back(argv[i]);
  }
  const int status = fev_bench::run_main(
      static_cast<int>(args.size()), args.data(),
      {{"items", "items moved per throughput run, >= 4 (default 1048576)", parse_items}}, register_all);
  if (status != 0) return status;
  if (g_data_check_failed.load(std::memory_order_relaxed)) {
    std::fprintf(stderr, "ring_bench: data check failed: a queue popped items that do not add up to the "
                         "pushed ones (see the ERROR rows)\n");
    return kDataCheckFailed;
  }
  return 0;
}
