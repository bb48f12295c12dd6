// SPDX-License-Identifier: MIT
// The stress harness's "asleep in the kernel" (os_thread_sleeping) for the waits its
// threads make: a consumer parked in fev::select's one futex_waitv(2) counts as asleep,
// as one parked in a ring's futex wait does, so the per-thread watchdog judges it.
#include "thread_state.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <thread>

#include "fev/ring.hpp"
#include "fev/select.hpp"
#include "fev/wait_many.hpp"

namespace stress {
namespace {

#if defined(__linux__)

// The number of the system call thread `os_id` of this process is in, or -1 (running,
// or unknown).
long current_syscall(long os_id) {
  char path[64];
  std::snprintf(path, sizeof path, "/proc/self/task/%ld/syscall", os_id);
  std::FILE* file = std::fopen(path, "r");
  if (file == nullptr) return -1;
  long number = -1;
  if (std::fscanf(file, "%ld", &number) != 1) number = -1;
  std::fclose(file);
  return number;
}

constexpr long kFutexWaitv = 449;  // the same number on every architecture (Linux 5.16)

TEST(StressThreadState, AConsumerParkedInSelectIsAsleep) {
  if (!fev::detail::futex_waitv_live()) GTEST_SKIP() << "no futex_waitv here: select parks on one word at a time";
  fev::Ring<int> first(1), second(1);
  int value = 0;
  std::atomic<long> consumer_id{0};
  std::thread consumer([&] {
    // release: publishes the id to the polling thread below.
    consumer_id.store(current_os_thread_id(), std::memory_order_release);
    (void)fev::select(fev::on_pop(first, value), fev::on_pop(second, value));
  });
  long id = 0;
  // acquire: pairs with the consumer's store.
  while ((id = consumer_id.load(std::memory_order_acquire)) == 0) std::this_thread::yield();
  // The select spins within fev::spin_limit() first; give it a generous while to park.
  bool parked = false;
  for (int tries = 0; tries < 10000 && !parked; ++tries) {
    parked = current_syscall(id) == kFutexWaitv;
    if (!parked) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  const bool asleep = parked && os_thread_sleeping(id);
  EXPECT_TRUE(second.push(7));  // ends the select, parked or not
  consumer.join();
  ASSERT_TRUE(parked) << "the select never entered futex_waitv";
  EXPECT_TRUE(asleep) << "a thread parked in futex_waitv read as running";
  EXPECT_EQ(value, 7);
}

#else

TEST(StressThreadState, AConsumerParkedInSelectIsAsleep) {
  GTEST_SKIP() << "no /proc here: the watchdog judges by time alone";
}

#endif

}  // namespace
}  // namespace stress
