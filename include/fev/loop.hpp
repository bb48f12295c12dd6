// SPDX-License-Identifier: MIT
// fev/loop.hpp — a small io_uring event loop whose C++20 coroutines wait on the same
// fev::Event and fev::Ring that plain threads use (Linux, liburing).
//
//   fev::Loop loop;
//   loop.spawn([](fev::Loop& loop, fev::Ring<int>& work) -> fev::Task<> {
//     while (auto item = co_await fev::async_pop(loop, work)) handle(*item);  // until closed
//   }(loop, work));
//   loop.run();                       // until every spawned task has finished, or stop()
//
// What a coroutine can await (all resume on the loop's thread, from the loop itself,
// never inside the set()/push()/pop() of another thread or coroutine):
//   async_wait(loop, event[, stop])          -> bool: true iff set (false: stop requested)
//                                               (an AutoResetEvent: true iff it took a signal)
//   async_wait_for(loop, event, timeout[, stop]), async_wait_until(loop, event, when[, stop])
//                                            -> bool: true iff set, false at the deadline
//   async_pop(loop, ring)                    -> std::optional<T>: nullopt iff closed and drained
//   async_pop(loop, ring, stop)              -> PopResult<T>: ok + value, closed, or cancelled
//   async_push(loop, ring, std::move(value)) -> bool: false iff closed (the value not taken)
//   async_push(loop, ring, std::move(value), stop) -> Status: ok, closed or cancelled
//   co_await task                            -> another Task's result (it runs inside this one)
//   async_wait_any(loop, a, b, ...)          -> std::size_t: the lowest index found set, as
//                                               fev::wait_any (one IORING_OP_FUTEX_WAITV)
//   async_wait_any(loop, stop, a, b, ...), async_wait_any_for(loop, timeout[, stop], a, ...),
//   async_wait_any_until(loop, when[, stop], a, ...)
//                                            -> std::optional<std::size_t>: nullopt at the
//                                               deadline or on a stop (fev/loop_wait_any.hpp)
// Threads keep calling Event::set(), Ring::push() and so on as before: nothing changes
// for them, and a Ring or Event may have thread waiters and coroutine waiters at once.
//
// Two ways to wait on an Event from a loop coroutine:
//   async_wait(loop, event[, stop])             an io_uring futex wait (below): works for
//       SharedEvent across processes too, has the timed forms, and a thread's set() wakes
//       it with one futex wake; a wake always passes through the kernel.
//   async_wait(loop.executor(), event[, stop])  fev/async_event.hpp's side table, with the
//       loop as the executor: a set() from a coroutine on the same loop queues the waiter
//       on the loop's ready queue and no kernel entry follows (coroutines that wake each
//       other on one loop); a set() from another thread queues it behind a mutex and rings
//       the loop's eventfd (one write per batch). In-process Events only, no timeouts.
// loop.executor() is a LoopExecutor (copyable, one pointer) that any fev::Executor user
// may take: schedule(h) from the loop's thread while run()/run_until() runs appends h to
// the ready queue, which the loop drains before it waits in io_uring again; from any
// other thread (or outside run()) it posts h and rings the doorbell if none was pending.
//
// How: a coroutine that must wait follows exactly the steps a thread follows before it
// sleeps (fev/event_access.hpp and fev/auto_reset_event_access.hpp for events,
// fev/ring_access.hpp for rings: register, take a wake over, re-check, sleep on the
// exact word value, leave with the relay), but
// instead of futex(2) it queues an IORING_OP_FUTEX_WAIT (Linux 6.7+) on the same word
// and suspends. The futex wake of set() or of a ring's notify() completes that request
// just as it wakes a thread; the loop reaps the completion and runs the waiter's next
// step, which re-reads the word: a wake is only a hint. A wake that changed nothing for
// this waiter (a late wake of an earlier set, another waiter's stop) re-arms the wait.
// Resuming never recurses: every waiter is resumed by the loop, one after another, from
// the loop's own turn (a set() that releases 10^5 coroutines costs the setter one futex
// wake). A chain of `co_await task` hands control on by symmetric transfer, which needs
// no stack where the compiler makes it a tail call (optimized builds; not g++ with
// AddressSanitizer).
//
// Wakes and busy loops: a ring's push wakes one sleeper (fev/ring.hpp, step 6), and
// the kernel may give that wake to a coroutine's futex wait while the coroutine's loop
// is running user code and cannot look at it. So a coroutine's ring wait is queued
// linked to an IORING_OP_FUTEX_WAKE of one *thread* on the same word: when a wake
// completes the wait, the kernel also wakes one thread sleeping there (coroutines' ring
// waits carry a futex bitset that this wake leaves out, so it never reaches another
// coroutine and never cascades). The kernel runs it in the loop thread's task work,
// which it runs at the thread's next return to user mode (it interrupts busy user code
// to do so), not at the loop's next turn. The bound: a thread never sleeps beside a
// value (or room) because a coroutine holds the wake for longer than the kernel takes
// to schedule the loop's thread; the woken thread takes the wake over as after any
// wake. The cost: a coroutine's wake also wakes one thread, when one sleeps on that
// word. Coroutines on other loops get no relay from the kernel: they wait until the
// woken coroutine's loop turns, where its waiter relays as a thread does (Event::set()
// and close() wake every waiter; an AutoResetEvent's signal stays in its word for any
// waiter that looks).
//
// Timeouts: the wait is linked to an IORING_OP_LINK_TIMEOUT at the absolute deadline
// (CLOCK_MONOTONIC, which is steady_clock), so it returns false no earlier than it.
//
// Cancellation: a std::stop_token's callback (on whatever thread calls request_stop())
// posts the operation to the loop and nudges it through an eventfd; on its own thread
// the loop queues IORING_OP_ASYNC_CANCEL for the operation's wait. The kernel decides
// between a wake and the cancel in one step (it removes the request from the futex
// queue for one of them, never both), so the loser never touches the waiter. A waiter
// that completes without waiting completes (as the threads' stop_token forms do); a
// cancelled ring waiter took nothing, and if it had taken a wake over it passes the wake
// on before it resumes, so a value (or room) is never stranded.
//
// Lifetimes:
//  - a coroutine is resumed once per co_await, and only after every completion that
//    refers to its operation (the wait, its linked timeout, a cancel) has been reaped;
//  - the Event or Ring awaited must outlive the wait. A Ring destroyed while a thread or
//    a coroutine waits on it (registered as a sleeper) stops the program with one line
//    on stderr (fatal error, abort); so does an in-process Event destroyed while a
//    coroutine waits on it through async_wait(loop, ...) (registered by address while
//    its wait is in flight, fev/detail_loop_waits.hpp) or through any executor
//    (async_wait(loop.executor(), ...)) or async_wait_any (each of its in-process
//    events registered likewise), and an in-process AutoResetEvent destroyed while a
//    thread or a coroutine waits on it (its word counts them). Not detected: an Event
//    destroyed under a thread's wait(); undefined;
//  - the loop must outlive its tasks. ~Loop first cancels every request it has in the
//    kernel (IORING_OP_ASYNC_CANCEL, any request) and reaps every completion, so when it
//    returns none of its futex waits is left to take a wake meant for a thread. Then it
//    destroys the frames of spawned tasks that are still suspended (or never started):
//    a ring waiter leaves the ring's sleepers as after a cancellation and passes on a
//    wake its request took (it takes over the word's `waking`), an auto-reset waiter
//    gives back a signal it took, an Event waiter leaves the registry. A stop callback
//    running on another thread is waited for by its frame's destruction, so a
//    request_stop() racing ~Loop is done with the loop before the loop closes anything.
//    Only then are the doorbell eventfd and the io_uring closed;
//  - another thread touches the loop only inside one mutex: stop(), a stop callback and
//    a post to loop.executor() append and ring the doorbell under it, the loop takes
//    what was posted under it, and ~Loop takes it before it closes the doorbell. So a
//    set() that posts a coroutine to the loop is done with the loop before the loop can
//    resume that coroutine (which may finish and let its owner destroy the loop), a
//    stop() is done before a run() it ends can be followed by ~Loop, and nothing is
//    written into the doorbell's number after it is closed. A stop() or post that starts
//    after ~Loop has returned is a use of a destroyed object (undefined);
//  - spawn(), run(), run_until() and every co_await run on the loop's thread; stop() and
//    the stop tokens' request_stop() may come from any thread. A run() or run_until()
//    entered while another thread is inside a turn of the same loop (or from inside the
//    loop's own turn) stops the program with one line on stderr (fatal error, abort); a
//    loop may move to another thread between runs. spawn() from another thread is not
//    detected (undefined).
//
// Without futex waits in io_uring (a kernel before 6.7, a futex wake the probe of
// fev/uring.hpp could not see complete a request, a wait backend other than futex, or
// forced with FEV_LOOP_FALLBACK=1 in the environment or detail::force_loop_fallback):
// every wait polls instead, with an IORING_OP_TIMEOUT of kFallbackPoll (capped by its
// deadline) after which the waiter re-checks the word as above. Correct, never hangs,
// costs up to one poll interval of latency per wake and one completion per waiter per
// interval. Loop::futex_waits() tells which path a loop uses. A probe that could not
// ask the kernel (no descriptor or memory for its scratch ring, no thread) leaves only
// the loop being built on the fallback path: the next Loop probes again.
//
// A task that throws: co_await rethrows in the awaiting task; a spawned task that
// throws writes "fev::Loop: a spawned task ended with an exception: " and its what()
// to stderr and calls std::terminate() with the exception current (so the terminate
// handler sees it too).
//
// Memory ordering: as for the threads' forms. Everything a thread did before the set()
// an async_wait returned true for happens-before the code after that co_await; what a
// producer did before pushing a value happens-before the code after the async_pop that
// took it.
#pragma once

