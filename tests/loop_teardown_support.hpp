// SPDX-License-Identifier: MIT
// Test helpers for a fev::Loop's teardown: which system call a thread sits in, the
// loop's descriptors as /proc/self/fd names them, holding one thread at its write(2) to
// one descriptor (a seccomp user notification, as tests/futex_wake_hold.hpp holds
// wakes), and a file that stands in for the application's reuse of a closed number.
#pragma once

#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "futex_wake_hold.hpp"

namespace fev::testing {

// Polls `done` until it holds (true) or `limit` has passed (false): a limit for a hang,
// never part of a verdict that a working program meets.
template <class Done>
bool holds_within(std::chrono::milliseconds limit, Done&& done) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  return true;
}

// The number of the system call thread `tid` is blocked in, or -1 (running, or gone).
inline long blocked_in(pid_t tid) {
  std::ifstream file("/proc/self/task/" + std::to_string(tid) + "/syscall");
  std::string first;
  if (!(file >> first)) return -1;
  char* end = nullptr;
  const long number = std::strtol(first.c_str(), &end, 10);
  return end != first.c_str() && *end == '\0' ? number : -1;  // "running" is no number
}

// True while thread `tid` sleeps in futex(2) on `address`.
inline bool sleeps_on(pid_t tid, const void* address) {
  std::ifstream file("/proc/self/task/" + std::to_string(tid) + "/syscall");
  std::string number, first_argument;
  if (!(file >> number >> first_argument) || number != std::to_string(SYS_futex)) return false;
  return std::strtoull(first_argument.c_str(), nullptr, 16) == reinterpret_cast<std::uintptr_t>(address);
}

// What /proc/self/fd says descriptor `fd` is ("anon_inode:[eventfd]", a path), or "".
inline std::string fd_target(int fd) {
  std::error_code error;
  const auto target = std::filesystem::read_symlink("/proc/self/fd/" + std::to_string(fd), error);
  return error ? std::string() : target.string();
}

// Every open descriptor that /proc/self/fd names `target`.
inline std::vector<int> fds_named(const std::string& target) {
  std::vector<int> found;
  for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) {
    const int fd = std::atoi(entry.path().filename().c_str());
    if (fd_target(fd) == target) found.push_back(fd);
  }
  return found;
}

inline constexpr const char* kEventfd = "anon_inode:[eventfd]";
inline constexpr const char* kIoUring = "anon_inode:[io_uring]";

// Installs, on the calling thread only, a filter that holds its write(2)s to `fd`.
// Returns the listener fd for a FutexWakeHold, or -errno.
inline int hold_writes_to(int fd) noexcept {
  if (kAuditArch == 0) return -ENOTSUP;
  sock_filter code[] = {
      /* 0 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, arch)),
      /* 1 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, kAuditArch, 1, 0),
      /* 2 */ BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
      /* 3 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
      /* 4 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_write, 0, 2),
      /* 5 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, args)),  // the fd's low half
      /* 6 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, static_cast<std::uint32_t>(fd), 1, 0),
      /* 7 */ BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
      /* 8 */ BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_USER_NOTIF),
  };
  sock_fprog program{static_cast<unsigned short>(sizeof code / sizeof code[0]), code};
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return -errno;
  const long listener = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, &program);
  return listener < 0 ? -errno : static_cast<int>(listener);
}

// An empty unlinked file put at descriptor number `fd`, as an application's open() would
// after the number was closed; size() tells whether anything was written into it.
class ReusedNumber {
 public:
  explicit ReusedNumber(int fd) : fd_(fd) {
    char name[] = "/tmp/fev-reused-XXXXXX";
    const int file = mkstemp(name);
    if (file < 0) return;
    unlink(name);
    placed_ = dup2(file, fd) == fd;
    close(file);
  }
  ~ReusedNumber() {
    if (placed_) close(fd_);
  }
  ReusedNumber(const ReusedNumber&) = delete;
  ReusedNumber& operator=(const ReusedNumber&) = delete;
  bool placed() const noexcept { return placed_; }
  long long size() const noexcept {
    struct stat status{};
    return placed_ && fstat(fd_, &status) == 0 ? static_cast<long long>(status.st_size) : -1;
  }

 private:
  int fd_;
  bool placed_ = false;
};

}  // namespace fev::testing
