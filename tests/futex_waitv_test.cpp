// SPDX-License-Identifier: MIT
// wait_any/wait_all on futex events really sleep in futex_waitv(2) when the kernel has
// it, and in futex(2) on the forced slow path: checked from /proc/self/task/TID/syscall,
// which names the system call a blocked thread sits in. Built only where meson found
// futex_waitv; skips visibly where the running kernel refuses it.
#include <sys/syscall.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <optional>
#include <string>
#include <thread>

#include "fev/event.hpp"
#include "fev/wait_many.hpp"
#include "test_backends.hpp"

namespace {

using namespace std::chrono_literals;

// The number of the system call thread `tid` is blocked in, or -1 (running, or gone).
long blocked_in(pid_t tid) {
  std::ifstream file("/proc/self/task/" + std::to_string(tid) + "/syscall");
  std::string first;
  if (!(file >> first)) return -1;
  try {
    return std::stol(first);
  } catch (...) {
    return -1;  // "running"
  }
}

template <class Event>
void expect_wait_any_sleeps_in(long syscall_number, const char* name) {
  Event a, b;
  std::atomic<pid_t> tid{0};
  std::optional<std::size_t> result;
  std::thread waiter([&] {
    tid = gettid();
    result = fev::wait_any_for(60s, a, b);
  });
  const bool seen = fev::testing::eventually([&] { return tid.load() != 0 && blocked_in(tid.load()) == syscall_number; },
                                             10s);
  b.set();
  waiter.join();
  EXPECT_TRUE(seen) << "the waiter never sat in " << name;
  EXPECT_EQ(result, std::optional<std::size_t>(1));
}

class FutexWaitv : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fev::detail::futex_waitv_live())
      GTEST_SKIP() << "this kernel refuses futex_waitv (ENOSYS before Linux 5.16, or EPERM from seccomp): "
                      "wait_any/wait_all take their slow path here";
  }
  void TearDown() override { fev::detail::force_waitv_fallback(false); }
};

TEST_F(FutexWaitv, PrivateEventsSleepInFutexWaitv) {
  std::printf("futex_waitv is live on this kernel\n");
  expect_wait_any_sleeps_in<fev::Event>(SYS_futex_waitv, "futex_waitv");
}

TEST_F(FutexWaitv, SharedEventsSleepInFutexWaitv) {
  expect_wait_any_sleeps_in<fev::BasicEvent<fev::backend::FutexShared>>(SYS_futex_waitv, "futex_waitv");
}

TEST_F(FutexWaitv, ForcedFallbackSleepsInFutex) {
  fev::detail::force_waitv_fallback(true);
  expect_wait_any_sleeps_in<fev::Event>(SYS_futex, "futex");
}

TEST_F(FutexWaitv, WaitAllSleepsInFutexWaitvUntilTheLastOne) {
  fev::Event a, b, c;
  std::atomic<pid_t> tid{0};
  bool all = false;
  std::thread waiter([&] {
    tid = gettid();
    all = fev::wait_all_for(60s, a, b, c);
  });
  const auto in_waitv = [&] { return tid.load() != 0 && blocked_in(tid.load()) == SYS_futex_waitv; };
  EXPECT_TRUE(fev::testing::eventually(in_waitv, 10s));
  a.set();
  c.set();
  EXPECT_TRUE(fev::testing::eventually(in_waitv, 10s)) << "back to sleep on the one left";
  b.set();
  waiter.join();
  EXPECT_TRUE(all);
}

}  // namespace
