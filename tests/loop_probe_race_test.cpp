// SPDX-License-Identifier: MIT
// The first io_uring loops of a process, constructed on several threads at once, probe
// the kernel's futex support one at a time. Every probe arms and wakes the same scratch
// word, so two at once could each be completed by the other's wake (and trust flags
// that do not work); under ThreadSanitizer they also wrote one submission slot at once.
// This program must be the only one in its process to construct a Loop: the probe runs
// once per process.
#include <gtest/gtest.h>

#include <latch>
#include <thread>
#include <vector>

#include "fev/loop.hpp"

namespace {

TEST(LoopProbe, FirstLoopsOnSeveralThreadsAgree) {
  if (!fev::Loop::supported()) GTEST_SKIP() << "io_uring is not available here";
  constexpr int kThreads = 4;
  std::latch start(kThreads);
  std::vector<char> futex_waits(kThreads, 0);
  std::vector<std::thread> threads;
  for (int index = 0; index < kThreads; ++index) {
    threads.emplace_back([&, index] {
      start.arrive_and_wait();
      fev::Loop loop;
      futex_waits[index] = loop.futex_waits() ? 1 : 0;
    });
  }
  for (std::thread& thread : threads) thread.join();
  const fev::Loop later;
  for (int index = 0; index < kThreads; ++index)
    EXPECT_EQ(futex_waits[index] != 0, later.futex_waits()) << "loop " << index;
}

}  // namespace