#include "fev/cxx20.hpp"  // first: below C++20, one clear error instead of many

#include <atomic>
#include <chrono>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <memory>
#include <new>
#include <optional>
#include <stop_token>
#include <type_traits>
#include <utility>

#include "fev/auto_reset_event_access.hpp"
#include "fev/config.hpp"
#include "fev/deadline.hpp"
#include "fev/event.hpp"
#include "fev/event_access.hpp"
#include "fev/ring.hpp"
#include "fev/ring_access.hpp"
#include "fev/wait.hpp"

namespace fev {

class Loop;
template <class T = void>
class Task;

/// How long a waiter sleeps between checks on the fallback path (see fev/loop.hpp:
/// without futex waits in io_uring, every wait polls).
inline constexpr std::chrono::milliseconds kFallbackPoll{1};

namespace detail {

// Which futex a word's waker wakes (the flags of fev/uring.hpp's probe), or none.
enum class WordKind : std::uint8_t { private_futex, shared_futex, no_futex };
template <class Wait>
inline constexpr WordKind word_kind = std::is_same_v<Wait, backend::Futex>         ? WordKind::private_futex
                                      : std::is_same_v<Wait, backend::FutexShared> ? WordKind::shared_futex
                                                                                   : WordKind::no_futex;

// One operation of a coroutine on a loop, kept in the coroutine's frame. Completions
// carry its address (aligned to 8) plus a tag in the low bits. Touched only on the
// loop's thread.
struct alignas(8) LoopOp {
  // Runs on the loop's thread once `pending` is back to 0 (every completion reaped), or
  // when a yielded operation's turn comes.
  void (*on_done)(LoopOp&) noexcept = nullptr;
  std::uint16_t pending = 0;    // completions still to reap: the wait, its timer, a cancel
  bool main_in_flight = false;  // the wait (or poll) has not completed yet
  bool cancel_sent = false;     // an IORING_OP_ASYNC_CANCEL was queued for it
  // The timer's absolute CLOCK_MONOTONIC time, as the kernel reads it while the SQE is
  // submitted (layout of struct __kernel_timespec).
  struct {
    std::int64_t sec = 0;
    std::int64_t nsec = 0;
  } when;
};

// One entry of an IORING_OP_FUTEX_WAITV array, laid out as the kernel's struct
// futex_waitv (checked in src/loop_linux.cpp). The awaiter fills `val` and `uaddr`;
// the loop fills `flags`.
struct FutexWaitvEntry {
  std::uint64_t val = 0;
  std::uint64_t uaddr = 0;
  std::uint32_t flags = 0;
  std::uint32_t reserved = 0;
};

// The loop's side of the awaitables; defined in src/loop_linux.cpp.
struct LoopAccess {
  // Queues a wait on `word` while it holds `expected` (IORING_OP_FUTEX_WAIT, linked to
  // a timeout at `deadline` unless that is Deadline::max()), or, on the fallback path,
  // a poll timer. One more on_done call will come. `relay_to_threads` (a ring's word,
  // no deadline): a wake that completes the wait also wakes one thread sleeping on the
  // word, from the kernel (see "Wakes and busy loops" at the top of this file).
  static void queue_wait(Loop& loop, LoopOp& op, const std::atomic<std::uint32_t>& word, std::uint32_t expected,
                         WordKind kind, Deadline deadline, bool relay_to_threads = false) noexcept;
  // As queue_wait, on `count` words at once (IORING_OP_FUTEX_WAITV): `entries[i]` holds
  // word i's address and expected value, `kinds[i]` its WordKind. `entries` must stay
  // put until on_done (it lives in the awaiter). Polls unless every kind has futex waits.
  static void queue_waitv(Loop& loop, LoopOp& op, FutexWaitvEntry* entries, const WordKind* kinds,
                          std::size_t count, Deadline deadline) noexcept;
  // on_done on the loop's next turn, without any I/O (let another thread finish a step).
  static void queue_yield(Loop& loop, LoopOp& op) noexcept;
  // on_done after kFallbackPoll (nothing to sleep on: poll).
  static void queue_pause(Loop& loop, LoopOp& op) noexcept;
  // From any thread (a stop callback): have the loop cancel op's wait in flight.
  static void request_cancel(Loop& loop, LoopOp& op) noexcept;
  // On the loop's thread, after the stop callback is gone: drop a pending request_cancel.
  static void forget(Loop& loop, LoopOp& op) noexcept;
  // A spawned task's frame reached its end (it is destroyed right after).
  static void task_finished(Loop& loop, void* frame) noexcept;
};

// A spawned task ended with an exception: one line on stderr with its what(), then
// std::terminate() with the exception current (the terminate handler sees it too).
[[noreturn]] void spawned_task_threw(const std::exception_ptr& exception) noexcept;

// Posts the operation's cancellation to its loop when a stop is requested.
struct CancelOnStop {
  Loop* loop;
  LoopOp* op;
  void operator()() const noexcept { LoopAccess::request_cancel(*loop, *op); }
};

// What every waiting awaitable has: its loop, the coroutine to resume, and an optional
// stop token with its callback.
class ParkedOp : protected LoopOp {
 public:
  ParkedOp(const ParkedOp&) = delete;
  ParkedOp& operator=(const ParkedOp&) = delete;

