// SPDX-License-Identifier: MIT
// Internal: the io_uring futex-wait pieces that src/uring_linux.cpp (UringEventWaiter) and
// src/loop_linux.cpp (fev::Loop) share. Defined in src/uring_linux.cpp, except the inline
// ones below.
#pragma once

#include <liburing.h>

#include <atomic>
#include <cstdint>
#include <cstring>

namespace fev::detail {

// Fills `sqe` with an IORING_OP_FUTEX_WAIT (liburing 2.3 has no helper) on `word`
// holding `expected`, FUTEX2_PRIVATE when `private_futex`, with `user_data`.
void prep_futex_wait(io_uring_sqe* sqe, const std::atomic<std::uint32_t>& word, std::uint32_t expected,
                     bool private_futex, std::uint64_t user_data) noexcept;

// IORING_OP_FUTEX_WAITV (Linux 6.7+; liburing 2.3 has no helper either). The flags of
// one entry of its array: a 32-bit word, FUTEX2_PRIVATE when `private_futex`.
inline std::uint32_t futex_waitv_flags(bool private_futex) noexcept {
  constexpr std::uint32_t kFutex2SizeU32 = 0x02;  // FUTEX2_SIZE_U32 (FUTEX_32)
  constexpr std::uint32_t kFutex2Private = 0x80;  // FUTEX2_PRIVATE (FUTEX_PRIVATE_FLAG)
  return kFutex2SizeU32 | (private_futex ? kFutex2Private : 0u);
}

// Fills `sqe` with an IORING_OP_FUTEX_WAITV on `count` (1..128) entries laid out as struct
// futex_waitv at `entries`, with `user_data`. The kernel's io_futexv_prep wants fd,
// futex_flags (op_flags), buf_index, addr2 and addr3 all zero; it copies the array when
// it takes the SQE, but callers keep it until the completion anyway. The completion:
// the index of a woken entry, -EAGAIN when a word no longer held its value, or
// -ECANCELED (a cancel or a linked timeout).
inline void prep_futex_waitv(io_uring_sqe* sqe, const void* entries, unsigned count, std::uint64_t user_data) noexcept {
  constexpr std::uint8_t kOpFutexWaitv = 53;  // IORING_OP_FUTEX_WAITV (52 is FUTEX_WAKE)
  std::memset(sqe, 0, sizeof *sqe);
  sqe->opcode = kOpFutexWaitv;
  sqe->addr = reinterpret_cast<std::uintptr_t>(entries);
  sqe->len = count;
  io_uring_sqe_set_data64(sqe, user_data);
}

// Makes sure this process has its private-futex table (Linux 6.16+) before a private
// io_uring futex wait is armed, so set()'s private wake finds it whatever threads the
// process creates later. False when that cannot be made safe (no thread could start).
bool ensure_private_futex_hash() noexcept;

}  // namespace fev::detail
