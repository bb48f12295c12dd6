// SPDX-License-Identifier: MIT
// Test helper: makes the calling process die at its next futex wake, exactly between a
// waker's atomic step and its wake system call (a seccomp filter that returns
// SECCOMP_RET_KILL_PROCESS for futex(2) with a wake operation). For forked children.
#pragma once

#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/futex.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstddef>

namespace fev::testing {

// Installs the filter; false if the kernel refused it. Every other system call, and
// futex waits, go through as before.
inline bool die_at_next_futex_wake() {
  constexpr unsigned kArch =
#if defined(__x86_64__)
      AUDIT_ARCH_X86_64;
#elif defined(__aarch64__)
      AUDIT_ARCH_AARCH64;
#else
      0;
#endif
  if (kArch == 0) return false;
  // futex's second argument (op); its low 32 bits on a little-endian machine.
  constexpr unsigned kOpOffset = offsetof(seccomp_data, args) + sizeof(__u64) * 1;
  sock_filter program[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, arch)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, kArch, 1, 0),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_futex, 1, 0),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, kOpOffset),
      BPF_STMT(BPF_ALU | BPF_AND | BPF_K, static_cast<__u32>(FUTEX_CMD_MASK)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, FUTEX_WAKE, 2, 0),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, FUTEX_WAKE_BITSET, 1, 0),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
  };
  sock_fprog filter{static_cast<unsigned short>(sizeof program / sizeof program[0]), program};
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return false;
  return syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &filter) == 0;
}

}  // namespace fev::testing
