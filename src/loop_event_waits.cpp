// SPDX-License-Identifier: MIT
// The registry of fev::Loop coroutines waiting on in-process Events (see
// fev/detail_loop_waits.hpp): buckets chosen by address, each a mutex and an intrusive
// doubly linked list of the registrations kept in the awaiters.
#include <cstdint>
#include <mutex>

#include "fev/detail_cache_line.hpp"
#include "fev/detail_loop_waits.hpp"

namespace fev::detail {

std::atomic<std::size_t> loop_event_waits{0};

namespace {

constexpr unsigned kBucketBits = 6;

struct alignas(kCacheLine) Bucket {
  std::mutex mutex;
  LoopEventWait* head = nullptr;
};

Bucket& bucket_of(const void* address) noexcept {
  static Bucket buckets[std::size_t{1} << kBucketBits];
  // Fibonacci hashing of the address: neighbouring events land in different buckets.
  const auto bits = static_cast<std::uint64_t>(reinterpret_cast<std::uintptr_t>(address));
  return buckets[(bits * 0x9E3779B97F4A7C15ull) >> (64 - kBucketBits)];
}

}  // namespace

void register_loop_event_wait(LoopEventWait& wait, const void* address) noexcept {
  Bucket& bucket = bucket_of(address);
  const std::lock_guard lock(bucket.mutex);
  wait.address = address;
  wait.prev = nullptr;
  wait.next = bucket.head;
  if (bucket.head != nullptr) bucket.head->prev = &wait;
  bucket.head = &wait;
  // relaxed: a count for the destructors' first look (see the header).
  loop_event_waits.fetch_add(1, std::memory_order_relaxed);
}

void unregister_loop_event_wait(LoopEventWait& wait) noexcept {
  if (wait.address == nullptr) return;  // only the awaiter itself registers and unregisters
  Bucket& bucket = bucket_of(wait.address);
  const std::lock_guard lock(bucket.mutex);
  if (wait.prev != nullptr) {
    wait.prev->next = wait.next;
  } else {
    bucket.head = wait.next;
  }
  if (wait.next != nullptr) wait.next->prev = wait.prev;
  wait.address = nullptr;
  wait.prev = wait.next = nullptr;
  loop_event_waits.fetch_sub(1, std::memory_order_relaxed);  // relaxed: as above
}

bool loop_event_wait_registered(const void* address) noexcept {
  Bucket& bucket = bucket_of(address);
  const std::lock_guard lock(bucket.mutex);
  for (const LoopEventWait* wait = bucket.head; wait != nullptr; wait = wait->next) {
    if (wait->address == address) return true;
  }
  return false;
}

}  // namespace fev::detail
