// SPDX-License-Identifier: MIT
// How a plain benchmark program fails its data check: one line on stderr and exit
// status 1, also when a run makes no progress for too long (the stall watchdog: a lost
// wake stops the program instead of hanging it).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <utility>

namespace fev_bench {

constexpr int kDataCheckFailed = 1;

// Prints "<program>: data check failed: <what>" to stderr and exits with kDataCheckFailed.
[[noreturn]] inline void data_check_failed(std::string_view program, const std::string& what) {
  std::fprintf(stderr, "%.*s: data check failed: %s\n", static_cast<int>(program.size()), program.data(), what.c_str());
  std::fflush(stdout);
  std::_Exit(kDataCheckFailed);
}

// Fails the data check when a run stays armed longer than `limit`, naming the run and
// `cause` (what such a stall means).
class Watchdog {
 public:
  Watchdog(std::string_view program, std::chrono::seconds limit, std::string_view cause)
      : program_(program), cause_(cause), limit_(limit), thread_([this] { watch(); }) {}
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;
  ~Watchdog() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_ = true;
    }
    changed_.notify_one();
    thread_.join();
  }
  void arm(std::string label) {
    std::lock_guard<std::mutex> lock(mutex_);
    label_ = std::move(label);
    armed_at_ = std::chrono::steady_clock::now();
    armed_ = true;
  }
  void disarm() {
    std::lock_guard<std::mutex> lock(mutex_);
    armed_ = false;
  }

 private:
  void watch() {
    std::unique_lock<std::mutex> lock(mutex_);
    while (!stop_) {
      // Wakes once a second at most: a few context switches per minute, in every row alike.
      changed_.wait_for(lock, std::chrono::seconds(1));
      if (armed_ && std::chrono::steady_clock::now() - armed_at_ > limit_) {
        data_check_failed(program_, label_ + " did not finish within " + std::to_string(limit_.count()) + " s (" +
                                        std::string(cause_) + ")");
      }
    }
  }

  const std::string_view program_;
  const std::string_view cause_;
  const std::chrono::seconds limit_;
  std::mutex mutex_;
  std::condition_variable changed_;
  bool stop_ = false;
  bool armed_ = false;
  std::chrono::steady_clock::time_point armed_at_;
  std::string label_;
  std::thread thread_;  // last: starts after the members it reads
};

}  // namespace fev_bench
