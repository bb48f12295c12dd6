// SPDX-License-Identifier: MIT
// fev/event.hpp — Event (manual reset, Python's threading.Event) and AutoResetEvent.
//
// Both live in one 32-bit atomic word. Fast paths (is_set, set with nobody parked,
// wait on a set event, try_wait) are a single atomic operation and never enter the
// kernel. A waiter that must wait polls as fev/spin.hpp's policy allows (within its
// budget: fev::spin_limit(), or the WaitOptions passed to the call; never past its
// deadline), then parks on the word through the
// wait backend `Wait` (fev::DefaultWait unless a test swaps it).
//
// Memory ordering: everything a thread did before set() happens-before everything a
// thread does after a wait()/wait_for()/wait_until()/is_set()/try_wait() that observed
// that set (returned true because of it). clear() orders nothing.
#pragma once

#include "fev/cxx20.hpp"  // first: below C++20, one clear error instead of many

#include <atomic>
#include <chrono>
#include <cstdint>
#include <stop_token>

#include "fev/config.hpp"
#include "fev/deadline.hpp"
#include "fev/detail_error.hpp"
#include "fev/detail_loop_waits.hpp"
#include "fev/spin.hpp"
#include "fev/wait.hpp"

namespace fev {

namespace detail {
// Reads and parks on a BasicEvent's word for code that waits on several words at once
// (fev/wait_many.hpp, fev/uring.hpp). Defined in fev/event_access.hpp.
struct EventAccess;
// The same for BasicAutoResetEvent (fev/loop.hpp's coroutines). In fev/auto_reset_event_access.hpp.
struct AutoResetEventAccess;

// BasicEvent's word layout (described at BasicEvent's constants), for the parts of fev
// outside the class that read or write the word.
struct EventBits {
  static constexpr std::uint32_t kSet = 1u;
  static constexpr std::uint32_t kParked = 2u;
  static constexpr std::uint32_t kWakeOwed = 4u;
  static constexpr std::uint32_t kAsyncWaiters = 8u;
  static constexpr std::uint32_t kGenerationOne = 16u;
  static constexpr std::uint32_t kGenerationMask = ~(kSet | kParked | kWakeOwed | kAsyncWaiters);
};

// Cancelling a parked wait(std::stop_token) of an Event or AutoResetEvent without a
// lost wake. The callback cannot change the word instead: every bit of it means
// something to set() and to the other waiters, and a bit it flipped (an Event's kParked)
// could be flipped back by another waiter before ours compares the word and sleeps. So
// the waiter and its callback share two flags and make a Dekker pair of them (the four
// accesses named first, seq_cst):
//   waiter:   may_sleep = true;  if (stopped) leave;  futex wait;  may_sleep = false
//   callback: stopped = true;    while (may_sleep) { wake_all; yield }
// The waiter's `may_sleep = false` is relaxed: a callback that reads it stops waking,
// and if the waiter then loops to sleep again, its seq_cst `may_sleep = true` comes
// after that read in the seq_cst order (the read saw an older value), so its seq_cst
// read of `stopped` comes after the callback's store and sees it.
// Either the waiter sees `stopped` before it sleeps, or the callback sees `may_sleep`
// and keeps waking the word until the waiter is out of its futex wait (then it loops
// back, and sees `stopped`). The loop lasts as long as the waiter takes to run after
// a wake; it wakes the word's other waiters too, who find nothing for them and park
// again. The waiter clears `may_sleep` before it returns, so the stop_callback's
// destructor (which waits for a running callback) never waits on the waiter itself.
// The sleep is timed (kStopSlice), though there is no deadline: the wake must end it
// with the word unchanged, and backend::BoostAtomic's untimed wait (Boost's atomic
// wait) returns only once the word changes; its timed wait returns on a wake, as every
// backend's does. A slice that times out just loops.
struct StopGate {
  std::atomic<bool> stopped{false};    // the stop callback has run
  std::atomic<bool> may_sleep{false};  // the waiter is between its check of `stopped` and the end of its sleep
};
inline constexpr std::chrono::hours kStopSlice{1};
template <class Wait>
struct WakeOnStop {
  StopGate* gate;
  std::atomic<std::uint32_t>* word;
  void operator()() const noexcept {
    gate->stopped.store(true, std::memory_order_seq_cst);  // Dekker pair with the waiter's may_sleep store
    while (gate->may_sleep.load(std::memory_order_seq_cst)) {  // pairs with the waiter's stores
      Wait::wake_all(*word);
      yield_cpu();
    }
  }
};

// set() of an in-process word on which coroutines wait (kAsyncWaiters, see
// fev/async_event.hpp): makes set()'s CAS under the lock of the word's bucket in the
// side table of waiting coroutines, takes every coroutine waiting on the word, and posts
// each to its executor. Returns the value the CAS replaced. In src/async_waiters.cpp.
std::uint32_t set_with_async_waiters(std::atomic<std::uint32_t>& word) noexcept;

// The word of a BasicEvent. An in-process event refuses to be destroyed while
// coroutines wait on it (their nodes in the side table name its address); a
// process-shared one stays trivially destructible, as construct_shared() requires.
template <bool InProcess>
class EventWord {
 protected:
  explicit EventWord(std::uint32_t initial) noexcept : word_(initial) {}
  std::atomic<std::uint32_t> word_;
};
template <>
class EventWord<true> {
 protected:
  explicit EventWord(std::uint32_t initial) noexcept : word_(initial) {}
  ~EventWord() {
    // relaxed: whoever destroys the event comes after the set() or cancellation that
    // cleared the bit (it was resumed by it, or joined with it), so it reads that value.
    if (word_.load(std::memory_order_relaxed) & EventBits::kAsyncWaiters)
      fatal_error(
          "fev: an Event was destroyed while coroutines were still waiting on it (fev::async_wait): set() it or "
          "stop those waits, and let the coroutines resume, before destroying it");
    // relaxed: see fev/detail_loop_waits.hpp; one load while no loop coroutine waits.
    if (loop_event_waits.load(std::memory_order_relaxed) != 0 && loop_event_wait_registered(&word_))
      fatal_error(
          "fev: an Event was destroyed while coroutines were still waiting on it (fev::async_wait on a fev::Loop): "
          "set() it or stop those waits, and let the coroutines resume (or destroy the Loop), before destroying it");
  }
  std::atomic<std::uint32_t> word_;
};

// The word of a BasicAutoResetEvent: the in-process one refuses to be destroyed while a
// thread or a coroutine is registered to wait on it (bits 1..31 count them exactly:
// each adds itself before parking and removes itself after, on every way out); the
// process-shared one stays trivially destructible (a dead peer may leave its count).
template <bool InProcess>
class AutoResetWord {
 protected:
  explicit AutoResetWord(std::uint32_t initial) noexcept : word_(initial) {}
  std::atomic<std::uint32_t> word_;
};
template <>
class AutoResetWord<true> {
 protected:
  explicit AutoResetWord(std::uint32_t initial) noexcept : word_(initial) {}
  ~AutoResetWord() {
    // relaxed: whoever destroys the event comes after every waiter left (joined with it,
    // or resumed), so it reads the value their unregistering left. Bit 0 is the signal.
    if (word_.load(std::memory_order_relaxed) > 1u)
      fatal_error(
          "fev: an AutoResetEvent was destroyed while threads or coroutines were still waiting on it: set() it once "
          "per waiter or stop the waits, and join every thread (finish every coroutine) that waits on it, before "
          "destroying it");
  }
  std::atomic<std::uint32_t> word_;
};
}  // namespace detail

/// Manual-reset event with the semantics of Python's threading.Event, in one 32-bit word:
/// - set() releases every thread waiting when it is called, even if clear() follows at
///   once (such a waiter returns true, as CPython's wait() does);
/// - set(), clear(), is_set() and the waits are safe at any time, from any thread;
/// - a timed wait turns its timeout into a deadline once and returns false no earlier
///   than that deadline, never because of a spurious wake;
/// - wait(std::stop_token) returns false once a stop is requested while the event is
///   not set; the request wakes the waiter promptly.
///
/// Memory ordering: everything a thread did before set() happens-before everything a
/// thread does after a wait(), wait_for(), wait_until() or is_set() that observed that
/// set (returned true because of it). clear() orders nothing.
///
/// Coroutines on any executor wait with fev::async_wait (fev/async_event.hpp), coroutines
/// on a fev::Loop with async_wait(loop, event); destroying an in-process event while such
/// a coroutine waits on it is a fatal error (one line on stderr, then abort). Destroying
/// it while a thread waits on it is undefined: make sure the waiters have returned first.
///
/// `Wait` is the wait backend (a type from fev::backend); fev::Event has the default.
template <class Wait>
class BasicEvent : private detail::EventWord<!detail::process_shared<Wait>> {
  using Word = detail::EventWord<!detail::process_shared<Wait>>;