 protected:
  ParkedOp(Loop& loop, std::stop_token stop) noexcept : loop_(&loop), stop_(std::move(stop)) {}
  ~ParkedOp() { unwatch_stop(); }

  void watch_stop() noexcept {
    if (stop_.stop_possible()) on_stop_.emplace(stop_, CancelOnStop{loop_, this});
  }
  // Before resuming: the callback is gone (its destructor waits for a running one), and
  // so is whatever it posted.
  void unwatch_stop() noexcept {
    if (!on_stop_) return;
    on_stop_.reset();
    if (stop_.stop_requested()) LoopAccess::forget(*loop_, *this);
  }
  bool stop_requested() const noexcept { return stop_.stop_requested(); }

  Loop* loop_;
  std::coroutine_handle<> waiter_;
  std::stop_token stop_;
  std::optional<std::stop_callback<CancelOnStop>> on_stop_;
};

// ---- Events ----
template <class Wait>
class EventWaitAwaiter : private ParkedOp {
 public:
  EventWaitAwaiter(Loop& loop, BasicEvent<Wait>& event, Deadline deadline, std::stop_token stop) noexcept
      : ParkedOp(loop, std::move(stop)), word_(EventAccess::word(event)), deadline_(deadline) {
    on_done = &EventWaitAwaiter::done;
  }

