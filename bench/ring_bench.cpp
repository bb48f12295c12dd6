// bench/ring_bench.cpp — fev::Ring against the bounded queues users would otherwise pick.
//
// Every queue carries the same payload (std::uint64_t), is built with the same capacity
// (kCapacity), and moves the same number of items (--items=N, default 2^20):
//
//   fev             fev::Ring<std::uint64_t>: push/pop block (spin, then park).
//   mutex_condvar   std::mutex + two std::condition_variable over a circular buffer;
//                   the textbook bounded blocking queue.
//   tbb             oneTBB concurrent_bounded_queue with set_capacity(kCapacity);
//                   push/pop block.
//   moodycamel      moodycamel::BlockingConcurrentQueue with per-thread producer and
//                   consumer tokens (its fast path), enqueue + wait_dequeue.
//                   NOT BOUNDED: enqueue allocates blocks when the preallocated
//                   kCapacity runs out, so its producers never wait for consumers. That
//                   is an advantage over every bounded queue here; it is kept because it
//                   is the usual "fastest blocking queue" reference. (The bounded SPSC
//                   BlockingReaderWriterCircularBuffer is not in libconcurrentqueue-dev.)
//   moodycamel_bounded  the same queue and tokens, bounded by a moodycamel
//                   LightweightSemaphore that counts free slots (push waits on it, pop
//                   signals it): the like-for-like bounded comparison.
//   boost_lockfree  boost::lockfree::queue, fixed_sized, kCapacity nodes preallocated;
//                   it has no blocking calls, so a full push / empty pop spins 64 pauses,
//                   then yields the CPU in a loop (it never parks).
//
// Names: ring/try_push_pop/<queue> (one thread: try_push then try_pop) and
// ring/throughput/<queue>/<P>P<C>C (P producer and C consumer threads; items/s counts
// items moved from producers to consumers; time runs from the moment every thread is
// ready to the last join; every run checks the sum of what was popped).
#include <benchmark/benchmark.h>

#include <atomic>
#include <chrono>
#include <charconv>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <latch>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "bench_config.hpp"
#include "bench_main.hpp"
#include "fev/ring.hpp"

#if FEV_BENCH_HAVE_TBB
#include <tbb/concurrent_queue.h>
#endif
#if FEV_BENCH_HAVE_MOODYCAMEL
#include <concurrentqueue/blockingconcurrentqueue.h>
#endif
#if FEV_BENCH_HAVE_BOOST_LOCKFREE
#include <boost/lockfree/queue.hpp>
#endif

namespace {

using Item = std::uint64_t;
constexpr std::size_t kCapacity = 1024;
std::uint64_t g_items = std::uint64_t{1} << 20;  // --items; a multiple of 4 (see main)

// Queues that need no per-thread state take this as their token.
struct NoToken {};

class FevQueue {
 public:
  static constexpr std::string_view name = "fev";
  using Producer = NoToken;
  using Consumer = NoToken;
  explicit FevQueue(std::size_t capacity) : ring_(capacity) {}
  Producer producer() { return {}; }
  Consumer consumer() { return {}; }
  bool try_push(Producer&, Item item) { return ring_.try_push(item); }
  bool try_pop(Consumer&, Item& item) { return ring_.try_pop(item); }
  void push(Producer&, Item item) { (void)ring_.push(item); }
  void pop(Consumer&, Item& item) { (void)ring_.pop(item); }

 private:
  fev::Ring<Item> ring_;
};

class MutexCondvarQueue {
 public:
  static constexpr std::string_view name = "mutex_condvar";
  using Producer = NoToken;
  using Consumer = NoToken;
  explicit MutexCondvarQueue(std::size_t capacity) : slots_(capacity) {}
  Producer producer() { return {}; }
  Consumer consumer() { return {}; }
  bool try_push(Producer&, Item item) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (count_ == slots_.size()) return false;
      put(item);
    }
    not_empty_.notify_one();
    return true;
  }
  bool try_pop(Consumer&, Item& item) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (count_ == 0) return false;
      item = take();
    }
    not_full_.notify_one();
    return true;
  }
  void push(Producer&, Item item) {
    {
      std::unique_lock<std::mutex> lock(mutex_);
      not_full_.wait(lock, [this] { return count_ < slots_.size(); });
      put(item);
    }
    not_empty_.notify_one();
  }
  void pop(Consumer&, Item& item) {
    {
      std::unique_lock<std::mutex> lock(mutex_);
      not_empty_.wait(lock, [this] { return count_ > 0; });
      item = take();
    }
    not_full_.notify_one();
  }

 private:
  void put(Item item) {
    std::size_t slot = head_ + count_;
    if (slot >= slots_.size()) slot -= slots_.size();
    slots_[slot] = item;
    ++count_;
  }
  Item take() {
    const Item item = slots_[head_];
    if (++head_ == slots_.size()) head_ = 0;
    --count_;
    return item;
  }

  std::mutex mutex_;
  std::condition_variable not_full_;
  std::condition_variable not_empty_;
  std::vector<Item> slots_;
  std::size_t head_ = 0;
  std::size_t count_ = 0;
};