 public:
  /// Creates the event, set if `initially_set` is true.
  explicit BasicEvent(bool initially_set = false) noexcept : Word(initially_set ? kSet : 0u) {}
  BasicEvent(const BasicEvent&) = delete;
  BasicEvent& operator=(const BasicEvent&) = delete;

  /// Sets the event and wakes every parked waiter. Enters the kernel only when the word
  /// says someone is parked (or, between processes, that a wake may still be owed).
  /// A released waiter may destroy the event while set() is still running: after the
  /// word is set, set() uses the event only as the address of its wake call. Coroutines
  /// waiting through fev::async_wait (the word says whether any do) are taken from the
  /// side table and then posted: set() reads their nodes and calls each one's executor's
  /// schedule() (what that call touches must outlive it; fev/async_event.hpp, Lifetimes).
  void set() noexcept {
    std::uint32_t seen = word_.load(std::memory_order_relaxed);
    std::uint32_t desired = 0;
    do {
      if (seen & kSet) {
        // Already set: rewrite the same value, so this set() still releases its writes
        // to whoever acquires the word later; a wake still owed is made below.
        desired = seen & ~kWakeOwed;
      } else {
        // Coroutines wait on the word: set under the side table's lock instead.
        if (!detail::process_shared<Wait> && (seen & kAsyncWaiters)) {
          seen = detail::set_with_async_waiters(word_);
          break;
        }
        // A new generation, set, nobody parked (every parked waiter is woken below).
        // Between processes the waker may die before its wake call: the word then
        // says a wake is owed, and the next set() makes it.
        desired = ((seen + kGenerationOne) & ~(kParked | kWakeOwed)) | kSet;
        if (detail::process_shared<Wait> && (seen & kParked)) desired |= kWakeOwed;
      }
      // release: pairs with the acquire loads/CAS of waiters and is_set().
      // relaxed on failure: the retry only recomputes `desired`.
    } while (!word_.compare_exchange_weak(seen, desired, std::memory_order_release,
                                          std::memory_order_relaxed));
    if (seen & (kParked | kWakeOwed)) {
      Wait::wake_all(word_);
      detail::note_woke_peer();  // our next wait spins: a woken thread often answers
    }
  }

