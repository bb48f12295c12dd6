// SPDX-License-Identifier: MIT
// The side table of coroutines waiting on in-process Events (fev/async_event.hpp), and
// fev::inline_executor.
//
// A fixed array of buckets chosen by the word's address, each a mutex and an intrusive
// doubly linked list of the nodes (kept in the waiting coroutines' frames) of the words
// that hash to it. Every change of a node's state happens under its bucket's mutex: that
// is the one step in which set(), a stop callback, and the waiter itself (taking its node
// back) decide who resumes the coroutine; the others then find the node gone and never
// touch it again. Coroutines are posted to their executors after the mutex is released.
#include <atomic>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <mutex>

#include "fev/async_event.hpp"
#include "fev/detail_cache_line.hpp"
#include "fev/event.hpp"

namespace fev {
namespace detail {
namespace {

using State = AsyncWaiter::State;

// One bucket per cache line (fev/detail_cache_line.hpp).
constexpr std::size_t kBuckets = 1024;  // a power of two; set() walks one bucket's list

struct alignas(kCacheLine) Bucket {
  std::mutex mutex;
  AsyncWaiter* head = nullptr;  // nodes of every word that hashes here, newest first
};

Bucket& bucket_of(const void* address) noexcept {
  static Bucket buckets[kBuckets];
  // Fibonacci hashing of the address: neighbouring events land in different buckets.
  const auto bits = static_cast<std::uint64_t>(reinterpret_cast<std::uintptr_t>(address));
  return buckets[(bits * 0x9E3779B97F4A7C15ull) >> (64 - 10)];
}
static_assert(kBuckets == 1024, "bucket_of keeps the top 10 bits of the hash");

// relaxed: a test-only count; nothing is ordered by it.
std::atomic<std::uint64_t> slow_set_count{0};

void unlink(Bucket& bucket, AsyncWaiter& node) noexcept {
  if (node.prev != nullptr) {
    node.prev->next = node.next;
  } else {
    bucket.head = node.next;
  }
  if (node.next != nullptr) node.next->prev = node.prev;
  node.prev = node.next = nullptr;
}

// Takes `node` out of the table. When it was the last node of its word, the word's
// kAsyncWaiters bit goes too, so that set() and the event's destructor see nobody. A
// node inserted after the caller's unlock sets the bit again itself (after its insert);
// one inserted before is in the list now. The bit cannot be left behind by a node that
// never set it: every removal but set()'s (whose CAS clears it) comes here.
void remove(Bucket& bucket, AsyncWaiter& node) noexcept {
  unlink(bucket, node);
  for (const AsyncWaiter* other = bucket.head; other != nullptr; other = other->next) {
    if (other->address == node.address) return;
  }
  // relaxed: publishes nothing; the bucket's lock orders it against set()'s CAS (made
  // under it) and against the CAS of a later waiter (made after its locked insert).
  node.address->fetch_and(~EventBits::kAsyncWaiters, std::memory_order_relaxed);
}

}  // namespace

void AsyncWaiters::insert(AsyncWaiter& node) noexcept {
  Bucket& bucket = bucket_of(node.address);
  const std::lock_guard lock(bucket.mutex);
  node.state = State::waiting;
  node.arming = true;
  node.prev = nullptr;
  node.next = bucket.head;
  if (bucket.head != nullptr) bucket.head->prev = &node;
  bucket.head = &node;
}

AsyncWaiter::State AsyncWaiters::armed(AsyncWaiter& node, bool withdraw) noexcept {
  Bucket& bucket = bucket_of(node.address);
  const std::lock_guard lock(bucket.mutex);
  node.arming = false;
  if (withdraw && node.state == State::waiting) {
    remove(bucket, node);
    node.state = State::withdrawn;
  }
  return node.state;  // waiting: from the unlock on, the node belongs to its taker
}

void AsyncWaiters::cancel(AsyncWaiter& node, bool post) noexcept {
  Bucket& bucket = bucket_of(node.address);
  std::coroutine_handle<> coroutine;
  void* executor = nullptr;
  void (*post_fn)(void*, std::coroutine_handle<>) noexcept = nullptr;
  {
    const std::lock_guard lock(bucket.mutex);
    if (node.state != State::waiting) return;  // set() or the waiter took it: not ours
    remove(bucket, node);
    node.state = State::cancelled;
    if (!post || node.arming) return;  // the waiter resumes itself (armed() says cancelled)
    coroutine = node.coroutine;
    executor = node.executor;
    post_fn = node.post;
  }
  post_fn(executor, coroutine);  // the node may be gone once this runs the coroutine
}

std::uint64_t AsyncWaiters::slow_sets() noexcept { return slow_set_count.load(std::memory_order_relaxed); }

std::uint32_t set_with_async_waiters(std::atomic<std::uint32_t>& word) noexcept {
  slow_set_count.fetch_add(1, std::memory_order_relaxed);  // test-only count
  Bucket& bucket = bucket_of(&word);
  AsyncWaiter* taken = nullptr;  // to post, linked through `next`
  std::uint32_t seen = 0;
  {
    const std::lock_guard lock(bucket.mutex);
    // set()'s CAS, as BasicEvent::set makes it for an in-process word (kWakeOwed is never
    // set there), also clearing kAsyncWaiters. Under the lock, so that no waiter can
    // insert a node between the CAS and the taking below: every node of this word now in
    // the list began before this set() (a node of a newer generation could only be
    // inserted after the unlock) and is released by it, and no event constructed at this
    // address after a released waiter destroyed this one can have a node here yet.
    seen = word.load(std::memory_order_relaxed);
    std::uint32_t desired = 0;
    do {
      desired = (seen & EventBits::kSet) != 0
                    ? seen
                    : ((seen + EventBits::kGenerationOne) &
                       ~(EventBits::kParked | EventBits::kWakeOwed | EventBits::kAsyncWaiters)) |
                          EventBits::kSet;
      // release: pairs with the acquire loads/CAS of every waiter, as in set().
      // relaxed on failure: the retry only recomputes `desired`.
    } while (!word.compare_exchange_weak(seen, desired, std::memory_order_release, std::memory_order_relaxed));
    AsyncWaiter* node = bucket.head;
    while (node != nullptr) {
      AsyncWaiter* const next = node->next;
      if (node->address == &word) {
        unlink(bucket, *node);
        node->state = State::taken;
        if (!node->arming) {  // an arming waiter resumes itself (armed() says taken)
          node->next = taken;
          taken = node;
        }
      }
      node = next;
    }
  }
  // Oldest first would need a tail; the order among coroutines released by one set()
  // is unspecified. Read `next` before posting: the coroutine may finish at once.
  while (taken != nullptr) {
    AsyncWaiter* const next = taken->next;
    taken->post(taken->executor, taken->coroutine);
    taken = next;
  }
  return seen;
}

}  // namespace detail

namespace {
// inline_executor's queue on this thread: coroutines scheduled while one is running.
struct InlineResumer {
  bool running = false;
  std::deque<std::coroutine_handle<>> queued;
};
thread_local InlineResumer inline_resumer;
}  // namespace

void inline_executor::schedule(std::coroutine_handle<> coroutine) noexcept {
  InlineResumer& here = inline_resumer;
  if (here.running) {
    here.queued.push_back(coroutine);  // resumed by the outermost schedule() below
    return;
  }
  here.running = true;
  coroutine.resume();
  while (!here.queued.empty()) {
    const std::coroutine_handle<> next = here.queued.front();
    here.queued.pop_front();
    next.resume();
  }
  here.running = false;
}

}  // namespace fev
