// SPDX-License-Identifier: MIT
// Internal: the io_uring futex-wait pieces that src/uring_linux.cpp (UringEventWaiter) and
// src/loop_linux.cpp (fev::Loop) share. Defined in src/uring_linux.cpp.
#pragma once

#include <liburing.h>

#include <atomic>
#include <cstdint>

namespace fev::detail {

// Fills `sqe` with an IORING_OP_FUTEX_WAIT (liburing 2.3 has no helper) on `word`
// holding `expected`, FUTEX2_PRIVATE when `private_futex`, with `user_data`.
void prep_futex_wait(io_uring_sqe* sqe, const std::atomic<std::uint32_t>& word, std::uint32_t expected,
                     bool private_futex, std::uint64_t user_data) noexcept;

// Makes sure this process has its private-futex table (Linux 6.16+) before a private
// io_uring futex wait is armed, so set()'s private wake finds it whatever threads the
// process creates later. False when that cannot be made safe (no thread could start).
bool ensure_private_futex_hash() noexcept;

}  // namespace fev::detail