  /// Resets the flag. Threads already released by an earlier set() stay released;
  /// threads waiting now keep waiting for the next set().
  void clear() noexcept {
    // relaxed: clear() publishes nothing. As an RMW it continues the release sequence
    // of the set() it undoes, so a waiter that reads the cleared word still
    // synchronizes with that set().
    if (word_.load(std::memory_order_relaxed) & kSet) word_.fetch_and(~kSet, std::memory_order_relaxed);
  }

  /// True iff the event is set now. Never blocks, never enters the kernel.
  [[nodiscard]] bool is_set() const noexcept {
    // acquire: pairs with set()'s release CAS.
    return (word_.load(std::memory_order_acquire) & kSet) != 0;
  }

  /// Blocks until the event is set. Returns at once, with no system call, when it is.
  /// `options`: how long to poll before parking (fev::WaitOptions; every wait below
  /// takes one too).
  void wait(const WaitOptions& options = {}) noexcept {
    const std::uint32_t seen = word_.load(std::memory_order_acquire);  // pairs with set()
    if (seen & kSet) return;
    (void)wait_slow(seen, Deadline::max(), options);
  }

  /// Blocks until the event is set or `timeout` has passed. True iff the event was set
  /// (or a set() happened while waiting); false after the timeout. A timeout of zero or
  /// below checks once and never blocks.
  template <class Rep, class Period>
  [[nodiscard]] bool wait_for(const std::chrono::duration<Rep, Period>& timeout,
                              const WaitOptions& options = {}) noexcept {
    const std::uint32_t seen = word_.load(std::memory_order_acquire);  // pairs with set()
    if (seen & kSet) return true;
    if (timeout <= timeout.zero()) return false;
    return wait_slow(seen, detail::deadline_after(timeout), options);
  }

