// SPDX-License-Identifier: MIT
// Test helper: hold a thread at its futex wake on one word — after the CAS that decided
// to wake, before the wake itself — and let it go later, with a seccomp user-notification
// filter (Linux 5.5+ for SECCOMP_USER_NOTIF_FLAG_CONTINUE). Deterministic: the test knows
// the setter is between its decision and its system call, and for how long.
//
//   // on the thread that will call set() (and in any process it forks afterwards):
//   const int listener = hold_futex_wakes_on(&word);   // -errno if refused
//   // on the test thread:
//   FutexWakeHold hold(listener);
//   hold.wait_held(10s);   // the setter now sits in its wake, not yet run
//   ...                    // what must happen in that window
//   hold.release();        // the wake runs now
//
// Only wakes on that one address are held (futex FUTEX_WAKE / FUTEX_WAKE_BITSET, and
// futex2's futex_wake), so malloc locks and the like are never caught. Closing the
// listener (the destructor) fails a wake still held with ENOSYS: a failing test never
// leaves its setter stuck.
#pragma once

#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/futex.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>

namespace fev::testing {

#if defined(__x86_64__)
inline constexpr std::uint32_t kAuditArch = AUDIT_ARCH_X86_64;
#elif defined(__aarch64__)
inline constexpr std::uint32_t kAuditArch = AUDIT_ARCH_AARCH64;
#else
inline constexpr std::uint32_t kAuditArch = 0;  // hold_futex_wakes_on answers -ENOTSUP
#endif

// Installs the filter on the calling thread only. Returns the listener fd, or -errno
// (-ENOTSUP on an architecture this helper does not know).
inline int hold_futex_wakes_on(const void* address) noexcept {
  if (kAuditArch == 0 || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__) return -ENOTSUP;
  constexpr std::uint32_t kNrFutexWake = 454;  // futex2 futex_wake (Linux 6.7), same on every arch
  const auto where = reinterpret_cast<std::uintptr_t>(address);
  const auto low = static_cast<std::uint32_t>(where);
  const auto high = static_cast<std::uint32_t>(static_cast<std::uint64_t>(where) >> 32);
  constexpr std::uint32_t kArg0 = offsetof(seccomp_data, args);  // little endian: low half first
  constexpr std::uint32_t kArg1 = kArg0 + sizeof(std::uint64_t);
  // Jump offsets count the instructions skipped; the two returns are at 14 and 15.
  sock_filter code[] = {
      /* 0 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, arch)),
      /* 1 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, kAuditArch, 1, 0),
      /* 2 */ BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
      /* 3 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, kArg0),
      /* 4 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, low, 0, 9),
      /* 5 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, kArg0 + 4),
      /* 6 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, high, 0, 7),
      /* 7 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
      /* 8 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, kNrFutexWake, 6, 0),
      /* 9 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_futex, 0, 4),
      /* 10 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, kArg1),
      /* 11 */ BPF_STMT(BPF_ALU | BPF_AND | BPF_K, 0x7f),  // the command, without the flags
      /* 12 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, FUTEX_WAKE, 2, 0),
      /* 13 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, FUTEX_WAKE_BITSET, 1, 0),
      /* 14 */ BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
      /* 15 */ BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_USER_NOTIF),
  };
  sock_fprog program{static_cast<unsigned short>(sizeof code / sizeof code[0]), code};
  // Without CAP_SYS_ADMIN a filter needs no_new_privs; it is per thread, as the filter.
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return -errno;
  const long listener = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, &program);
  return listener < 0 ? -errno : static_cast<int>(listener);
}

// The test's side: owns the listener, sees a wake held and lets it go.
class FutexWakeHold {
 public:
  explicit FutexWakeHold(int listener) noexcept : listener_(listener) {}
  FutexWakeHold(const FutexWakeHold&) = delete;
  FutexWakeHold& operator=(const FutexWakeHold&) = delete;
  ~FutexWakeHold() {
    if (listener_ >= 0) close(listener_);
  }

  // True once a wake is held (within `limit`); its thread stays in the system call.
  bool wait_held(std::chrono::milliseconds limit) noexcept {
    pollfd ready{listener_, POLLIN, 0};
    if (poll(&ready, 1, static_cast<int>(limit.count())) != 1) return false;
    seccomp_notif held{};
    if (ioctl(listener_, SECCOMP_IOCTL_NOTIF_RECV, &held) != 0) return false;
    held_id_ = held.id;
    return true;
  }

  // Lets the held wake run as it was called. True if the kernel took the answer.
  bool release() noexcept {
    seccomp_notif_resp answer{};
    answer.id = held_id_;
    answer.flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
    return ioctl(listener_, SECCOMP_IOCTL_NOTIF_SEND, &answer) == 0;
  }

 private:
  int listener_;
  std::uint64_t held_id_ = 0;
};

}  // namespace fev::testing