  bool await_ready() noexcept {
    entry_ = word_.load(std::memory_order_acquire);  // pairs with set()'s release
    if (entry_ & EventAccess::kSet) {
      result_ = true;
      return true;
    }
    result_ = false;
    return passed() || stop_requested();  // a zero timeout checks once
  }
  bool await_suspend(std::coroutine_handle<> waiter) noexcept {
    waiter_ = waiter;
    watch_stop();
    if (arm(entry_)) return true;
    unwatch_stop();
    return false;  // decided without waiting: resume now
  }
  bool await_resume() const noexcept { return result_; }

  // A frame destroyed while its wait is in flight (~Loop) leaves the registry.
  ~EventWaitAwaiter() { unregister_loop_event_wait(registration_); }
  EventWaitAwaiter(const EventWaitAwaiter&) = delete;
  EventWaitAwaiter& operator=(const EventWaitAwaiter&) = delete;

 private:
  bool passed() const noexcept { return deadline_ != Deadline::max() && std::chrono::steady_clock::now() >= deadline_; }

  // Parks on the word (EventAccess steps 2 and 3) and queues the wait: true; or decides
  // (result_ set): false.
  bool arm(std::uint32_t seen) noexcept {
    if (!EventAccess::announce_parked(word_, entry_, seen)) {
      result_ = true;
      return false;
    }
    if (passed() || stop_requested()) {
      result_ = false;
      return false;
    }
    // In-process events refuse to be destroyed under a registered wait (fev/event.hpp).
    if (!process_shared<Wait> && registration_.address == nullptr) register_loop_event_wait(registration_, &word_);
    LoopAccess::queue_wait(*loop_, *this, word_, seen, word_kind<Wait>, deadline_);
    return true;
  }

  static void done(LoopOp& op) noexcept {
    auto& self = static_cast<EventWaitAwaiter&>(op);
    // acquire: pairs with set()'s release, directly or through the RMWs after it.
    const std::uint32_t seen = self.word_.load(std::memory_order_acquire);
    if (EventAccess::released(self.entry_, seen)) {
      self.result_ = true;
    } else if (self.arm(seen)) {
      return;  // a stale wake or a poll: waiting again
    }
    unregister_loop_event_wait(self.registration_);
    self.unwatch_stop();
    self.waiter_.resume();  // the frame (and this awaiter) may be gone after this
  }

  std::atomic<std::uint32_t>& word_;
  Deadline deadline_;
  std::uint32_t entry_ = 0;  // the word as first read: this waiter's generation
  bool result_ = false;
  LoopEventWait registration_;  // while a wait on the word is in flight
};

// ---- Auto-reset events: BasicAutoResetEvent::wait_slow for a coroutine
// (fev/auto_reset_event_access.hpp's steps). ----
template <class Wait>
class AutoResetWaitAwaiter : private ParkedOp {
  using Access = AutoResetEventAccess;

 public:
  AutoResetWaitAwaiter(Loop& loop, BasicAutoResetEvent<Wait>& event, Deadline deadline, std::stop_token stop) noexcept
      : ParkedOp(loop, std::move(stop)), event_(event), word_(Access::word(event)), deadline_(deadline) {
    on_done = &AutoResetWaitAwaiter::done;
  }
  // A frame destroyed while registered (its loop went away): unregister; a signal taken
  // on the way out is given back.
  ~AutoResetWaitAwaiter() {
    if (registered_ && Access::leave(word_)) event_.set();
  }

  bool await_ready() noexcept {
    result_ = event_.try_wait();
    return result_ || passed() || stop_requested();  // a zero timeout checks once
  }
  bool await_suspend(std::coroutine_handle<> waiter) noexcept {
    waiter_ = waiter;
    watch_stop();
    seen_ = word_.load(std::memory_order_relaxed);  // only a starting value for the CAS
    if (Access::take_or_register(word_, seen_)) {
      result_ = true;
    } else {
      registered_ = true;
      if (!step()) return true;
    }
    unwatch_stop();
    return false;
  }
  bool await_resume() const noexcept { return result_; }

 private:
  bool passed() const noexcept { return deadline_ != Deadline::max() && std::chrono::steady_clock::now() >= deadline_; }

  // Registered, with seen_ the last value read: takes the signal, gives up (deadline,
  // stop: leaving still takes a signal that is there), or queues the wait (false).
  bool step() noexcept {
    for (;;) {
      if (seen_ & Access::kSignaled) {
        registered_ = false;
        if ((result_ = Access::leave(word_))) return true;
        // Another waiter took it first: register again.
        seen_ = word_.load(std::memory_order_relaxed);
        if ((result_ = Access::take_or_register(word_, seen_))) return true;
        registered_ = true;
        continue;
      }
      if (passed() || stop_requested()) {
        registered_ = false;
        result_ = Access::leave(word_);
        return true;
      }
      LoopAccess::queue_wait(*loop_, *this, word_, seen_, word_kind<Wait>, deadline_);
      return false;
    }
  }

  static void done(LoopOp& op) noexcept {
    auto& self = static_cast<AutoResetWaitAwaiter&>(op);
    self.seen_ = self.word_.load(std::memory_order_relaxed);  // leave()'s CAS acquires the signal
    if (!self.step()) return;
    self.unwatch_stop();
    self.waiter_.resume();  // the frame (and this awaiter) may be gone after this
  }

