// SPDX-License-Identifier: MIT
// fev/loop.hpp — a small io_uring event loop whose C++20 coroutines wait on the same
// fev::Event and fev::Ring that plain threads use (Linux, liburing).
//
// Usage, what a coroutine can await, and the rules for lifetimes and cancellation are
// on fev::Loop's documentation below and in docs/coroutines.md; what follows is how it
// works. Where things live: fev::Task in fev/task.hpp, the Event and AutoResetEvent
// awaitables in fev/loop_event.hpp, the Ring awaitables in fev/loop_ring.hpp (this
// header includes the three), async_wait_any in fev/loop_wait_any.hpp, async_select in
// fev/loop_select.hpp; the Loop and its executor here.
//
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
//    refers to its operation (the wait, its linked timeout or thread relay, a cancel)
//    has been reaped;
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

#include <chrono>
#include <coroutine>
#include <cstddef>
#include <memory>
#include <utility>

#include "fev/config.hpp"
#include "fev/detail_loop_ops.hpp"
#include "fev/loop_event.hpp"  // async_wait on Events and AutoResetEvents
#include "fev/loop_ring.hpp"   // async_pop, async_push
#include "fev/task.hpp"        // fev::Task

namespace fev {

/// How long a waiter sleeps between checks on the fallback path (see fev/loop.hpp:
/// without futex waits in io_uring, every wait polls).
inline constexpr std::chrono::milliseconds kFallbackPoll{1};

namespace detail {
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

/// A single-threaded io_uring event loop (Linux) that runs Task coroutines; they await
/// the same fev::Event, fev::AutoResetEvent and fev::Ring that plain threads use,
/// through async_wait(), async_pop() and async_push(). \ref coroutines (docs/coroutines.md)
/// walks through it with a complete program.
///
/// \code
/// #include <fev/loop.hpp>
///
/// fev::Task<> consume(fev::Loop& loop, fev::Ring<int>& work) {
///   while (std::optional<int> item = co_await fev::async_pop(loop, work))  // nullopt: closed and drained
///     handle(*item);
/// }
///
/// fev::Loop loop;                    // std::system_error where io_uring is unavailable
/// fev::Ring<int> work(64);
/// loop.spawn(consume(loop, work));   // starts on the loop's next turn
/// std::jthread producer([&] {
///   for (int i = 0; i < 1000; ++i)
///     if (!work.push(i)) break;      // threads push as always
///   work.close();
/// });
/// loop.run();                        // until every spawned task has finished, or stop()
/// \endcode
///
/// What a coroutine can await; each resumes on the loop's thread, from the loop itself,
/// never inside the set(), push() or pop() of another thread or coroutine:
/// | co_await | returns |
/// |---|---|
/// | async_wait(loop, event[, stop]) | bool: true iff set (an AutoResetEvent: took a signal); false: stop requested |
/// | async_wait_for(loop, event, timeout[, stop]), async_wait_until(loop, event, when[, stop]) | bool: true iff set; false at the deadline or on a stop |
/// | async_pop(loop, ring) | std::optional<T>: nullopt iff closed and drained |
/// | async_pop(loop, ring, stop) | PopResult<T>: Status::ok with the value, Status::closed, or Status::cancelled |
/// | async_push(loop, ring, std::move(value)) | bool: false iff closed (the value not taken) |
/// | async_push(loop, ring, std::move(value), stop) | Status: ok, closed or cancelled |
/// | async_wait_any(loop, a, b, ...) | std::size_t: the lowest index found set |
/// | async_wait_any(loop, stop, a, ...), async_wait_any_for(loop, timeout[, stop], a, ...), async_wait_any_until(loop, when[, stop], a, ...) | std::optional<std::size_t>: nullopt at the deadline or on a stop |
/// | async_select(loop[, stop], on_pop(ring, out), on_push(ring, value), on_set(event), ...), async_select_for(loop, timeout[, stop], ...), async_select_until(loop, when[, stop], ...) | Selected: exactly one case performed, as fev::select (fev/loop_select.hpp) |
/// | another Task | its result, or its exception rethrown |
///
/// Rules (details in \ref coroutines and at the top of fev/loop.hpp):
/// - spawn(), run(), run_until() and every co_await run on the loop's thread; stop() and
///   request_stop() on a waiter's std::stop_token may come from any thread;
/// - the Event or Ring awaited must outlive the wait; destroying a Ring, an
///   AutoResetEvent or an in-process Event while a coroutine waits on it stops the
///   program with one line on stderr;
/// - the loop must outlive its tasks' waits: ~Loop cancels every request it has in the
///   kernel, then destroys the frames of spawned tasks still suspended, each leaving
///   the object it waited on as a cancelled wait would (a wake it took is passed on);
/// - a stop request ends only a wait that would have to wait: a cancelled pop took
///   nothing and a cancelled push kept its value;
/// - a spawned task that throws writes the exception's what() to stderr and calls
///   std::terminate(); co_await on a Task rethrows in the awaiting task;
/// - without futex waits in io_uring (a kernel before 6.7, or FEV_LOOP_FALLBACK=1) every
///   wait polls every kFallbackPoll instead: correct, slower (futex_waits() tells).
///
/// Memory ordering: as for the threads' forms. Everything a thread did before the set()
/// an async_wait returned true for happens-before the code after that co_await; what a
/// producer did before pushing a value happens-before the code after the async_pop that
/// took it.
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

}  // namespace fev
