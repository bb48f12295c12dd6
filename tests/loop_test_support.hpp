// SPDX-License-Identifier: MIT
// Test helper for the fev::Loop suites: a watchdog that stops a hung loop, a run that
// reports whether every task finished, and the fixture that runs each test on the
// io_uring futex path (where the kernel has it) and on the forced fallback path.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>

#include "fev/loop.hpp"

namespace fev::testing {

// Stops the loop after `patience` unless disarmed first; says whether it fired.
class LoopWatchdog {
 public:
  LoopWatchdog(fev::Loop& loop, std::chrono::seconds patience)
      : thread_([this, &loop, patience] {
          std::unique_lock<std::mutex> lock(mutex_);
          if (!done_cv_.wait_for(lock, patience, [this] { return done_; })) {
            fired_ = true;
            loop.stop();
          }
        }) {}
  LoopWatchdog(const LoopWatchdog&) = delete;
  LoopWatchdog& operator=(const LoopWatchdog&) = delete;
  ~LoopWatchdog() { disarm(); }
  bool disarm() {
    {
      const std::lock_guard<std::mutex> lock(mutex_);
      done_ = true;
    }
    done_cv_.notify_all();
    if (thread_.joinable()) thread_.join();
    return fired_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable done_cv_;
  bool done_ = false;
  bool fired_ = false;
  std::thread thread_;
};

// Runs until every task finished; false if the watchdog had to stop it.
inline bool run_all(fev::Loop& loop, std::chrono::seconds patience = std::chrono::seconds(60)) {
  LoopWatchdog watchdog(loop, patience);
  loop.run();
  return !watchdog.disarm() && loop.live_tasks() == 0;
}

// The parameter says whether the loop is forced onto the fallback path; a run on the
// futex path is skipped where the kernel has no io_uring futex waits.
class LoopPathTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    if (!fev::Loop::supported()) GTEST_SKIP() << "io_uring cannot be set up here (kernel, sysctl or seccomp)";
    fev::detail::force_loop_fallback(GetParam());
    loop_ = std::make_unique<fev::Loop>();
    fev::detail::force_loop_fallback(false);
    if (!GetParam() && !loop_->futex_waits())
      GTEST_SKIP() << "no io_uring futex waits here (a kernel before 6.7, or FEV_LOOP_FALLBACK set): "
                      "only the fallback runs";
    if (GetParam()) {
      ASSERT_FALSE(loop_->futex_waits());
    }
  }
  fev::Loop& loop() { return *loop_; }
  std::unique_ptr<fev::Loop> loop_;
};

}  // namespace fev::testing