  /// As wait_for(), until a time point of steady_clock or system_clock (converted once).
  template <class Clock, class Duration>
  [[nodiscard]] bool wait_until(const std::chrono::time_point<Clock, Duration>& when,
                                const WaitOptions& options = {}) noexcept {
    const std::uint32_t seen = word_.load(std::memory_order_acquire);  // pairs with set()
    if (seen & kSet) return true;
    return wait_slow(seen, detail::to_deadline(when), options);
  }

  /// Blocks until the event is set or a stop is requested on `stop` (std::jthread's
  /// token, for example). True iff the event was set (or a set() happened while
  /// waiting), even if a stop was requested too; false once a stop is requested while
  /// the event is not set. The stop request wakes this waiter promptly, from the thread
  /// that calls request_stop(). A token that can never stop waits as wait() does.
  [[nodiscard]] bool wait(std::stop_token stop, const WaitOptions& options = {}) noexcept {
    const std::uint32_t seen = word_.load(std::memory_order_acquire);  // pairs with set()
    if (seen & kSet) return true;
    if (!stop.stop_possible()) {
      (void)wait_slow(seen, Deadline::max(), options);
      return true;
    }
    return wait_slow_stoppable(seen, stop, options);
  }

  /// The underlying word, for backends and tools that wait on several events at once.
  const std::atomic<std::uint32_t>& word() const noexcept { return word_; }

 private:
  friend struct detail::EventAccess;
  using Word::word_;

  // How a stop request wakes a parked wait(std::stop_token): detail::StopGate.
  using StopGate = detail::StopGate;
  using WakeOnStop = detail::WakeOnStop<Wait>;

  bool wait_slow_stoppable(std::uint32_t entry, const std::stop_token& stop, const WaitOptions& options) noexcept {
    const auto released = [entry](std::uint32_t word) { return BasicEvent::released(entry, word); };
    // acquire: pairs with set()'s release, directly or through clear()'s RMW.
    if (stop.stop_requested()) return released(word_.load(std::memory_order_acquire));
    std::uint32_t seen = entry;
    if (detail::spin_until([&] { return released(seen = word_.load(std::memory_order_acquire)); }, Deadline::max(),
                           detail::RingSide::none, options))
      return true;
    StopGate gate;
    const std::stop_callback wake_on_stop(stop, WakeOnStop{&gate, &word_});
    for (;;) {
      if (!announce_parked(word_, entry, seen)) return true;
      gate.may_sleep.store(true, std::memory_order_seq_cst);  // Dekker pair with WakeOnStop
      if (gate.stopped.load(std::memory_order_seq_cst)) {
        // relaxed: the callback only needs to see it eventually; nothing is published.
        gate.may_sleep.store(false, std::memory_order_relaxed);
        // acquire: pairs with set(); a set() that came first still counts.
        return released(word_.load(std::memory_order_acquire));
      }
      // Timed, though there is no deadline (see detail::StopGate).
      (void)Wait::wait(word_, seen, std::chrono::steady_clock::now() + detail::kStopSlice);
      // relaxed: nothing rests on when the callback sees this (see detail::StopGate).
      gate.may_sleep.store(false, std::memory_order_relaxed);
      seen = word_.load(std::memory_order_acquire);  // pairs with set()
      if (released(seen)) return true;
    }
  }

