// SPDX-License-Identifier: MIT
// futex_waitv(2) (Linux 5.16+): one sleep on up to 128 futex words, for
// fev::wait_any/wait_all. Built where meson finds struct futex_waitv and SYS_futex_waitv;
// whether the running kernel has the call is probed at run time.
//
// Each waiter: `val` the value the word must still hold, `uaddr` its address, `flags`
// FUTEX_32 (the only size there is) plus FUTEX_PRIVATE_FLAG for process-private words,
// which must match how the words are woken (fev::backend::Futex wakes private,
// FutexShared shared). The timeout is absolute, on the clock named by the last argument:
// CLOCK_MONOTONIC, which std::chrono::steady_clock is on Linux.
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <ctime>

#include "futex_waitv.hpp"
#include "monotonic_timespec.hpp"

namespace fev::detail {
namespace {

long waitv(struct futex_waitv* waiters, std::size_t count, const timespec* deadline) noexcept {
  // flags (the third argument) must be 0; the clock is the fifth.
  return syscall(SYS_futex_waitv, waiters, static_cast<unsigned>(count), 0u, deadline, CLOCK_MONOTONIC);
}

}  // namespace

WaitvResult waitv_sleep(std::atomic<std::uint32_t>* const* words, const std::uint32_t* expected,
                        std::size_t count, bool shared, Deadline deadline) noexcept {
  if (count == 0 || count > FUTEX_WAITV_MAX) return WaitvResult::unsupported;  // callers never do this
  struct futex_waitv waiters[FUTEX_WAITV_MAX];
  const std::uint32_t flags = FUTEX_32 | (shared ? 0u : static_cast<std::uint32_t>(FUTEX_PRIVATE_FLAG));
  for (std::size_t i = 0; i < count; ++i) {
    // The kernel wants the address of the 32-bit value; std::atomic<uint32_t> is a
    // standard-layout wrapper around exactly that value.
    waiters[i].val = expected[i];
    waiters[i].uaddr = reinterpret_cast<std::uintptr_t>(words[i]);
    waiters[i].flags = flags;
    waiters[i].__reserved = 0;
  }
  const timespec absolute = backend::monotonic_timespec(deadline);
  if (waitv(waiters, count, deadline == Deadline::max() ? nullptr : &absolute) >= 0)
    return WaitvResult::woken;  // the index of a woken word: the caller re-reads them all
  switch (errno) {
    case EAGAIN:     // some word no longer held its value when the kernel looked
      return WaitvResult::woken;
    case EINTR:      // a signal handler ran: the caller re-reads and comes back with the same deadline
      return WaitvResult::woken;
    case ETIMEDOUT:  // the absolute deadline passed
      return WaitvResult::timeout;
    case ENOSYS:     // kernel older than 5.16
    case EPERM:      // a seccomp filter (containers) refuses the call
    case EINVAL:     // a kernel that knows the call but not these flags
    default:         // EFAULT and the rest cannot happen for valid words; never spin on them
      return WaitvResult::unsupported;
  }
}

bool futex_waitv_probe() noexcept {
  // A word that does not hold the expected value: a kernel with futex_waitv answers
  // EAGAIN at once, without sleeping (a zero timeout as well, in case it looks later).
  std::atomic<std::uint32_t> word{1};
  struct futex_waitv waiter{};
  waiter.val = 0;
  waiter.uaddr = reinterpret_cast<std::uintptr_t>(&word);
  waiter.flags = FUTEX_32 | FUTEX_PRIVATE_FLAG;
  const timespec now{};
  if (waitv(&waiter, 1, &now) >= 0) return true;
  return errno == EAGAIN || errno == ETIMEDOUT;
}

}  // namespace fev::detail
