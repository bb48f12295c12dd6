// SPDX-License-Identifier: MIT
// A small thread-pool executor for tools/async_stress: schedule() queues a coroutine
// behind a mutex (so the call happens-before the resumption, as fev::Executor asks), and
// the pool's threads resume them one at a time each. PoolTask is a coroutine that starts
// on the pool and frees its own frame when it ends.
#pragma once

#include <condition_variable>
#include <coroutine>
#include <deque>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

#include "world.hpp"

namespace async_stress {

class Pool final : public Home {
 public:
  explicit Pool(int threads);
  ~Pool();
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;

  void schedule(std::coroutine_handle<> coroutine);
  bool here() const noexcept override;
  // Lets the threads go once the queue is empty, and joins them.
  void stop();

 private:
  void serve();

  std::mutex lock_;
  std::condition_variable ready_;
  std::deque<std::coroutine_handle<>> queue_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

class PoolTask {
 public:
  struct promise_type {
    PoolTask get_return_object() noexcept {
      return PoolTask(std::coroutine_handle<promise_type>::from_promise(*this));
    }
    std::suspend_always initial_suspend() const noexcept { return {}; }
    std::suspend_never final_suspend() const noexcept { return {}; }  // the frame frees itself
    void return_void() const noexcept {}
    void unhandled_exception() const noexcept { std::terminate(); }
  };
  // Hands the coroutine to `pool`, which starts it.
  void start(Pool& pool) && { pool.schedule(frame_); }

 private:
  explicit PoolTask(std::coroutine_handle<promise_type> frame) noexcept : frame_(frame) {}
  std::coroutine_handle<promise_type> frame_;
};

}  // namespace async_stress