  // Word layout and invariants:
  //   bit 0      kSet     the event is set.
  //   bit 1      kParked  a waiter is parked (or about to park) on this word. Only
  //                       ever added while kSet is clear; set() removes it and wakes.
  //   bit 2      kWakeOwed  process-shared words only: the set() that removed
  //                       kParked may have died before its wake call, so the next
  //                       set() wakes (and removes the bit) even if nobody parked
  //                       since. Costs one futex wake on the set() after a set()
  //                       that woke someone; never set on in-process words.
  //   bit 3      kAsyncWaiters  in-process words only: coroutines may wait on this
  //                       word through fev::async_wait, in nodes of the side table
  //                       (src/async_waiters.cpp). Added by such a waiter, after its
  //                       node is in the table, only while kSet is clear and its
  //                       generation unchanged; removed by the set() that takes the
  //                       nodes (under the table's lock), or by a cancellation that
  //                       leaves no node for the word. set() with the bit clear never
  //                       touches the table. Not part of the generation.
  //   bits 4..31          generation: +1 on every unset->set transition, wrapping
  //                       after 2^28 sets. A waiter that sees the generation move
  //                       has been released by a set() even if clear() already ran.
  // Wrap: a waiter descheduled between its wake and its re-read while exactly a
  // multiple of 2^28 further set()s happen sees its own generation again and parks
  // until the next set(); it cannot be parked forever by the wrap itself.
  static constexpr std::uint32_t kSet = detail::EventBits::kSet;
  static constexpr std::uint32_t kParked = detail::EventBits::kParked;
  static constexpr std::uint32_t kWakeOwed = detail::EventBits::kWakeOwed;
  static constexpr std::uint32_t kAsyncWaiters = detail::EventBits::kAsyncWaiters;
  static constexpr std::uint32_t kGenerationOne = detail::EventBits::kGenerationOne;
  static constexpr std::uint32_t kGenerationMask = detail::EventBits::kGenerationMask;

  // Whether a waiter that began on the unset word `entry` is released by the word value
  // `now`: the event is set, or its generation moved (a set() happened meanwhile, even
  // if clear() already undid it).
  static constexpr bool released(std::uint32_t entry, std::uint32_t now) noexcept {
    return (now & kSet) != 0 || (now & kGenerationMask) != (entry & kGenerationMask);
  }

  // Adds kParked to the word before a waiter that began on `entry` sleeps. `seen` is its
  // last (acquire) read of the word. Returns true with `seen` = the value to sleep on
  // (kParked set); false when the word, as read while trying, releases the waiter.
  static bool announce_parked(std::atomic<std::uint32_t>& word, std::uint32_t entry, std::uint32_t& seen) noexcept {
    for (;;) {
      if (released(entry, seen)) return false;
      if (seen & kParked) return true;
      // Announcing "parked" publishes nothing (set() reads it in the same word, so one
      // modification order decides who saw whom), but on failure the new value may be
      // a set() we return on, which needs acquire. g++ rejects a failure order stronger
      // than the success order, so both are acquire (slow path only).
      if (word.compare_exchange_weak(seen, seen | kParked, std::memory_order_acquire, std::memory_order_acquire)) {
        seen |= kParked;
        return true;
      }
    }
  }

