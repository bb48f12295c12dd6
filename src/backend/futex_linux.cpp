// SPDX-License-Identifier: MIT
// Linux futex(2) backend.
//
// wait: FUTEX_WAIT_BITSET with an absolute CLOCK_MONOTONIC deadline (the bitset variant
// takes an absolute time; plain FUTEX_WAIT takes a relative one, which would restart
// after every interruption and drift). backend::Futex adds FUTEX_PRIVATE_FLAG to every
// call; backend::FutexShared does not, for words in memory shared between processes.
// std::chrono::steady_clock is CLOCK_MONOTONIC on Linux (libstdc++ and libc++), so the
// deadline's count since the epoch is the timespec the kernel wants.
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <ctime>

#include "fev/wait.hpp"
#include "monotonic_timespec.hpp"

namespace fev::backend {
namespace {

long futex(const std::atomic<std::uint32_t>& word, int op, std::uint32_t value, const timespec* deadline,
           std::uint32_t bitset) noexcept {
  // The kernel wants the address of the 32-bit value; std::atomic<uint32_t> is a
  // standard-layout wrapper around exactly that value.
  return syscall(SYS_futex, &word, op, value, deadline, nullptr, bitset);
}

// `private_flag` is FUTEX_PRIVATE_FLAG (Futex) or 0 (FutexShared).
WaitResult wait_on(const std::atomic<std::uint32_t>& word, std::uint32_t expected, Deadline deadline,
                   int private_flag) noexcept {
  const timespec absolute = backend::monotonic_timespec(deadline);
  const timespec* timeout = deadline == Deadline::max() ? nullptr : &absolute;
  for (;;) {
    if (futex(word, FUTEX_WAIT_BITSET | private_flag, expected, timeout, FUTEX_BITSET_MATCH_ANY) == 0)
      return WaitResult::woken;  // a wake, or a spurious return: the caller re-reads
    switch (errno) {
      case EINTR:      // a signal handler ran: wait again on the same absolute deadline
        continue;
      case ETIMEDOUT:  // the absolute deadline passed
        return WaitResult::timeout;
      case EAGAIN:     // the word no longer held `expected` when the kernel looked
        return WaitResult::woken;
      default:         // EFAULT/EINVAL cannot happen for a valid aligned word; never block
        return WaitResult::woken;
    }
  }
}

// Errors from wake are ignored on purpose: the word's memory may already have been
// freed by a thread this wake released (glibc and folly do the same).
void wake(const std::atomic<std::uint32_t>& word, std::uint32_t count, int private_flag) noexcept {
  (void)futex(word, FUTEX_WAKE | private_flag, count, nullptr, 0);
}

}  // namespace

WaitResult Futex::wait(const std::atomic<std::uint32_t>& word, std::uint32_t expected, Deadline deadline) noexcept {
  return wait_on(word, expected, deadline, FUTEX_PRIVATE_FLAG);
}
void Futex::wake_one(const std::atomic<std::uint32_t>& word) noexcept { wake(word, 1, FUTEX_PRIVATE_FLAG); }
void Futex::wake_all(const std::atomic<std::uint32_t>& word) noexcept { wake(word, INT_MAX, FUTEX_PRIVATE_FLAG); }

// Shared futexes: the same calls without FUTEX_PRIVATE_FLAG. A wake on a word whose
// mapping is already gone fails with EFAULT, ignored like every wake error above.
WaitResult FutexShared::wait(const std::atomic<std::uint32_t>& word, std::uint32_t expected,
                             Deadline deadline) noexcept {
  return wait_on(word, expected, deadline, 0);
}
void FutexShared::wake_one(const std::atomic<std::uint32_t>& word) noexcept { wake(word, 1, 0); }
void FutexShared::wake_all(const std::atomic<std::uint32_t>& word) noexcept { wake(word, INT_MAX, 0); }

}  // namespace fev::backend
