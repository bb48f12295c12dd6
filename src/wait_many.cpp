// SPDX-License-Identifier: MIT
// fev::wait_any / wait_all: the out-of-line core (see fev/wait_many.hpp for the contract).
//
// The call keeps, for each event, the word value it read on entry (`entry`: its
// generation says which set() calls came before the call) and the list of events still
// pending. One round:
//  1. re-read every pending word (acquire, pairs with set()'s release); an event whose
//     word is set or whose generation moved counts as set (EventAccess::released). Any:
//     return the lowest such index. All: drop it from the pending list; done when empty.
//  2. past the deadline: return "timeout".
//  3. park. Fast path: set the parked bit on every pending word (EventAccess::
//     announce_parked, the CAS of BasicEvent::wait_slow) and sleep in one futex_waitv on
//     the values written. Slow path: the same on one pending word, in rotation, with a
//     short timed wait of the backend. Then go to 1.
// No lost wakeup: a set() after a word's announce CAS finds the parked bit and wakes the
// word, and also changes the word, so a sleep that starts after the set() (futex_waitv
// or the backend's wait on the announced value) returns at once.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>

#include "backend/futex_waitv.hpp"
#include "fev/event_access.hpp"
#include "fev/spin.hpp"
#include "fev/wait_many.hpp"

namespace fev::detail {
namespace {

// The slow path's timed slices: short at first (a set() of an event it is not parked
// on is noticed soon), then longer (fewer wake-ups while nothing happens).
constexpr std::chrono::microseconds kFirstSlice{50};
constexpr std::chrono::microseconds kLongestSlice{1000};

class Waiter {
 public:
  Waiter(std::atomic<std::uint32_t>* const* words, std::size_t count, bool all) noexcept
      : words_(words), all_(all), pending_count_(count) {
    for (std::size_t i = 0; i < count; ++i) {
      // acquire: pairs with set()'s release, for an event that is set on entry.
      entry_[i] = seen_[i] = words[i]->load(std::memory_order_acquire);
      pending_[i] = static_cast<std::uint8_t>(i);
    }
  }

  // Step 1 on the values in seen_ (`reload`: read the words again first). True when the
  // call is done; result() tells how.
  bool scan(bool reload) noexcept {
    std::size_t kept = 0;
    for (std::size_t k = 0; k < pending_count_; ++k) {
      const std::size_t i = pending_[k];
      // acquire: pairs with set()'s release (directly, or through clear()'s RMW).
      if (reload) seen_[i] = words_[i]->load(std::memory_order_acquire);
      if (!EventAccess::released(entry_[i], seen_[i])) {
        pending_[kept++] = static_cast<std::uint8_t>(i);
      } else if (!all_) {
        // pending_ stays in index order, so this is the lowest index that counts as set.
        found_ = i;
        return true;
      }
    }
    pending_count_ = kept;
    return all_ && kept == 0;
  }

  std::size_t result() const noexcept { return all_ ? 0 : found_; }

  // Step 3, fast path. False when futex_waitv turned out to be unsupported.
  bool park_all(bool shared, Deadline deadline) noexcept {
    std::uint32_t expected[kMaxWaitMany];
    std::atomic<std::uint32_t>* words[kMaxWaitMany];
    for (std::size_t k = 0; k < pending_count_; ++k) {
      const std::size_t i = pending_[k];
      // A word that releases us while we announce: skip the sleep, step 1 sees it.
      if (!EventAccess::announce_parked(*words_[i], entry_[i], seen_[i])) return true;
      expected[k] = seen_[i];
      words[k] = words_[i];
    }
    if (waitv_sleep(words, expected, pending_count_, shared, deadline) == WaitvResult::unsupported) {
      note_waitv_unsupported();
      return false;
    }
    return true;
  }

  // Step 3, slow path: one pending word, for at most the current slice.
  void park_one(WaitOneFn wait_one, Deadline deadline) noexcept {
    const std::size_t i = pending_[rotation_++ % pending_count_];
    if (!EventAccess::announce_parked(*words_[i], entry_[i], seen_[i])) return;
    const Deadline now = std::chrono::steady_clock::now();
    const Deadline slice_end = deadline - now > slice_ ? now + slice_ : deadline;
    (void)wait_one(*words_[i], seen_[i], slice_end);
    slice_ = std::min<std::chrono::nanoseconds>(slice_ * 2, kLongestSlice);
  }

 private:
  std::atomic<std::uint32_t>* const* words_;
  const bool all_;
  std::size_t pending_count_;
  std::size_t found_ = kNoIndex;
  std::size_t rotation_ = 0;
  std::chrono::nanoseconds slice_ = kFirstSlice;
  std::uint32_t entry_[kMaxWaitMany];
  std::uint32_t seen_[kMaxWaitMany];
  std::uint8_t pending_[kMaxWaitMany];  // indices still pending, ascending
};

bool passed(Deadline deadline) noexcept {
  return deadline != Deadline::max() && std::chrono::steady_clock::now() >= deadline;
}

}  // namespace

std::size_t wait_many(std::atomic<std::uint32_t>* const* words, std::size_t count, bool all, Deadline deadline,
                      ManyKind kind, WaitOneFn wait_one) noexcept {
  static_assert(kMaxWaitMany <= 256, "pending indices are stored in 8 bits");
  Waiter waiter(words, count, all);
  if (waiter.scan(false)) return waiter.result();
  if (passed(deadline)) return kNoIndex;
  if (spin_until([&] { return waiter.scan(true); }, deadline)) return waiter.result();
  bool fast = kind != ManyKind::other && futex_waitv_live();
  for (;;) {
    if (fast) {
      fast = waiter.park_all(kind == ManyKind::futex_shared, deadline);
    } else {
      waiter.park_one(wait_one, deadline);
    }
    if (waiter.scan(true)) return waiter.result();
    if (passed(deadline)) return kNoIndex;
  }
}

}  // namespace fev::detail
