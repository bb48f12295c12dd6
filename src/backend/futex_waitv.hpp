// SPDX-License-Identifier: MIT
// Internal: futex_waitv(2) (Linux 5.16+) for fev::wait_any/wait_all (src/wait_many.cpp).
// Defined by futex_waitv_linux.cpp where the platform has it, else by
// futex_waitv_none.cpp, which always answers `unsupported`.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "fev/wait.hpp"

namespace fev::detail {

enum class WaitvResult {
  woken,        // a wake, a changed word, a signal or a spurious return: re-read
  timeout,      // the absolute deadline passed
  unsupported,  // this kernel (or a seccomp filter) refuses futex_waitv: do not retry
};

// Sleeps until one of `words[i]` (i < count <= 128) no longer holds `expected[i]`, a
// wake on one of them, or `deadline`. `shared`: the words are process-shared futexes
// (no FUTEX_PRIVATE_FLAG).
WaitvResult waitv_sleep(std::atomic<std::uint32_t>* const* words, const std::uint32_t* expected,
                        std::size_t count, bool shared, Deadline deadline) noexcept;

// One harmless call that tells whether the running kernel has futex_waitv.
bool futex_waitv_probe() noexcept;

// A waitv_sleep answered `unsupported` (a seccomp filter, say): later calls take the
// one-word-at-a-time path (src/waitv_live.cpp, with futex_waitv_live()).
void note_waitv_unsupported() noexcept;

}  // namespace fev::detail