  BasicAutoResetEvent<Wait>& event_;
  std::atomic<std::uint32_t>& word_;
  Deadline deadline_;
  std::uint32_t seen_ = 0;
  bool registered_ = false;
  bool result_ = false;
};

// ---- Rings: BasicRing::block() for a coroutine (fev/ring_access.hpp's steps). ----
// Side supplies: word(), attempt() -> RingClaim, must_wait().
template <class Side>
class RingWaitAwaiter : protected ParkedOp {
 protected:
  RingWaitAwaiter(Loop& loop, std::stop_token stop) noexcept : ParkedOp(loop, std::move(stop)) {
    on_done = &RingWaitAwaiter::done;
  }
  ~RingWaitAwaiter() = default;
  // A frame destroyed while registered (its loop went away, after reaping its requests
  // without running this step): leave as after a cancel. Its request may have taken a
  // wake it never looked at, so it takes over any wake issued (step 2, which a registered
  // waiter may do at any time) and leave() passes it on. Called by Side's destructor,
  // while Side's members are still alive.
  void abandon() noexcept {
    if (!registered_) return;
    std::atomic<std::uint32_t>& word = side().word();
    seen_ = word.load(std::memory_order_relaxed);  // only a starting value for the CAS
    while (seen_ & RingAccess::kWaking) {
      // seq_cst: as advance()'s take-over, ordered before leave()'s re-check. relaxed on
      // failure: retry from the new value.
      if (word.compare_exchange_weak(seen_, seen_ & ~RingAccess::kWaking, std::memory_order_seq_cst,
                                     std::memory_order_relaxed)) {
        took_wake_ = true;
        break;
      }
    }
    (void)leave();
  }

  bool ready() noexcept {
    claim_ = side().attempt();
    if (claim_ != RingClaim::busy) return true;
    cancelled_ = stop_requested();
    return cancelled_;
  }
  bool suspend(std::coroutine_handle<> waiter) noexcept {
    waiter_ = waiter;
    watch_stop();
    seen_ = side().word().load(std::memory_order_relaxed);  // only a starting value for the CAS
    if (!advance()) return true;
    unwatch_stop();
    return false;
  }

  RingClaim claim_ = RingClaim::busy;
  bool cancelled_ = false;

 private:
  Side& side() noexcept { return static_cast<Side&>(*this); }

  // Runs the steps until the operation must wait (a request queued: false) or ends
  // (claim_/cancelled_ say how: true).
  bool advance() noexcept {
    std::atomic<std::uint32_t>& word = side().word();
    for (;;) {
      if (!registered_) {
        if ((seen_ & RingAccess::kSleepersMask) == RingAccess::kSleepersMask) {
          // Every sleeper place is taken: poll instead of registering.
          if ((claim_ = side().attempt()) != RingClaim::busy) return true;
          if ((cancelled_ = stop_requested())) return true;
          LoopAccess::queue_pause(*loop_, *this);
          return false;
        }
        // seq_cst: the registration half of the handshake (ring protocol step 5).
        // relaxed on failure: we retry from the new value.
        if (word.compare_exchange_weak(seen_, seen_ + RingAccess::kSleeperOne, std::memory_order_seq_cst,
                                       std::memory_order_relaxed)) {
          seen_ += RingAccess::kSleeperOne;
          registered_ = true;
        }
        continue;
      }
      if (seen_ & RingAccess::kWaking) {
        // Take the issued wake over (step 6). seq_cst: ordered before the re-check's
        // seq_cst loads, against a claimer's claim-then-load. relaxed on failure: retry.
        if (!word.compare_exchange_weak(seen_, seen_ & ~RingAccess::kWaking, std::memory_order_seq_cst,
                                        std::memory_order_relaxed))
          continue;
        seen_ &= ~RingAccess::kWaking;
        took_wake_ = true;
      }
      if ((claim_ = side().attempt()) != RingClaim::busy) return leave();
      if ((cancelled_ = stop_requested())) return leave();
      if (side().must_wait()) {
        LoopAccess::queue_wait(*loop_, *this, word, seen_, side().kind(), Deadline::max(), true);
      } else {
        // The other side claimed but has not published yet: let it run.
        LoopAccess::queue_yield(*loop_, *this);
      }
      return false;
    }
  }

  bool leave() noexcept {
    registered_ = false;
    // seq_cst: a claimer that reads the word after this sees one sleeper fewer.
    side().word().fetch_sub(RingAccess::kSleeperOne, std::memory_order_seq_cst);
    // The relay, also after a cancellation: whatever the wake announced is still there.
    if (took_wake_ && !side().must_wait()) side().notify_word();
    took_wake_ = false;
    return true;
  }

  static void done(LoopOp& op) noexcept {
    auto& self = static_cast<RingWaitAwaiter&>(op);
    self.seen_ = self.side().word().load(std::memory_order_relaxed);  // the value to take over or sleep on
    if (!self.advance()) return;
    self.unwatch_stop();
    self.waiter_.resume();  // the frame (and this awaiter) may be gone after this
  }

