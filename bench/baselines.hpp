// SPDX-License-Identifier: MIT
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
//   futex        the bare kernel pair: one 32-bit word, FUTEX_WAIT_PRIVATE while it is 0,
//                and set() always calls FUTEX_WAKE_PRIVATE (no spin, no waiter count). The
//                floor for "sleep in the kernel, be woken by the kernel".
//
// Like-for-like variants: fev spins for fev::spin_limit() before it parks, and no plain
// baseline does. These two spin on the same flag for the same time, with the same
// pause-and-poll rhythm, then block as their plain versions do; the difference left
// between fev and them is the word itself (one atomic, no mutex, no side table).
//
//   condvar_spin      condvar, plus an atomic copy of the flag (written under the mutex)
//                     that wait() polls before it takes the mutex.
//   atomic_wait_spin  atomic_wait, polling the flag before std::atomic::wait.
//
// Only benchmarks include this file; nothing in include/ or src/ depends on it.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <semaphore>
#include <string_view>

#include "bench_config.hpp"
#include "fev/event.hpp"
#include "fev/wait.hpp"

#if FEV_BENCH_HAVE_BOOST_ATOMIC
#include <boost/atomic/atomic.hpp>
#endif

#if FEV_BENCH_HAVE_FUTEX
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <climits>
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

// One pause instruction, so that a spinning baseline spins the way fev does.
inline void pause_cpu() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

// Polls done() for at most fev::spin_limit() of steady_clock time, with a pause between
// polls and one clock read per 16 polls: fev's spin budget and rhythm, through its public
// API only. Returns done()'s last answer.
template <class Done>
bool spin_like_fev(Done&& done) {
  if (done()) return true;
  const std::chrono::nanoseconds limit = fev::spin_limit();
  if (limit <= std::chrono::nanoseconds::zero()) return false;
  constexpr int kPollsPerClockRead = 16;
  const auto start = std::chrono::steady_clock::now();
  for (;;) {
    for (int poll = 0; poll < kPollsPerClockRead; ++poll) {
      pause_cpu();
      if (done()) return true;
    }
    if (std::chrono::steady_clock::now() - start >= limit) return false;
  }
}

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

// condvar that first spins on an atomic copy of its flag, like fev does.
class CondvarSpinEvent {
 public:
  static constexpr std::string_view name = "condvar_spin";
  void set() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      set_.store(true, std::memory_order_release);  // pairs with the acquire poll in wait()/is_set()
    }
    changed_.notify_all();
  }
  void clear() {
    std::lock_guard<std::mutex> lock(mutex_);
    set_.store(false, std::memory_order_relaxed);  // orders nothing, like Event::clear()
  }
  bool is_set() const noexcept { return set_.load(std::memory_order_acquire); }  // pairs with set()
  void wait() {
    if (spin_like_fev([this] { return is_set(); })) return;
    std::unique_lock<std::mutex> lock(mutex_);
    // relaxed: the mutex orders this read after set()'s store.
    changed_.wait(lock, [this] { return set_.load(std::memory_order_relaxed); });
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  std::atomic<bool> set_{false};
};

// atomic_wait that first spins on its word, like fev does.
class AtomicWaitSpinEvent : public AtomicWaitEvent {
 public:
  static constexpr std::string_view name = "atomic_wait_spin";
  void wait() noexcept {
    if (spin_like_fev([this] { return is_set(); })) return;
    AtomicWaitEvent::wait();
  }
};

#if FEV_BENCH_HAVE_FUTEX
class FutexEvent {
 public:
  static constexpr std::string_view name = "futex";
  void set() noexcept {
    state_.store(1, std::memory_order_release);  // pairs with wait()/is_set() acquire
    (void)::syscall(SYS_futex, static_cast<void*>(&state_), FUTEX_WAKE_PRIVATE, INT_MAX, nullptr, nullptr, 0);
  }
  void clear() noexcept { state_.store(0, std::memory_order_relaxed); }  // orders nothing
  bool is_set() const noexcept { return state_.load(std::memory_order_acquire) != 0; }  // pairs with set()
  void wait() noexcept {
    // The kernel compares the word with 0 under its bucket lock: a set() between our
    // load and the sleep makes FUTEX_WAIT return EAGAIN at once (no lost wakeup).
    while (!is_set()) {
      (void)::syscall(SYS_futex, static_cast<void*>(&state_), FUTEX_WAIT_PRIVATE, 0, nullptr, nullptr, 0);
    }
  }

 private:
  static_assert(sizeof(std::atomic<std::uint32_t>) == sizeof(std::uint32_t), "a futex is one 32-bit word");
  std::atomic<std::uint32_t> state_{0};
};
#endif

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
