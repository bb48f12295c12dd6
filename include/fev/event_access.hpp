// SPDX-License-Identifier: MIT
// fev/event_access.hpp — BasicEvent's word protocol, for the parts of fev that wait on
// an event without calling its wait(): wait_any/wait_all (fev/wait_many.hpp) and the
// io_uring waiter (fev/uring.hpp). Internal: user code never needs it.
//
// A waiter on an event word follows BasicEvent::wait_slow step by step:
//  1. It reads the word once (acquire) on entry: that is its `entry` value. Its
//     generation tells which set() calls are "before" this waiter.
//  2. It is released when the word is set, or when the generation differs from the
//     entry one (a set() happened meanwhile, even if clear() already undid it).
//  3. Before it sleeps it adds kParked to the word with a CAS, so that the next set()
//     calls the backend's wake_all on the word; it then sleeps on the exact value it
//     wrote (kParked included), so a set() between the CAS and the sleep changes the
//     word and the sleep returns at once.
// Nothing else may be written to the word: no other bit, no clearing of kParked.
#pragma once

#include "fev/cxx20.hpp"  // first: below C++20, one clear error instead of many

#include <atomic>
#include <cstdint>

#include "fev/event.hpp"

namespace fev::detail {

struct EventAccess {
  // BasicEvent's layout and its word rules do not depend on its backend. BasicEvent<void>
  // names them, instantiating only the static members used here (none of them needs a
  // backend).
  static constexpr std::uint32_t kSet = BasicEvent<void>::kSet;
  static constexpr std::uint32_t kParked = BasicEvent<void>::kParked;
  static constexpr std::uint32_t kWakeOwed = BasicEvent<void>::kWakeOwed;
  static constexpr std::uint32_t kGenerationOne = BasicEvent<void>::kGenerationOne;
  static constexpr std::uint32_t kGenerationMask = BasicEvent<void>::kGenerationMask;

  template <class Wait>
  static std::atomic<std::uint32_t>& word(BasicEvent<Wait>& event) noexcept {
    return event.word_;
  }

  // Step 2: whether a waiter that began on `entry` is released by the word value `now`.
  static constexpr bool released(std::uint32_t entry, std::uint32_t now) noexcept {
    return BasicEvent<void>::released(entry, now);
  }

  // Step 3. `seen` is the caller's last (acquire) read of `word`. Returns true with
  // `seen` = the value to sleep on (kParked set); false when the word, as read while
  // trying, releases the waiter (`seen` = that value). The same code as Event::wait's.
  static bool announce_parked(std::atomic<std::uint32_t>& word, std::uint32_t entry,
                              std::uint32_t& seen) noexcept {
    return BasicEvent<void>::announce_parked(word, entry, seen);
  }
};

}  // namespace fev::detail