#if FEV_BENCH_HAVE_TBB
class TbbQueue {
 public:
  static constexpr std::string_view name = "tbb";
  using Producer = NoToken;
  using Consumer = NoToken;
  explicit TbbQueue(std::size_t capacity) { queue_.set_capacity(static_cast<std::ptrdiff_t>(capacity)); }
  Producer producer() { return {}; }
  Consumer consumer() { return {}; }
  bool try_push(Producer&, Item item) { return queue_.try_push(item); }
  bool try_pop(Consumer&, Item& item) { return queue_.try_pop(item); }
  void push(Producer&, Item item) { queue_.push(item); }
  void pop(Consumer&, Item& item) { queue_.pop(item); }

 private:
  tbb::concurrent_bounded_queue<Item> queue_;
};
#endif

#if FEV_BENCH_HAVE_MOODYCAMEL
class MoodycamelQueue {  // unbounded: see the header comment
 public:
  static constexpr std::string_view name = "moodycamel";
  using Queue = moodycamel::BlockingConcurrentQueue<Item>;
  using Producer = moodycamel::ProducerToken;
  using Consumer = moodycamel::ConsumerToken;
  explicit MoodycamelQueue(std::size_t capacity) : queue_(capacity) {}
  Producer producer() { return Producer(queue_); }
  Consumer consumer() { return Consumer(queue_); }
  bool try_push(Producer& token, Item item) { return queue_.try_enqueue(token, item); }
  bool try_pop(Consumer& token, Item& item) { return queue_.try_dequeue(token, item); }
  void push(Producer& token, Item item) { (void)queue_.enqueue(token, item); }
  void pop(Consumer& token, Item& item) { queue_.wait_dequeue(token, item); }

 private:
  Queue queue_;
};

// The same queue made bounded the way moodycamel suggests: a LightweightSemaphore counts
// the free slots; push waits on it (spinning, then parking), pop signals it.
class MoodycamelBoundedQueue {
 public:
  static constexpr std::string_view name = "moodycamel_bounded";
  using Queue = moodycamel::BlockingConcurrentQueue<Item>;
  using Producer = moodycamel::ProducerToken;
  using Consumer = moodycamel::ConsumerToken;
  explicit MoodycamelBoundedQueue(std::size_t capacity)
      : queue_(capacity), free_slots_(static_cast<moodycamel::LightweightSemaphore::ssize_t>(capacity)) {}
  Producer producer() { return Producer(queue_); }
  Consumer consumer() { return Consumer(queue_); }
  bool try_push(Producer& token, Item item) {
    if (!free_slots_.tryWait()) return false;
    (void)queue_.enqueue(token, item);
    return true;
  }
  bool try_pop(Consumer& token, Item& item) {
    if (!queue_.try_dequeue(token, item)) return false;
    free_slots_.signal();
    return true;
  }
  void push(Producer& token, Item item) {
    while (!free_slots_.wait()) {
    }
    (void)queue_.enqueue(token, item);
  }
  void pop(Consumer& token, Item& item) {
    queue_.wait_dequeue(token, item);
    free_slots_.signal();
  }

 private:
  Queue queue_;
  moodycamel::LightweightSemaphore free_slots_;
};
#endif

#if FEV_BENCH_HAVE_BOOST_LOCKFREE
class BoostLockfreeQueue {
 public:
  static constexpr std::string_view name = "boost_lockfree";
  using Producer = NoToken;
  using Consumer = NoToken;
  explicit BoostLockfreeQueue(std::size_t capacity) : queue_(capacity) {}
  Producer producer() { return {}; }
  Consumer consumer() { return {}; }
  bool try_push(Producer&, Item item) { return queue_.bounded_push(item); }
  bool try_pop(Consumer&, Item& item) { return queue_.pop(item); }
  void push(Producer&, Item item) {
    spin_then_yield([&] { return queue_.bounded_push(item); });
  }
  void pop(Consumer&, Item& item) {
    spin_then_yield([&] { return queue_.pop(item); });
  }

 private:
  template <class Attempt>
  static void spin_then_yield(Attempt&& attempt) {
    for (int round = 0; !attempt(); ++round) {
      if (round < 64) {
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#endif
      } else {
        std::this_thread::yield();
      }
    }
  }

  boost::lockfree::queue<Item, boost::lockfree::fixed_sized<true>> queue_;
};
#endif

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
        for (std::uint64_t i = 0; i < per_producer; ++i) queue.push(token, first + i);
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
      state.SkipWithError("the popped items do not add up to the pushed ones");
      break;
    }
  }
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(items));
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
  register_queue<FevQueue>();
  register_queue<MutexCondvarQueue>();
#if FEV_BENCH_HAVE_TBB
  register_queue<TbbQueue>();
#endif
#if FEV_BENCH_HAVE_MOODYCAMEL
  register_queue<MoodycamelQueue>();
  register_queue<MoodycamelBoundedQueue>();
#endif
#if FEV_BENCH_HAVE_BOOST_LOCKFREE
  register_queue<BoostLockfreeQueue>();
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
  return fev_bench::run_main(argc, argv,
                             {{"items", "items moved per throughput run, >= 4 (default 1048576)", parse_items}},
                             register_all);
}
