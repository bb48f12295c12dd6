// SPDX-License-Identifier: MIT
#include "parking_table.hpp"

#include <cstddef>

#include "fev/detail_cache_line.hpp"


namespace fev::backend::parking {
namespace {

// One bucket per cache line, so that threads parking on unrelated words do not share
// a line. 256 buckets: collisions only cost a spurious wake, never a lost one.
struct alignas(fev::detail::kCacheLine) Bucket {
  std::mutex lock;
  std::condition_variable parked;
};

constexpr std::size_t kBuckets = 256;

Bucket& bucket_for(const void* address) noexcept {
  // Never destroyed: a thread may still park or wake during static destruction.
  static Bucket* const table = new Bucket[kBuckets];
  // Fibonacci hashing of the word address (4-byte aligned, so drop the low 2 bits).
  const auto key = static_cast<std::uint64_t>(reinterpret_cast<std::uintptr_t>(address) >> 2);
  return table[(key * 0x9E3779B97F4A7C15ull) >> 56];
}

}  // namespace

WaitResult wait(const std::atomic<std::uint32_t>& word, std::uint32_t expected, Deadline deadline) noexcept {
  Bucket& bucket = bucket_for(&word);
  std::unique_lock<std::mutex> held(bucket.lock);
  // relaxed: a waker changes the word before it takes this bucket's lock, so either
  // that change happens-before this load (through the lock) or the waker's notify
  // comes after we are parked on the condition variable.
  if (word.load(std::memory_order_relaxed) != expected) return WaitResult::woken;
  if (deadline == Deadline::max()) {
    bucket.parked.wait(held);
    return WaitResult::woken;
  }
  // libstdc++ waits on a steady_clock deadline with CLOCK_MONOTONIC
  // (pthread_cond_clockwait): absolute, so no drift across spurious wakes.
  return bucket.parked.wait_until(held, deadline) == std::cv_status::timeout ? WaitResult::timeout
                                                                             : WaitResult::woken;
}

void wake(const std::atomic<std::uint32_t>& word) noexcept {
  Bucket& bucket = bucket_for(&word);
  // Taking and dropping the lock orders the caller's change of the word before any
  // waiter's check of it (see wait). Notify after unlocking so the woken threads do
  // not block on the lock we hold.
  { std::lock_guard<std::mutex> held(bucket.lock); }
  // Buckets are shared between words, so wake everyone: a waiter of another word
  // re-checks its own word and parks again.
  bucket.parked.notify_all();
}

}  // namespace fev::backend::parking
