// SPDX-License-Identifier: MIT
// bench/queues.hpp — the blocking queues fev::Ring is measured against, shared by
// ring_bench and the conditions benchmark.
//
// Every queue carries the same payload (std::uint64_t) and has the same shape:
// name, per-thread Producer/Consumer tokens, try_push/try_pop, and blocking push/pop.
//
//   fev             fev::Ring<std::uint64_t>: push/pop block (spin, then park).
//   mutex_condvar   std::mutex + two std::condition_variable over a circular buffer;
//                   the textbook bounded blocking queue (parks at once, never spins).
//   tbb             oneTBB concurrent_bounded_queue with set_capacity(capacity);
//                   push/pop block (TBB spins briefly, then parks).
//   moodycamel      moodycamel::BlockingConcurrentQueue with per-thread producer and
//                   consumer tokens (its fast path), enqueue + wait_dequeue.
//                   NOT BOUNDED: enqueue allocates blocks when the preallocated
//                   capacity runs out, so its producers never wait for consumers. That
//                   is an advantage over every bounded queue here; it is kept because it
//                   is the usual "fastest blocking queue" reference. (The bounded SPSC
//                   BlockingReaderWriterCircularBuffer is not in libconcurrentqueue-dev.)
//                   Its LightweightSemaphore spins (about 10^4 polls), then parks.
//   moodycamel_bounded  the same queue and tokens, bounded by a moodycamel
//                   LightweightSemaphore that counts free slots (push waits on it, pop
//                   signals it): the like-for-like bounded comparison.
//   ticket_spin     the shape of the fastest spin-only bounded queues (rigtorp's
//                   MPMCQueue, atomic_queue), written here: a blocking push or pop takes
//                   its position with one fetch_add and spins on that slot's turn
//                   (pause, then yield); it never parks, so a thread waiting for an
//                   empty ring burns its CPU. The peak reference for fev::Ring.
//   boost_lockfree  boost::lockfree::queue, fixed_sized, capacity nodes preallocated;
//                   it has no blocking calls, so a full push / empty pop spins 64 pauses,
//                   then yields the CPU in a loop (it never parks).
//
// Only benchmarks include this file; nothing in include/ or src/ depends on it.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string_view>
#include <thread>
#include <vector>

#include "bench_config.hpp"
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

namespace fev_bench {

using Item = std::uint64_t;

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

class TicketSpinQueue {
 public:
  static constexpr std::string_view name = "ticket_spin";
  using Producer = NoToken;
  using Consumer = NoToken;
  explicit TicketSpinQueue(std::size_t capacity) : capacity_(capacity), slots_(capacity) {}
  Producer producer() { return {}; }
  Consumer consumer() { return {}; }

  bool try_push(Producer&, Item item) {
    std::uint64_t pos = tail_.load(std::memory_order_relaxed);
    for (;;) {
      Slot& slot = slots_[pos % capacity_];
      const std::uint64_t free_turn = 2 * (pos / capacity_);
      const std::uint64_t turn = slot.turn.load(std::memory_order_acquire);  // pairs with the pop's release
      if (turn == free_turn) {
        if (tail_.compare_exchange_weak(pos, pos + 1, std::memory_order_relaxed)) {
          fill(slot, free_turn, item);
          return true;
        }
      } else if (turn < free_turn) {
        return false;
      } else {
        pos = tail_.load(std::memory_order_relaxed);
      }
    }
  }
  bool try_pop(Consumer&, Item& item) {
    std::uint64_t pos = head_.load(std::memory_order_relaxed);
    for (;;) {
      Slot& slot = slots_[pos % capacity_];
      const std::uint64_t full_turn = 2 * (pos / capacity_) + 1;
      const std::uint64_t turn = slot.turn.load(std::memory_order_acquire);  // pairs with the push's release
      if (turn == full_turn) {
        if (head_.compare_exchange_weak(pos, pos + 1, std::memory_order_relaxed)) {
          item = empty(slot, full_turn);
          return true;
        }
      } else if (turn < full_turn) {
        return false;
      } else {
        pos = head_.load(std::memory_order_relaxed);
      }
    }
  }
  void push(Producer&, Item item) {
    const std::uint64_t pos = tail_.fetch_add(1, std::memory_order_relaxed);  // the ticket
    Slot& slot = slots_[pos % capacity_];
    const std::uint64_t free_turn = 2 * (pos / capacity_);
    spin_until([&] { return slot.turn.load(std::memory_order_acquire) == free_turn; });
    fill(slot, free_turn, item);
  }
  void pop(Consumer&, Item& item) {
    const std::uint64_t pos = head_.fetch_add(1, std::memory_order_relaxed);  // the ticket
    Slot& slot = slots_[pos % capacity_];
    const std::uint64_t full_turn = 2 * (pos / capacity_) + 1;
    spin_until([&] { return slot.turn.load(std::memory_order_acquire) == full_turn; });
    item = empty(slot, full_turn);
  }

 private:
  struct alignas(64) Slot {
    std::atomic<std::uint64_t> turn{0};  // 2*lap: free for that lap's push; 2*lap+1: full
    Item value = 0;
  };

  static void fill(Slot& slot, std::uint64_t free_turn, Item item) {
    slot.value = item;
    slot.turn.store(free_turn + 1, std::memory_order_release);  // publishes the value
  }
  static Item empty(Slot& slot, std::uint64_t full_turn) {
    const Item item = slot.value;
    slot.turn.store(full_turn + 1, std::memory_order_release);  // frees the slot
    return item;
  }
  template <class Done>
  static void spin_until(Done&& done) {
    for (int round = 0; !done(); ++round) {
      if (round < 1024) {
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#endif
      } else {
        std::this_thread::yield();
      }
    }
  }

  const std::size_t capacity_;
  std::vector<Slot> slots_;
  alignas(128) std::atomic<std::uint64_t> tail_{0};
  alignas(128) std::atomic<std::uint64_t> head_{0};
  [[maybe_unused]] alignas(128) char end_padding_ = 0;  // keeps what follows off the head line
};

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

}  // namespace fev_bench
