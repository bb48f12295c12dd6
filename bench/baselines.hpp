// bench/baselines.hpp — the events fev is measured against, shared by event_bench and
// the latency tool.
//
// Each manual-reset baseline has fev::Event's shape (set / clear / is_set / wait) and
// each auto-reset one has fev::AutoResetEvent's (set / try_wait / wait), so the
// benchmarks are templates over the event type. Every baseline is written the way a
// careful user would write it with that primitive, not handicapped:
//
//   condvar      std::mutex + std::condition_variable + bool (what Python's
//                threading.Event is built from). notify after unlock.
//   atomic_wait  std::atomic<uint32_t> + C++20 wait/notify_all (libstdc++ spins briefly,
//                tracks waiters in a side table, and skips the wake when none wait).
//   boost_atomic boost::atomic<uint32_t> + wait/notify_all (Boost.Atomic >= 1.78, futex
//                on Linux; notify always enters the kernel).
//   eventfd      a Linux eventfd whose kernel counter is the state; every operation is a
//                system call (the price of an event that epoll can also watch).
//
// Only benchmarks include this file; nothing in include/ or src/ depends on it.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <semaphore>
#include <string_view>

#include "bench_config.hpp"
#include "fev/event.hpp"

#if FEV_BENCH_HAVE_BOOST_ATOMIC
#include <boost/atomic/atomic.hpp>
#endif

#if FEV_BENCH_HAVE_EVENTFD
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#endif

namespace fev_bench {

// fev's own events under the same naming scheme.
class FevEvent : public fev::Event {
 public:
  static constexpr std::string_view name = "fev";
};

class FevAutoResetEvent : public fev::AutoResetEvent {
 public:
  static constexpr std::string_view name = "fev";
};

// ---- Manual-reset events -----------------------------------------------------------

class CondvarEvent {
 public:
  static constexpr std::string_view name = "condvar";
  void set() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      set_ = true;
    }
    changed_.notify_all();
  }
  void clear() {
    std::lock_guard<std::mutex> lock(mutex_);
    set_ = false;
  }
  bool is_set() {
    std::lock_guard<std::mutex> lock(mutex_);
    return set_;
  }
  void wait() {
    std::unique_lock<std::mutex> lock(mutex_);
    changed_.wait(lock, [this] { return set_; });
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  bool set_ = false;
};

class AtomicWaitEvent {
 public:
  static constexpr std::string_view name = "atomic_wait";
  void set() noexcept {
    state_.store(1, std::memory_order_release);  // pairs with wait()/is_set() acquire
    state_.notify_all();
  }
  void clear() noexcept { state_.store(0, std::memory_order_relaxed); }
  bool is_set() const noexcept { return state_.load(std::memory_order_acquire) != 0; }
  void wait() noexcept {
    while (state_.load(std::memory_order_acquire) == 0) state_.wait(0, std::memory_order_acquire);
  }

 private:
  std::atomic<std::uint32_t> state_{0};
};

#if FEV_BENCH_HAVE_BOOST_ATOMIC
class BoostAtomicEvent {
 public:
  static constexpr std::string_view name = "boost_atomic";
  void set() noexcept {
    state_.store(1, boost::memory_order_release);
    state_.notify_all();
  }
  void clear() noexcept { state_.store(0, boost::memory_order_relaxed); }
  bool is_set() const noexcept { return state_.load(boost::memory_order_acquire) != 0; }
  void wait() noexcept {
    while (state_.load(boost::memory_order_acquire) == 0) state_.wait(0, boost::memory_order_acquire);
  }

 private:
  boost::atomic<std::uint32_t> state_{0};
};
#endif

#if FEV_BENCH_HAVE_EVENTFD
namespace detail {
inline int make_eventfd() {
  const int fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (fd < 0) std::abort();  // out of descriptors: a benchmark cannot go on meaningfully
  return fd;
}
inline void eventfd_add_one(int fd) {
  const std::uint64_t one = 1;
  while (::write(fd, &one, sizeof one) < 0 && errno == EINTR) {
  }
}
// Resets the counter to zero; true iff it was non-zero.
inline bool eventfd_drain(int fd) {
  std::uint64_t value = 0;
  for (;;) {
    if (::read(fd, &value, sizeof value) == static_cast<ssize_t>(sizeof value)) return true;
    if (errno != EINTR) return false;  // EAGAIN: it was zero
  }
}
inline bool eventfd_readable(int fd, int timeout_ms) {
  pollfd entry{fd, POLLIN, 0};
  for (;;) {
    const int ready = ::poll(&entry, 1, timeout_ms);
    if (ready >= 0) return ready == 1;
    if (errno != EINTR) return false;
  }
}
}  // namespace detail