  std::uint32_t seen_ = 0;
  bool registered_ = false;
  bool took_wake_ = false;
};

template <class T, class W, class H>
class RingPopAwaiter;
template <class T, class W, class H>
class RingPushAwaiter;

}  // namespace detail

/// What async_pop with a stop token returns: `value` holds the value iff status is ok.
template <class T>
struct PopResult {
  Status status;  ///< ok, closed (and drained) or cancelled
  /// The value popped, iff `status` is Status::ok.
  std::optional<T> value;
};

namespace detail {

template <class T, class W, class H>
class RingPopAwaiter : public RingWaitAwaiter<RingPopAwaiter<T, W, H>> {
  using Base = RingWaitAwaiter<RingPopAwaiter<T, W, H>>;
  friend Base;

 public:
  RingPopAwaiter(Loop& loop, BasicRing<T, W, H>& ring, std::stop_token stop) noexcept
      : Base(loop, std::move(stop)), ring_(ring) {}
  ~RingPopAwaiter() { this->abandon(); }
  bool await_ready() noexcept { return this->ready(); }
  bool await_suspend(std::coroutine_handle<> waiter) noexcept { return this->suspend(waiter); }
  std::optional<T> await_resume() noexcept { return std::move(value_); }
  PopResult<T> result() noexcept {
    const Status status = this->claim_ == RingClaim::done     ? Status::ok
                          : this->claim_ == RingClaim::closed ? Status::closed
                                                              : Status::cancelled;
    return {status, std::move(value_)};
  }

 private:
  std::atomic<std::uint32_t>& word() noexcept { return RingAccess::consumers_word(ring_); }
  static constexpr WordKind kind() noexcept { return word_kind<W>; }
  RingClaim attempt() noexcept {
    return RingAccess::claim_pop(ring_, [this](T& value) noexcept { value_.emplace(std::move(value)); });
  }
  bool must_wait() noexcept { return RingAccess::consumers_must_wait(ring_); }
  void notify_word() noexcept { RingAccess::notify(ring_, word()); }

  BasicRing<T, W, H>& ring_;
  std::optional<T> value_;
};

template <class T, class W, class H>
class RingPushAwaiter : public RingWaitAwaiter<RingPushAwaiter<T, W, H>> {
  using Base = RingWaitAwaiter<RingPushAwaiter<T, W, H>>;
  friend Base;

 public:
  RingPushAwaiter(Loop& loop, BasicRing<T, W, H>& ring, T& value, std::stop_token stop) noexcept
      : Base(loop, std::move(stop)), ring_(ring), value_(value) {}
  ~RingPushAwaiter() { this->abandon(); }
  bool await_ready() noexcept { return this->ready(); }
  bool await_suspend(std::coroutine_handle<> waiter) noexcept { return this->suspend(waiter); }
  bool await_resume() const noexcept { return this->claim_ == RingClaim::done; }
  Status status() const noexcept {
    return this->claim_ == RingClaim::done ? Status::ok
           : this->claim_ == RingClaim::closed ? Status::closed
                                               : Status::cancelled;
  }

 private:
  std::atomic<std::uint32_t>& word() noexcept { return RingAccess::producers_word(ring_); }
  static constexpr WordKind kind() noexcept { return word_kind<W>; }
  RingClaim attempt() noexcept {
    return RingAccess::claim_push(ring_, [this](void* where) noexcept { ::new (where) T(std::move(value_)); });
  }
  bool must_wait() noexcept { return RingAccess::producers_must_wait(ring_); }
  void notify_word() noexcept { RingAccess::notify(ring_, word()); }

  BasicRing<T, W, H>& ring_;
  T& value_;  // moved from only when the push is claimed
};

// The stop-token forms answer with a Status-carrying result.
template <class Awaiter>
class WithStatus : public Awaiter {
 public:
  using Awaiter::Awaiter;
  auto await_resume() noexcept {
    if constexpr (requires(Awaiter& a) { a.result(); }) {
      return this->result();
    } else {
      return this->status();
    }
  }
};

// ---- Tasks ----
class TaskPromiseBase {
 public:
  std::suspend_always initial_suspend() const noexcept { return {}; }

  struct FinalAwaiter {
    bool await_ready() const noexcept { return false; }
    template <class Promise>
    std::coroutine_handle<> await_suspend(std::coroutine_handle<Promise> self) noexcept {
      TaskPromiseBase& promise = self.promise();
      if (promise.spawned_on_ != nullptr) {
        // A spawned task has nobody to rethrow to: report it, then std::terminate().
        if (promise.exception_) spawned_task_threw(promise.exception_);
        Loop& loop = *promise.spawned_on_;
        LoopAccess::task_finished(loop, self.address());
        self.destroy();  // allowed here: the coroutine is suspended at its final point
        return std::noop_coroutine();
      }
      // Symmetric transfer: the awaiting task resumes without growing the stack.
      return promise.continuation_ ? promise.continuation_ : std::noop_coroutine();
    }
    void await_resume() const noexcept {}
  };
  FinalAwaiter final_suspend() const noexcept { return {}; }
  void unhandled_exception() noexcept { exception_ = std::current_exception(); }

  std::coroutine_handle<> continuation_;
  Loop* spawned_on_ = nullptr;
  std::exception_ptr exception_;
};

template <class T>
class TaskPromise : public TaskPromiseBase {
 public:
  Task<T> get_return_object() noexcept;
  template <class U>
  void return_value(U&& value) noexcept(std::is_nothrow_constructible_v<T, U>) {
    value_.emplace(std::forward<U>(value));
  }
  T take() {
    if (exception_) std::rethrow_exception(exception_);
    return std::move(*value_);
  }

