// SPDX-License-Identifier: MIT
// bench/epoll_bridge.hpp — the usual way to wake a coroutine from another thread
// without fev: the thread writes an eventfd, the loop's thread sits in epoll_wait(), and
// the loop resumes the coroutine that waits for that eventfd. A reference for
// bench/async_bench.cpp, kept as small as such a bridge can be:
//
//   fev_bench::EpollLoop loop;
//   fev_bench::FdSource wake(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
//   loop.watch(wake);
//   fev_bench::BridgeTask task = consumer(wake);   // co_await fev_bench::read_counter(wake)
//   loop.run_until([&] { return task.done(); });
//
// Each source is registered once, edge-triggered: a write after the reader found the
// counter empty is one more edge, so nothing is lost and a readable source with nobody
// waiting costs nothing. Linux only.
#pragma once

#include <sys/epoll.h>
#include <unistd.h>

#include <cerrno>
#include <coroutine>
#include <cstdint>
#include <exception>
#include <system_error>
#include <utility>

namespace fev_bench {

// A coroutine that starts at once and stops at its end; the BridgeTask frees its frame.
class BridgeTask {
 public:
  struct promise_type {
    BridgeTask get_return_object() noexcept {
      return BridgeTask(std::coroutine_handle<promise_type>::from_promise(*this));
    }
    std::suspend_never initial_suspend() const noexcept { return {}; }
    std::suspend_always final_suspend() const noexcept { return {}; }
    void return_void() const noexcept {}
    void unhandled_exception() const noexcept { std::terminate(); }
  };

  BridgeTask(BridgeTask&& other) noexcept : frame_(std::exchange(other.frame_, {})) {}
  BridgeTask& operator=(BridgeTask&&) = delete;
  ~BridgeTask() {
    if (frame_) frame_.destroy();
  }
  bool done() const noexcept { return frame_.done(); }

 private:
  explicit BridgeTask(std::coroutine_handle<promise_type> frame) noexcept : frame_(frame) {}
  std::coroutine_handle<promise_type> frame_;
};

// A non-blocking eventfd or timerfd (owned), the coroutine waiting for it, and the
// counter value last read from it.
struct FdSource {
  explicit FdSource(int descriptor) : fd(descriptor) {
    if (fd < 0) throw std::system_error(errno, std::generic_category(), "eventfd/timerfd");
  }
  FdSource(const FdSource&) = delete;
  FdSource& operator=(const FdSource&) = delete;
  ~FdSource() { ::close(fd); }

  // True when the 8-byte counter was read (and reset): the fd had been written.
  bool try_read() noexcept { return ::read(fd, &value, sizeof value) == static_cast<ssize_t>(sizeof value); }

  const int fd;
  std::coroutine_handle<> waiter;
  std::uint64_t value = 0;
};

// epoll_wait() on one thread; resumes the waiter of every source that became readable.
class EpollLoop {
 public:
  EpollLoop() : epoll_(::epoll_create1(EPOLL_CLOEXEC)) {
    if (epoll_ < 0) throw std::system_error(errno, std::generic_category(), "epoll_create1");
  }
  EpollLoop(const EpollLoop&) = delete;
  EpollLoop& operator=(const EpollLoop&) = delete;
  ~EpollLoop() { ::close(epoll_); }

  void watch(FdSource& source) {
    epoll_event interest{};
    interest.events = EPOLLIN | EPOLLET;
    interest.data.ptr = &source;
    if (::epoll_ctl(epoll_, EPOLL_CTL_ADD, source.fd, &interest) != 0) {
      throw std::system_error(errno, std::generic_category(), "epoll_ctl");
    }
  }

  template <class Pred>
  void run_until(Pred&& done) {
    epoll_event ready[8];
    while (!done()) {
      const int count = ::epoll_wait(epoll_, ready, 8, -1);
      if (count < 0) {
        if (errno == EINTR) continue;
        throw std::system_error(errno, std::generic_category(), "epoll_wait");
      }
      for (int i = 0; i < count; ++i) {
        auto& source = *static_cast<FdSource*>(ready[i].data.ptr);
        // Nobody waiting: the next reader finds the value itself (await_ready).
        if (source.waiter && source.try_read()) std::exchange(source.waiter, {}).resume();
      }
    }
  }

 private:
  const int epoll_;
};

// co_await read_counter(source): the source's counter, read at once if it was written,
// else once the loop saw it become readable.
struct ReadCounter {
  FdSource& source;
  bool await_ready() noexcept { return source.try_read(); }
  void await_suspend(std::coroutine_handle<> waiter) noexcept { source.waiter = waiter; }
  std::uint64_t await_resume() const noexcept { return source.value; }
};
inline ReadCounter read_counter(FdSource& source) noexcept { return {source}; }

}  // namespace fev_bench
