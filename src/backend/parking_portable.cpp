// SPDX-License-Identifier: MIT
// Portable backend: plain C++20, an address-hashed table of parking buckets.
#include "parking_table.hpp"

namespace fev::backend {

WaitResult Portable::wait(const std::atomic<std::uint32_t>& word, std::uint32_t expected, Deadline deadline) noexcept {
  return parking::wait(word, expected, deadline);
}

// A bucket may hold waiters of other words, so wake_one wakes the bucket; the callers
// re-check their word, so only a waiter whose word changed proceeds.
void Portable::wake_one(const std::atomic<std::uint32_t>& word) noexcept { parking::wake(word); }

void Portable::wake_all(const std::atomic<std::uint32_t>& word) noexcept { parking::wake(word); }

}  // namespace fev::backend