// Manual reset: "set" means the counter is non-zero. wait() polls for readability
// without consuming it, so every waiter is released; clear() drains the counter.
class EventfdEvent {
 public:
  static constexpr std::string_view name = "eventfd";
  EventfdEvent() : fd_(detail::make_eventfd()) {}
  EventfdEvent(const EventfdEvent&) = delete;
  EventfdEvent& operator=(const EventfdEvent&) = delete;
  ~EventfdEvent() { ::close(fd_); }
  void set() { detail::eventfd_add_one(fd_); }
  void clear() { (void)detail::eventfd_drain(fd_); }
  bool is_set() { return detail::eventfd_readable(fd_, 0); }
  void wait() {
    while (!detail::eventfd_readable(fd_, -1)) {
    }
  }

 private:
  int fd_;
};
#endif

// ---- Auto-reset events (set releases one waiter, or stays set for the next) ---------

class CondvarAutoResetEvent {
 public:
  static constexpr std::string_view name = "condvar";
  void set() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      set_ = true;
    }
    changed_.notify_one();
  }
  bool try_wait() {
    std::lock_guard<std::mutex> lock(mutex_);
    const bool was = set_;
    set_ = false;
    return was;
  }
  void wait() {
    std::unique_lock<std::mutex> lock(mutex_);
    changed_.wait(lock, [this] { return set_; });
    set_ = false;
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  bool set_ = false;
};

class AtomicWaitAutoResetEvent {
 public:
  static constexpr std::string_view name = "atomic_wait";
  void set() noexcept {
    // release: pairs with the acquire exchange of the thread that takes the signal.
    if (state_.exchange(1, std::memory_order_release) == 0) state_.notify_one();
  }
  bool try_wait() noexcept {
    return state_.load(std::memory_order_relaxed) != 0 && state_.exchange(0, std::memory_order_acquire) != 0;
  }
  void wait() noexcept {
    while (!try_wait()) state_.wait(0, std::memory_order_relaxed);
  }

 private:
  std::atomic<std::uint32_t> state_{0};
};

#if FEV_BENCH_HAVE_BOOST_ATOMIC
class BoostAtomicAutoResetEvent {
 public:
  static constexpr std::string_view name = "boost_atomic";
  void set() noexcept {
    if (state_.exchange(1, boost::memory_order_release) == 0) state_.notify_one();
  }
  bool try_wait() noexcept {
    return state_.load(boost::memory_order_relaxed) != 0 && state_.exchange(0, boost::memory_order_acquire) != 0;
  }
  void wait() noexcept {
    while (!try_wait()) state_.wait(0, boost::memory_order_relaxed);
  }

 private:
  boost::atomic<std::uint32_t> state_{0};
};
#endif

// std::binary_semaphore as an auto-reset event. Only for hand-off patterns, where set()
// never finds it already set (releasing past max() is undefined behaviour).
class SemaphoreAutoResetEvent {
 public:
  static constexpr std::string_view name = "binary_semaphore";
  void set() noexcept { semaphore_.release(); }
  bool try_wait() noexcept { return semaphore_.try_acquire(); }
  void wait() noexcept { semaphore_.acquire(); }

 private:
  std::binary_semaphore semaphore_{0};
};

#if FEV_BENCH_HAVE_EVENTFD
// Auto reset: a blocking-style read consumes the counter (several set()s coalesce).
class EventfdAutoResetEvent {
 public:
  static constexpr std::string_view name = "eventfd";
  EventfdAutoResetEvent() : fd_(detail::make_eventfd()) {}
  EventfdAutoResetEvent(const EventfdAutoResetEvent&) = delete;
  EventfdAutoResetEvent& operator=(const EventfdAutoResetEvent&) = delete;
  ~EventfdAutoResetEvent() { ::close(fd_); }
  void set() { detail::eventfd_add_one(fd_); }
  bool try_wait() { return detail::eventfd_drain(fd_); }
  void wait() {
    while (!detail::eventfd_drain(fd_)) (void)detail::eventfd_readable(fd_, -1);
  }

 private:
  int fd_;
};
#endif

}  // namespace fev_bench
