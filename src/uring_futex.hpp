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

// Every futex bit: a wait with it is woken by any wake (futex(2)'s FUTEX_WAIT does so).
inline constexpr std::uint32_t kAnyFutexBits = 0xFFFFFFFFu;

// Fills `sqe` with an IORING_OP_FUTEX_WAIT (liburing 2.3 has no helper) on `word`
// holding `expected`, FUTEX2_PRIVATE when `private_futex`, with `user_data`. `bits`: the
// wait's futex bitset; a wake whose bitset shares no bit with it passes it by.
void prep_futex_wait(io_uring_sqe* sqe, const std::atomic<std::uint32_t>& word, std::uint32_t expected,
                     bool private_futex, std::uint64_t user_data, std::uint32_t bits = kAnyFutexBits) noexcept;

// Fills `sqe` with an IORING_OP_FUTEX_WAKE (Linux 6.7, as the wait; liburing 2.3 has no
// helper) of at most `count` waiters on `word` whose bitset shares a bit with `bits`,
// FUTEX2_PRIVATE when `private_futex`, with `user_data`. The kernel's io_futex_prep
// reads: fd the futex2 flags, addr the word, addr2 (off) the count, addr3 the bitset;
// len, futex_flags, buf_index and file_index must be 0. Its completion: how many it woke.
inline void prep_futex_wake(io_uring_sqe* sqe, const std::atomic<std::uint32_t>& word, std::uint32_t count,
                            bool private_futex, std::uint32_t bits, std::uint64_t user_data) noexcept {
  constexpr std::uint8_t kOpFutexWake = 52;       // IORING_OP_FUTEX_WAKE
  constexpr std::uint32_t kFutex2SizeU32 = 0x02;  // FUTEX2_SIZE_U32
  constexpr std::uint32_t kFutex2Private = 0x80;  // FUTEX2_PRIVATE
  std::memset(sqe, 0, sizeof *sqe);
  sqe->opcode = kOpFutexWake;
  sqe->fd = static_cast<std::int32_t>(kFutex2SizeU32 | (private_futex ? kFutex2Private : 0u));
  sqe->addr = reinterpret_cast<std::uintptr_t>(&word);
  sqe->off = count;
  sqe->addr3 = bits;
  io_uring_sqe_set_data64(sqe, user_data);
}

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