  // `entry` is the unset word the wait began with; its generation is this waiter's.
  bool wait_slow(std::uint32_t entry, Deadline deadline, const WaitOptions& options) noexcept {
    const auto released = [entry](std::uint32_t word) { return BasicEvent::released(entry, word); };
    if (deadline != Deadline::max() && std::chrono::steady_clock::now() >= deadline) return false;
    std::uint32_t seen = entry;
    // acquire: pairs with set()'s release, directly or through clear()'s RMW.
    if (detail::spin_until([&] { return released(seen = word_.load(std::memory_order_acquire)); }, deadline,
                           detail::RingSide::none, options))
      return true;
    for (;;) {
      if (!announce_parked(word_, entry, seen)) return true;
      const WaitResult result = Wait::wait(word_, seen, deadline);
      seen = word_.load(std::memory_order_acquire);  // pairs with set()
      if (released(seen)) return true;
      if (result == WaitResult::timeout) return false;
    }
  }
};

/// Auto-reset event: set() releases exactly one waiter, or, with nobody waiting, stays
/// set until one thread takes it (try_wait or a wait). Setting a set event does nothing:
/// signals do not count up (it is not a semaphore). One 32-bit word.
///
/// Waits: wait() until a signal is taken; wait_for()/wait_until() true iff one was taken
/// before the deadline; wait(std::stop_token) true iff one was taken, false once a stop is
/// requested (a signal present when it gives up is still taken, and one that comes later
/// stays for the next waiter: a stop never loses a signal).
///
/// Memory ordering: everything a thread did before set() happens-before everything the
/// thread that takes that signal (a try_wait() or wait that returned true) does after.
///
/// Destroying an in-process auto-reset event while a thread or a coroutine waits on it
/// is a fatal error (one line on stderr that says what to do instead, then abort).
///
/// `Wait` is the wait backend (a type from fev::backend); fev::AutoResetEvent has the
/// default.
template <class Wait>
class BasicAutoResetEvent : private detail::AutoResetWord<!detail::process_shared<Wait>> {
  using Word = detail::AutoResetWord<!detail::process_shared<Wait>>;

 public:
  /// Creates the event, holding a signal if `initially_set` is true.
  explicit BasicAutoResetEvent(bool initially_set = false) noexcept : Word(initially_set ? kSignaled : 0u) {}
  BasicAutoResetEvent(const BasicAutoResetEvent&) = delete;
  BasicAutoResetEvent& operator=(const BasicAutoResetEvent&) = delete;

  /// Leaves a signal and, if a thread is waiting, wakes one to take it. With a signal
  /// already pending, does nothing more. Safe from any thread, at any time.
  void set() noexcept {
    std::uint32_t seen = word_.load(std::memory_order_relaxed);
    // release: pairs with the acquire CAS of the thread that takes the signal.
    // relaxed on failure: the retry only recomputes.
    while (!word_.compare_exchange_weak(seen, seen | kSignaled, std::memory_order_release,
                                        std::memory_order_relaxed)) {
    }
    // Wake one registered waiter on the unsignaled->signaled edge; the object may be
    // gone after the CAS, the wake uses only its address. Between processes the
    // setter of the edge may have died before its wake call: wake whenever a waiter
    // is registered, so a survivor's set() makes the wake it owed.
    if ((!(seen & kSignaled) || detail::process_shared<Wait>) && seen >= kWaiterOne) {
      Wait::wake_one(word_);
      detail::note_woke_peer();  // our next wait spins: a woken thread often answers
    }
  }

  /// Takes the signal if present: true iff it took one. Never blocks.
  [[nodiscard]] bool try_wait() noexcept {
    std::uint32_t seen = word_.load(std::memory_order_relaxed);
    while (seen & kSignaled) {
      // acquire: pairs with set()'s release. relaxed on failure: we re-test the bit.
      if (word_.compare_exchange_weak(seen, seen & ~kSignaled, std::memory_order_acquire,
                                      std::memory_order_relaxed))
        return true;
    }
    return false;
  }

  /// Blocks until it takes a signal. `options`: how long to poll before parking
  /// (fev::WaitOptions; the timed waits below take one too).
  void wait(const WaitOptions& options = {}) noexcept {
    if (!try_wait()) (void)wait_slow(Deadline::max(), options);
  }

  /// Blocks until it takes a signal (true) or `timeout` has passed (false). A timeout of
  /// zero or below is try_wait().
  template <class Rep, class Period>
  [[nodiscard]] bool wait_for(const std::chrono::duration<Rep, Period>& timeout,
                              const WaitOptions& options = {}) noexcept {
    if (try_wait()) return true;
    if (timeout <= timeout.zero()) return false;
    return wait_slow(detail::deadline_after(timeout), options);
  }