 private:
  std::optional<T> value_;
};

template <>
class TaskPromise<void> : public TaskPromiseBase {
 public:
  Task<void> get_return_object() noexcept;
  void return_void() const noexcept {}
  void take() {
    if (exception_) std::rethrow_exception(exception_);
  }
};

}  // namespace detail

/// A lazily started coroutine: it runs when awaited (co_await task, inside another
/// task) or spawned on a loop (loop.spawn(std::move(task))). Move-only; destroying a
/// Task that was neither destroys its frame. `T`: what co_await on it returns.
template <class T>
class Task {
 public:
  /// The coroutine's promise, as the language requires; internal.
  using promise_type = detail::TaskPromise<T>;

  /// Takes over `other`'s coroutine; `other` then holds none.
  Task(Task&& other) noexcept : frame_(std::exchange(other.frame_, {})) {}
  /// Destroys this Task's coroutine, if any, then takes over `other`'s.
  Task& operator=(Task&& other) noexcept {
    if (this != &other) {
      if (frame_) frame_.destroy();
      frame_ = std::exchange(other.frame_, {});
    }
    return *this;
  }
  ~Task() {
    if (frame_) frame_.destroy();
  }

  /// co_await task: always suspends the awaiting coroutine and starts this one.
  bool await_ready() const noexcept { return false; }
  /// co_await task: runs this task in place of the awaiting one, which resumes when it
  /// finishes.
  std::coroutine_handle<> await_suspend(std::coroutine_handle<> caller) noexcept {
    frame_.promise().continuation_ = caller;
    return frame_;  // symmetric transfer: start the task on this stack frame's place
  }
  /// co_await task: the task's result, or the exception it threw, rethrown.
  T await_resume() { return frame_.promise().take(); }

 private:
  friend promise_type;
  friend class Loop;
  explicit Task(std::coroutine_handle<promise_type> frame) noexcept : frame_(frame) {}
  std::coroutine_handle<promise_type> frame_;
};

namespace detail {
template <class T>
Task<T> TaskPromise<T>::get_return_object() noexcept {
  return Task<T>(std::coroutine_handle<TaskPromise<T>>::from_promise(*this));
}
inline Task<void> TaskPromise<void>::get_return_object() noexcept {
  return Task<void>(std::coroutine_handle<TaskPromise<void>>::from_promise(*this));
}
struct LoopState;  // src/loop_linux.cpp
// For tests: true makes every Loop constructed from now on take the fallback path.
void force_loop_fallback(bool on) noexcept;
}  // namespace detail

/// A fev::Executor that resumes coroutines on `loop`'s thread, from the loop's own turn
/// (Loop::executor(); how: the comment at the top of fev/loop.hpp). Copyable; the loop
/// must exist when schedule() is called. A schedule() from another thread is done with
/// the loop before the loop can resume the coroutine it posts.
class LoopExecutor {
 public:
  /// An executor for `loop` (the same as loop.executor()).
  explicit LoopExecutor(Loop& loop) noexcept : loop_(&loop) {}
  /// Queues `coroutine` to be resumed by the loop, once. From any thread; the call
  /// happens-before the resumption.
  void schedule(std::coroutine_handle<> coroutine) const noexcept;
  /// The loop it posts to.
  Loop& loop() const noexcept { return *loop_; }
  /// Executors are equal when they post to the same loop.
  friend bool operator==(const LoopExecutor&, const LoopExecutor&) = default;

 private:
  Loop* loop_;
};

/// A single-threaded io_uring event loop that runs Task coroutines; they await fev
/// Events, AutoResetEvents and Rings through async_wait(), async_pop() and async_push().
/// Usage, what can be awaited, lifetimes, the fallback path and the memory ordering: the
/// comment at the top of fev/loop.hpp.
class Loop {
 public:
  /// Sets up an io_uring with room for `queue_depth` submissions at once (more are
  /// submitted in batches). std::system_error when io_uring cannot be set up here (see
  /// supported()).
  explicit Loop(unsigned queue_depth = 256);
  ~Loop();
  Loop(const Loop&) = delete;
  Loop& operator=(const Loop&) = delete;

  /// Whether this process can set up an io_uring at all (a kernel before 5.1, the sysctl
  /// kernel.io_uring_disabled, a seccomp filter say no).
  static bool supported() noexcept;

  /// Whether waits sleep in the kernel (IORING_OP_FUTEX_WAIT) for fev::Event and
  /// fev::Ring; false: the fallback path (polling, see the top of fev/loop.hpp).
  bool futex_waits() const noexcept;

  /// Takes the task over; it starts on the loop's next turn, and its frame is freed when
  /// it finishes (its result, if any, is dropped). On the loop's thread only.
  template <class T>
  void spawn(Task<T> task) {
    auto frame = std::exchange(task.frame_, {});
    frame.promise().spawned_on_ = this;
    add_task(frame);
  }

  /// Runs until every spawned task has finished, or stop().
  void run() {
    run_until([this] { return live_tasks() == 0; });
  }
  /// Runs until pred() is true (checked before each turn of the loop: after it started
  /// what was ready and reaped what had completed), or stop(). pred() runs on the loop's
  /// thread; a change made by another thread is seen at the loop's next completion.
  template <class Pred>
  void run_until(Pred&& pred) {
    while (!pred()) {
      if (!turn()) return;
    }
  }
  /// Makes run()/run_until() return after the current turn; from any thread. A stop()
  /// before run() makes that run() return at once. Tasks stay as they are. Returns only
  /// after it is done with the loop's memory and doorbell (~Loop waits for it), so a
  /// run() it ends may be followed by ~Loop at once. It takes a mutex: not for signal
  /// handlers.
  void stop() noexcept;

