// SPDX-License-Identifier: MIT
// Internal: an address-hashed table of parking buckets (mutex + condition_variable).
// Used by the portable backend, and by the Boost backend for its timed waits.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>

#include "fev/wait.hpp"

namespace fev::backend::parking {

// Parks while `word` holds `expected`, until woken through wake(word) or `deadline`.
WaitResult wait(const std::atomic<std::uint32_t>& word, std::uint32_t expected, Deadline deadline) noexcept;

// Wakes every thread parked on `word` (and, harmlessly, others sharing its bucket).
// Reads only the word's address.
void wake(const std::atomic<std::uint32_t>& word) noexcept;

}  // namespace fev::backend::parking