  /// As wait_for(), until a time point of steady_clock or system_clock (converted once).
  template <class Clock, class Duration>
  [[nodiscard]] bool wait_until(const std::chrono::time_point<Clock, Duration>& when,
                                const WaitOptions& options = {}) noexcept {
    if (try_wait()) return true;
    return wait_slow(detail::to_deadline(when), options);
  }

  /// Blocks until it takes a signal (true) or a stop is requested on `stop` (false; no
  /// signal taken). A signal present when the wait ends is taken, stop requested or not
  /// (true); a signal that comes after the wait gave up stays for the next waiter, as
  /// if this one had never waited. The stop request wakes this waiter promptly, from the
  /// thread that calls request_stop() (which briefly wakes the event's other parked
  /// waiters too; they find no signal and park again). A token that can never stop
  /// waits as wait() does.
  [[nodiscard]] bool wait(std::stop_token stop, const WaitOptions& options = {}) noexcept {
    if (try_wait()) return true;
    if (!stop.stop_possible()) {
      (void)wait_slow(Deadline::max(), options);
      return true;
    }
    bool taken = false;
    if (detail::spin_until([&] { return (taken = try_wait()) || stop.stop_requested(); }, Deadline::max(),
                           detail::RingSide::none, options))
      return taken;
    StopGate gate;
    const std::stop_callback wake_on_stop(stop, WakeOnStop{&gate, &word_});
    return park(Deadline::max(), &gate);
  }

  /// The underlying word, for backends and tools that wait on several events at once.
  const std::atomic<std::uint32_t>& word() const noexcept { return word_; }

 private:
  friend struct detail::AutoResetEventAccess;
  // How a stop request wakes a parked wait(std::stop_token): detail::StopGate.
  using StopGate = detail::StopGate;
  using WakeOnStop = detail::WakeOnStop<Wait>;
  using Word::word_;

  // Word layout and invariants:
  //   bit 0      kSignaled  one signal is pending.
  //   bits 1..31            number of waiters registered to park (each adds
  //                         kWaiterOne before parking and removes it after). Every
  //                         registered waiter re-reads the word after the set() that
  //                         signalled while it was registered, so a signal is never
  //                         left pending while a registered waiter sleeps on.
  static constexpr std::uint32_t kSignaled = 1u;
  static constexpr std::uint32_t kWaiterOne = 2u;

  bool wait_slow(Deadline deadline, const WaitOptions& options) noexcept {
    if (deadline != Deadline::max() && std::chrono::steady_clock::now() >= deadline) return false;
    if (detail::spin_until([this] { return try_wait(); }, deadline, detail::RingSide::none, options)) return true;
    return park(deadline, nullptr);
  }

