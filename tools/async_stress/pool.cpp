// SPDX-License-Identifier: MIT
#include "pool.hpp"

namespace async_stress {
namespace {
thread_local const Pool* current_pool = nullptr;  // the pool this thread serves, if any
}  // namespace

Pool::Pool(int threads) {
  for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { serve(); });
}

Pool::~Pool() { stop(); }

void Pool::schedule(std::coroutine_handle<> coroutine) {
  {
    const std::scoped_lock hold(lock_);
    queue_.push_back(coroutine);
  }
  ready_.notify_one();
}

bool Pool::here() const noexcept { return current_pool == this; }

void Pool::stop() {
  {
    const std::scoped_lock hold(lock_);
    stopping_ = true;
  }
  ready_.notify_all();
  for (auto& thread : threads_) thread.join();
  threads_.clear();
}

void Pool::serve() {
  current_pool = this;
  std::unique_lock hold(lock_);
  for (;;) {
    ready_.wait(hold, [this] { return stopping_ || !queue_.empty(); });
    if (queue_.empty()) return;  // stopping, and nothing left
    const std::coroutine_handle<> next = queue_.front();
    queue_.pop_front();
    hold.unlock();
    next.resume();
    hold.lock();
  }
}

}  // namespace async_stress