  /// Spawned tasks not finished yet.
  std::size_t live_tasks() const noexcept;

  /// The executor that resumes coroutines on this loop: async_wait(loop.executor(),
  /// event) waits through fev/async_event.hpp's side table (see the top of fev/loop.hpp).
  LoopExecutor executor() noexcept { return LoopExecutor(*this); }

 private:
  friend struct detail::LoopAccess;
  friend class LoopExecutor;
  void add_task(std::coroutine_handle<> frame);
  // One turn: start what is ready, submit, wait for (unless something is ready) and
  // reap completions. False when stop() was asked.
  bool turn();

  std::unique_ptr<detail::LoopState> state_;
};

// ---- The awaitables. `loop` is the loop that runs the awaiting coroutine. ----
/// co_await: true once `event` is set (as Event::wait), false once a stop is requested
/// on `stop` while it is not. `loop` is the loop that runs the awaiting coroutine.
template <class Wait>
detail::EventWaitAwaiter<Wait> async_wait(Loop& loop, BasicEvent<Wait>& event, std::stop_token stop = {}) noexcept {
  return {loop, event, Deadline::max(), std::move(stop)};
}
/// co_await: as async_wait(), and false once `timeout` has passed (no earlier). A
/// timeout of zero or below checks once.
template <class Wait, class Rep, class Period>
detail::EventWaitAwaiter<Wait> async_wait_for(Loop& loop, BasicEvent<Wait>& event,
                                              const std::chrono::duration<Rep, Period>& timeout,
                                              std::stop_token stop = {}) noexcept {
  // A timeout of zero or below checks once.
  return {loop, event, timeout <= timeout.zero() ? Deadline::min() : detail::deadline_after(timeout),
          std::move(stop)};
}
/// co_await: as async_wait_for(), until a time point of steady_clock or system_clock.
template <class Wait, class Clock, class Duration>
detail::EventWaitAwaiter<Wait> async_wait_until(Loop& loop, BasicEvent<Wait>& event,
                                                const std::chrono::time_point<Clock, Duration>& when,
                                                std::stop_token stop = {}) noexcept {
  return {loop, event, detail::to_deadline(when), std::move(stop)};
}

/// Auto-reset events: true iff this waiter took a signal (each set() releases one
/// waiter, thread or coroutine); false once a stop is requested.
template <class Wait>
detail::AutoResetWaitAwaiter<Wait> async_wait(Loop& loop, BasicAutoResetEvent<Wait>& event,
                                              std::stop_token stop = {}) noexcept {
  return {loop, event, Deadline::max(), std::move(stop)};
}
/// Auto-reset events: true iff this waiter took a signal; false once `timeout` has
/// passed or a stop is requested. A timeout of zero or below checks once.
template <class Wait, class Rep, class Period>
detail::AutoResetWaitAwaiter<Wait> async_wait_for(Loop& loop, BasicAutoResetEvent<Wait>& event,
                                                  const std::chrono::duration<Rep, Period>& timeout,
                                                  std::stop_token stop = {}) noexcept {
  return {loop, event, timeout <= timeout.zero() ? Deadline::min() : detail::deadline_after(timeout),
          std::move(stop)};
}
/// Auto-reset events: as async_wait_for(), until a time point of steady_clock or
/// system_clock.
template <class Wait, class Clock, class Duration>
detail::AutoResetWaitAwaiter<Wait> async_wait_until(Loop& loop, BasicAutoResetEvent<Wait>& event,
                                                    const std::chrono::time_point<Clock, Duration>& when,
                                                    std::stop_token stop = {}) noexcept {
  return {loop, event, detail::to_deadline(when), std::move(stop)};
}

/// co_await: the next value of `ring` (std::optional<T>); nullopt iff the ring is closed
/// and drained.
template <class T, class W, class H>
detail::RingPopAwaiter<T, W, H> async_pop(Loop& loop, BasicRing<T, W, H>& ring) noexcept {
  return {loop, ring, {}};
}
/// co_await: a PopResult<T>: Status::ok and the value, Status::closed (closed and
/// drained), or Status::cancelled once a stop is requested while it waits (nothing taken).
template <class T, class W, class H>
detail::WithStatus<detail::RingPopAwaiter<T, W, H>> async_pop(Loop& loop, BasicRing<T, W, H>& ring,
                                                              std::stop_token stop) noexcept {
  return {loop, ring, std::move(stop)};
}
/// co_await: waits for room and moves `value` in; false iff the ring is closed (the
/// value is then not taken). `value` must live until the co_await completes (a temporary
/// in the co_await's expression does).
template <class T, class W, class H>
detail::RingPushAwaiter<T, W, H> async_push(Loop& loop, BasicRing<T, W, H>& ring, T&& value) noexcept {
  return {loop, ring, value, {}};
}
/// co_await: as async_push() without a token, as a Status: ok, closed, or cancelled once
/// a stop is requested while it waits (the value is then not taken).
template <class T, class W, class H>
detail::WithStatus<detail::RingPushAwaiter<T, W, H>> async_push(Loop& loop, BasicRing<T, W, H>& ring, T&& value,
                                                                std::stop_token stop) noexcept {
  return {loop, ring, value, std::move(stop)};
}

}  // namespace fev