  // Registers, sleeps until a signal comes (true), the deadline passes or, with a `gate`
  // (wait(std::stop_token); the deadline is then max), a stop is requested (false), and
  // unregisters. A signal present when it unregisters is taken (true).
  bool park(Deadline deadline, StopGate* gate) noexcept {
    std::uint32_t seen = word_.load(std::memory_order_relaxed);
    for (;;) {
      if (seen & kSignaled) {
        // acquire: pairs with set()'s release.
        if (word_.compare_exchange_weak(seen, seen & ~kSignaled, std::memory_order_acquire,
                                        std::memory_order_relaxed))
          return true;
        continue;
      }
      // relaxed: registering publishes nothing; set() reads the count in this word.
      if (!word_.compare_exchange_weak(seen, seen + kWaiterOne, std::memory_order_relaxed,
                                       std::memory_order_relaxed))
        continue;
      seen += kWaiterOne;
      // Stay registered across wakes that bring no signal: another waiter registering
      // or leaving changes the word and fails our futex wait, and unregistering on
      // every such wake let two waiters retry in lockstep for ever (a livelock found
      // by model/auto_reset_event.pml). Leave only with the signal or at the deadline.
      WaitResult result = WaitResult::woken;
      bool stopped = false;
      do {
        if (gate == nullptr) {
          result = Wait::wait(word_, seen, deadline);
        } else {
          gate->may_sleep.store(true, std::memory_order_seq_cst);  // Dekker pair with WakeOnStop
          if (gate->stopped.load(std::memory_order_seq_cst)) {
            // relaxed: the callback only needs to see it eventually; nothing is published.
            gate->may_sleep.store(false, std::memory_order_relaxed);
            stopped = true;
            break;
          }
          // Timed, though there is no deadline (see detail::StopGate); a slice that
          // times out just loops.
          (void)Wait::wait(word_, seen, std::chrono::steady_clock::now() + detail::kStopSlice);
          // relaxed: nothing rests on when the callback sees this (see detail::StopGate).
          gate->may_sleep.store(false, std::memory_order_relaxed);
        }
        seen = word_.load(std::memory_order_relaxed);
      } while (!(seen & kSignaled) && result != WaitResult::timeout);
      // Unregister, taking the signal in the same RMW if it is there.
      bool taken = false;
      std::uint32_t desired = 0;
      do {
        taken = (seen & kSignaled) != 0;
        desired = taken ? (seen - kWaiterOne) & ~kSignaled : seen - kWaiterOne;
        // acquire: pairs with set()'s release when we take the signal.
      } while (!word_.compare_exchange_weak(seen, desired, std::memory_order_acquire,
                                            std::memory_order_relaxed));
      if (taken) return true;
      // Stopped with no signal here: a set() after our unregistering counts the waiters
      // without us and wakes one of them, so its signal is not lost.
      if (stopped || result == WaitResult::timeout) return false;
      // Another thread took the signal between our load and our CAS: register again.
      seen = desired;
    }
  }
};

/// The manual-reset event (Python's threading.Event), on the wait backend this library
/// was built with (fev::DefaultWait). Four bytes. Every member is BasicEvent's; the
/// contract follows the example.
///
/// \code
/// #include <fev/event.hpp>
///
/// fev::Event start;                             // not set
/// std::vector<std::jthread> workers;
/// for (int i = 0; i < 4; ++i)
///   workers.emplace_back([&](std::stop_token stop) {
///     if (!start.wait(stop)) return;            // false: stopped before start.set()
///     run_part(i);
///   });
/// prepare();                                    // everything done here is visible to the
/// start.set();                                  // workers once their wait returns true
///
/// if (!done.wait_for(std::chrono::seconds(5)))  // true iff set; false after 5 s
///   report_slow();
/// \endcode
///
/// \copydetails fev::BasicEvent
class Event : public BasicEvent<DefaultWait> {
 public:
  using BasicEvent<DefaultWait>::BasicEvent;
};

/// The auto-reset event: each set() lets exactly one wait through. On the wait backend
/// this library was built with (fev::DefaultWait); four bytes. Every member is
/// BasicAutoResetEvent's; the contract follows the example.
///
/// \code
/// #include <fev/event.hpp>
///
/// fev::AutoResetEvent work_ready;
/// std::jthread worker([&](std::stop_token stop) {
///   while (work_ready.wait(stop))  // true: took one signal; false: stop requested
///     drain_my_queue();            // take everything queued: several set()s may have
/// });                              // left only one signal
/// enqueue(item);
/// work_ready.set();                // wakes one waiter, or stays set for the next one
/// worker.request_stop();           // the parked wait returns false, the thread ends
/// \endcode
///
/// \copydetails fev::BasicAutoResetEvent
class AutoResetEvent : public BasicAutoResetEvent<DefaultWait> {
 public:
  using BasicAutoResetEvent<DefaultWait>::BasicAutoResetEvent;
};

#ifndef FEV_RELACY  // tests/relacy: Relacy's std::atomic models history and is larger
static_assert(sizeof(Event) == 4, "an Event is one 32-bit word");
static_assert(sizeof(AutoResetEvent) == 4, "an AutoResetEvent is one 32-bit word");
#endif

}  // namespace fev
