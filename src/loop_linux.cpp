// SPDX-License-Identifier: MIT
// fev::Loop: the io_uring side of fev/loop.hpp's coroutines.
//
// Requests and their user_data: an operation's address (LoopOp is aligned to 8) plus a
// tag in the low bits: its wait (IORING_OP_FUTEX_WAIT, IORING_OP_FUTEX_WAITV for
// async_wait_any, or on the fallback path an IORING_OP_TIMEOUT poll), the
// IORING_OP_LINK_TIMEOUT linked to that wait, the IORING_OP_FUTEX_WAKE linked to a
// ring wait (the relay to threads, see "Wakes and busy loops" in fev/loop.hpp), or an
// IORING_OP_ASYNC_CANCEL of it. Every request counts in the operation's `pending`;
// the operation's next step runs when the last of its completions has been reaped, so
// its coroutine is resumed only once nothing in the kernel refers to it any more.
//
// The doorbell: an eventfd with an IORING_OP_POLL_ADD always armed (user_data 0 plus
// its own tag). stop() and the stop callbacks of other threads write to it; the loop
// then reads it empty, looks at what was posted and arms the poll again. A poll, not a
// read: no kernel write into the loop's memory can be left in flight.
//
// LoopExecutor::schedule(): on the thread running this loop's turn (a thread_local says
// which loop that is) it appends to `ready`, which turn() drains before it may block, so
// coroutines that wake each other on one loop never enter the kernel. From elsewhere it
// appends to `remote_ready` and rings the doorbell only when the list was empty: the loop
// reads the eventfd before it takes the list, so a push after the take finds it empty and
// rings again, and one before is taken with it.
//
// Other threads touch the loop only under `doorbell_mutex`: schedule(), stop() and the
// stop callbacks append and ring the doorbell inside it, and ~Loop takes it before it
// closes the eventfd. So a coroutine posted from another thread cannot be taken (and
// resumed, and finish, and let its owner destroy the loop) before its poster is done
// with the loop, and no thread writes to the eventfd's number after ~Loop closed it.
//
// ~Loop: first every request in the kernel is cancelled (IORING_OP_ASYNC_CANCEL with
// IORING_ASYNC_CANCEL_ANY) and every completion reaped, without running any operation's
// next step; `requests` counts the SQEs taken and not yet reaped. Only then are the frames
// destroyed: their awaiters leave the words as after a cancellation, passing on a wake
// their request took (a ring's `waking`, an auto-reset event's signal), and the stop
// callbacks' destructors wait for a callback running on another thread. Then the eventfd
// and the ring are closed.
//
// liburing 2.3 has no futex helpers: the futex wait SQE is filled by the helper shared
// with src/uring_linux.cpp (src/uring_futex.hpp), with the same flags that
// fev::uring_futex_mode() found a set() to wake.
#include <liburing.h>
#include <linux/futex.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <exception>
#include <mutex>
#include <system_error>
#include <thread>
#include <unordered_set>
#include <utility>
#include <vector>

#include "fev/loop.hpp"
#include "fev/uring.hpp"
#include "backend/monotonic_timespec.hpp"
#include "uring_futex.hpp"
#include "uring_rings.hpp"

namespace fev {
namespace {



// user_data tags (low bits of an operation's address).
constexpr std::uint64_t kTagWait = 0;
constexpr std::uint64_t kTagTimer = 1;
constexpr std::uint64_t kTagCancel = 2;
constexpr std::uint64_t kTagRelay = 3;
constexpr std::uint64_t kTagMask = 7;
constexpr std::uint64_t kDoorbell = 3;  // no operation: address 0, tag 3
constexpr std::uint64_t kCancelAll = 4;  // ~Loop's cancellation of every request: address 0, tag 4

// A ring waiter's futex wait carries only this bit of the futex bitset, and the wake
// linked to it (the relay to threads) every other bit: threads wait with every bit, so
// the relay wakes a thread and never another coroutine's wait (no chain of relays).
constexpr std::uint32_t kCoroutineRingWaitBit = 0x80000000u;
constexpr std::uint32_t kThreadBits = ~kCoroutineRingWaitBit;

// How long ~Loop waits for completions after a cancellation found nothing more to cancel
// before it asks again (a linked timeout's completion follows its wait's).
constexpr long long kTeardownRecheckNs = 10'000'000;

// The CQ holds this many entries at least (more than the SQ: every parked coroutine
// can complete at once on one set(); the kernel keeps the overflow, never drops it).
constexpr unsigned kCompletionEntries = 16384;

// relaxed: a test switch; it publishes nothing.
std::atomic<bool> forced_fallback{false};

// How many coroutines of the ready queue one turn resumes at most before it looks at
// completions again (coroutines that keep waking each other do not starve the I/O).
constexpr std::size_t kReadyPerTurn = 1024;

static_assert(sizeof(detail::LoopOp::when) == sizeof(__kernel_timespec), "LoopOp::when is a __kernel_timespec");
static_assert(sizeof(detail::FutexWaitvEntry) == sizeof(::futex_waitv) &&
                  offsetof(detail::FutexWaitvEntry, val) == offsetof(::futex_waitv, val) &&
                  offsetof(detail::FutexWaitvEntry, uaddr) == offsetof(::futex_waitv, uaddr) &&
                  offsetof(detail::FutexWaitvEntry, flags) == offsetof(::futex_waitv, flags),
              "FutexWaitvEntry is a struct futex_waitv");

[[noreturn]] void fatal(const char* message) noexcept {
  std::fputs(message, stderr);
  std::abort();
}

bool fallback_from_environment() noexcept {
  const char* value = std::getenv("FEV_LOOP_FALLBACK");
  return value != nullptr && value[0] != '\0' && std::strcmp(value, "0") != 0;
}

void set_when(detail::LoopOp& op, Deadline deadline) noexcept {
  const timespec when = backend::monotonic_timespec(deadline);  // the futex backend's conversion
  op.when.sec = when.tv_sec;
  op.when.nsec = when.tv_nsec;
}

__kernel_timespec* timespec_of(detail::LoopOp& op) noexcept {
  return reinterpret_cast<__kernel_timespec*>(&op.when);
}

std::uint64_t user_data(detail::LoopOp& op, std::uint64_t tag) noexcept {
  return reinterpret_cast<std::uintptr_t>(&op) | tag;
}

}  // namespace

namespace detail {

void force_loop_fallback(bool on) noexcept { forced_fallback.store(on, std::memory_order_relaxed); }

namespace {
// The loop whose turn this thread is running, if any.
thread_local const LoopState* running_loop = nullptr;

class RunningLoop {
 public:
  explicit RunningLoop(const LoopState& loop) noexcept : outer_(std::exchange(running_loop, &loop)) {}
  ~RunningLoop() { running_loop = outer_; }
  RunningLoop(const RunningLoop&) = delete;
  RunningLoop& operator=(const RunningLoop&) = delete;

 private:
  const LoopState* outer_;
};
}  // namespace

struct LoopState {
  io_uring ring{};
  int doorbell = -1;  // eventfd; written by other threads only under doorbell_mutex
  std::size_t requests = 0;  // SQEs taken and their completions not reaped yet
  bool private_futex_ok = false;  // Event/Ring words woken by a private futex wake
  bool shared_futex_ok = false;   // SharedEvent/SharedRing words
  bool private_flag_for_private = true;  // the flag the probe found for private wakes
  bool private_flag_for_shared = false;  // ... and for shared wakes
  bool relay_ok = false;                 // the kernel has IORING_OP_FUTEX_WAKE (ring waits relay)

  std::atomic<bool> stop_asked{false};
  // acquire/release: the turn that sets it and the one that clears it; a second thread
  // that finds it set is running the same loop at the same time (a fatal error).
  std::atomic<bool> turning{false};

  // Held by every other thread for as long as it touches the loop (see the file comment).
  std::mutex doorbell_mutex;
  bool doorbell_closed = false;         // ~Loop closed it; guarded by doorbell_mutex
  std::vector<LoopOp*> posted_cancels;  // guarded by doorbell_mutex

  std::vector<std::coroutine_handle<>> starting;  // spawned, not started yet
  std::deque<LoopOp*> yielded;                    // on_done on the next turn
  std::unordered_set<void*> live;                 // frames of spawned tasks not finished

  std::vector<std::coroutine_handle<>> ready;    // scheduled on the loop's thread
  std::vector<std::coroutine_handle<>> running;  // the batch of `ready` being resumed
  std::vector<std::coroutine_handle<>> remote_ready;  // scheduled elsewhere; guarded by doorbell_mutex
  std::vector<std::coroutine_handle<>> remote_taken;  // spare buffer swapped with remote_ready

  // Resumes what is ready, batch after batch (what they schedule joins the next batch),
  // up to kReadyPerTurn. Returns how many ran.
  std::size_t run_ready() noexcept {
    std::size_t ran = 0;
    while (!ready.empty() && ran < kReadyPerTurn) {
      running.swap(ready);
      for (const auto coroutine : running) coroutine.resume();
      ran += running.size();
      running.clear();
    }
    return ran;
  }

  void schedule_remote(std::coroutine_handle<> coroutine) noexcept {
    // The ring inside the lock: the loop takes the list only under it, so the coroutine
    // is resumed only after this thread is done with the loop.
    const std::lock_guard<std::mutex> lock(doorbell_mutex);
    const bool was_empty = remote_ready.empty();
    remote_ready.push_back(coroutine);
    // After the push: the loop reads the doorbell before it takes the list.
    if (was_empty) ring_doorbell_locked();
  }

  void take_remote() noexcept {
    {
      const std::lock_guard<std::mutex> lock(doorbell_mutex);
      remote_taken.swap(remote_ready);
    }
    ready.insert(ready.end(), remote_taken.begin(), remote_taken.end());
    remote_taken.clear();
  }

  // An SQE, submitting what is queued when the submission queue is full. Every SQE the
  // loop fills yields exactly one completion, which turn() or ~Loop reaps.
  io_uring_sqe* sqe() noexcept {
    for (int tries = 0; tries < 1000; ++tries) {
      if (io_uring_sqe* sqe = io_uring_get_sqe(&ring)) {
        ++requests;
        return sqe;
      }
      (void)io_uring_submit(&ring);
    }
    fatal("fev::Loop: the io_uring submission queue stays full\n");
  }

  // Whether words of `kind` sleep in the kernel, and with which flag.
  bool futex_ok(WordKind kind) const noexcept {
    return (kind == WordKind::private_futex && private_futex_ok) || (kind == WordKind::shared_futex && shared_futex_ok);
  }
  bool private_flag(WordKind kind) const noexcept {
    return kind == WordKind::private_futex ? private_flag_for_private : private_flag_for_shared;
  }

  // The fallback: check again after one poll interval, or at the deadline if sooner.
  void queue_poll(LoopOp& op, Deadline deadline) noexcept {
    const Deadline poll = std::chrono::steady_clock::now() + kFallbackPoll;
    set_when(op, std::min(poll, deadline));
    io_uring_sqe* entry = sqe();
    io_uring_prep_timeout(entry, timespec_of(op), 0, IORING_TIMEOUT_ABS);
    io_uring_sqe_set_data64(entry, user_data(op, kTagWait));
    op.pending = 1;
  }

  // An SQE for op's wait; with a deadline (or a relay), room is made for the linked
  // SQE first (the two must be adjacent).
  io_uring_sqe* wait_sqe(bool linked) noexcept {
    if (linked && io_uring_sq_space_left(&ring) < 2) (void)io_uring_submit(&ring);
    return sqe();
  }

  // Links an IORING_OP_LINK_TIMEOUT at `deadline` (unless Deadline::max()) to the wait
  // just filled into `wait`, which counts as one completion.
  void link_timer(io_uring_sqe* wait, LoopOp& op, Deadline deadline) noexcept {
    op.pending = 1;
    if (deadline == Deadline::max()) return;
    wait->flags |= IOSQE_IO_LINK;
    set_when(op, deadline);
    io_uring_sqe* timer = sqe();
    io_uring_prep_link_timeout(timer, timespec_of(op), IORING_TIMEOUT_ABS);
    io_uring_sqe_set_data64(timer, user_data(op, kTagTimer));
    op.pending = 2;
    // The kernel reads the timespec at submission; the frame keeps it until the
    // completion anyway, so a later submit would do too.
  }

  void arm_doorbell() noexcept {
    io_uring_sqe* entry = sqe();
    io_uring_prep_poll_add(entry, doorbell, POLLIN);
    io_uring_sqe_set_data64(entry, kDoorbell);
  }

  // With doorbell_mutex held. After ~Loop closed the eventfd there is nobody to wake.
  void ring_doorbell_locked() noexcept {
    if (doorbell_closed) return;
    const std::uint64_t one = 1;
    // A full counter (never, in practice) still leaves the doorbell readable.
    while (write(doorbell, &one, sizeof one) < 0 && errno == EINTR) {
    }
  }

  void answer_doorbell() noexcept {
    std::uint64_t count = 0;
    while (read(doorbell, &count, sizeof count) < 0 && errno == EINTR) {
    }
    take_remote();  // after the read: a schedule() that finds the list empty rings again
    std::vector<LoopOp*> cancels;
    {
      const std::lock_guard<std::mutex> lock(doorbell_mutex);
      cancels.swap(posted_cancels);
    }
    // Every posted operation is alive: its coroutine removes it (forget) before it
    // resumes, on this thread, and nothing here resumes a coroutine.
    for (LoopOp* op : cancels) {
      if (!op->main_in_flight || op->cancel_sent) continue;  // it sees the stop at its next step
      io_uring_sqe* entry = sqe();
      io_uring_prep_cancel64(entry, user_data(*op, kTagWait), 0);
      io_uring_sqe_set_data64(entry, user_data(*op, kTagCancel));
      op->cancel_sent = true;
      ++op->pending;
    }
    arm_doorbell();
  }

  // Takes every completion that has arrived, counts it off `requests`, and hands its
  // user data and result to `handle`.
  template <class Handle>
  void drain_completions(Handle&& handle) noexcept {
    io_uring_cqe* cqe = nullptr;
    while (io_uring_peek_cqe(&ring, &cqe) == 0 && cqe != nullptr) {
      const std::uint64_t data = cqe->user_data;
      const std::int32_t res = cqe->res;
      io_uring_cqe_seen(&ring, cqe);
      --requests;
      handle(data, res);
    }
  }

  // Reaps what has completed, running each operation's next step.
  void reap() noexcept {
    drain_completions([this](std::uint64_t data, std::int32_t res) { dispatch(data, res); });
  }

  // ~Loop's first step: cancels every request of this loop in the kernel and reaps every
  // completion, running no operation's next step (the frames are destroyed next, and a
  // wake a request took is still in its word). Afterwards none of them sits in a futex
  // queue, so none can take a wake meant for a thread.
  void cancel_everything() noexcept {
    bool cancel_in_flight = false;
    bool found_nothing = false;  // the last cancellation found nothing left to cancel
    while (requests > 0) {
      if (!cancel_in_flight && found_nothing) {
        // Let what is still completing (a linked timeout after its wait) come in first.
        __kernel_timespec patience{0, kTeardownRecheckNs};
        io_uring_cqe* cqe = nullptr;
        (void)io_uring_submit(&ring);
        (void)io_uring_wait_cqe_timeout(&ring, &cqe, &patience);
        found_nothing = false;
      } else if (!cancel_in_flight) {
        io_uring_sqe* entry = sqe();
        io_uring_prep_cancel64(entry, 0, IORING_ASYNC_CANCEL_ANY);
        io_uring_sqe_set_data64(entry, kCancelAll);
        cancel_in_flight = true;
      }
      if (cancel_in_flight) {
        // Also submits what a failed submit (-EBUSY, -EINTR) left queued.
        const int submitted = io_uring_submit_and_wait(&ring, 1);
        if (submitted < 0 && submitted != -EINTR && submitted != -EAGAIN && submitted != -EBUSY) {
          std::fprintf(stderr, "fev::Loop: io_uring_submit: %s\n", std::strerror(-submitted));
          std::abort();
        }
      }
      bool cancel_unsupported = false;
      drain_completions([&](std::uint64_t data, std::int32_t res) {
        if (data != kCancelAll) return;
        cancel_in_flight = false;
        cancel_unsupported = res == -EINVAL;
        found_nothing = res <= 0;  // -ENOENT, or nothing cancelled
      });
      // A kernel before 5.19 has no IORING_ASYNC_CANCEL_ANY, and no futex waits either:
      // what is left (the doorbell's poll, fallback timers) takes no wake, and closing
      // the ring ends it.
      if (cancel_unsupported) return;
    }
  }

  void dispatch(std::uint64_t data, std::int32_t res) noexcept {
    if (data == kDoorbell) {
      answer_doorbell();
      return;
    }
    LoopOp& op = *reinterpret_cast<LoopOp*>(static_cast<std::uintptr_t>(data & ~kTagMask));
    // The wait's result itself decides nothing: the waiter re-reads its word. But a
    // futex wait the kernel refuses (an error other than "the word changed", "cancelled",
    // "timed out", "interrupted") would fail again at once on every re-arm: from now on
    // this loop polls instead (the documented fallback), which needs nothing of the kernel.
    if ((data & kTagMask) == kTagWait) {
      op.main_in_flight = false;
      if (res < 0 && res != -EAGAIN && res != -ECANCELED && res != -ETIME && res != -EINTR) {
        private_futex_ok = false;
        shared_futex_ok = false;
      }
    }
    if (--op.pending == 0) op.on_done(op);  // may resume a coroutine, which may free op
  }
};

}  // namespace detail

bool Loop::supported() noexcept {
  io_uring ring{};
  if (detail::setup_ring(2, ring) < 0) return false;
  detail::teardown_ring(ring);
  return true;
}

Loop::Loop(unsigned queue_depth) : state_(std::make_unique<detail::LoopState>()) {
  detail::LoopState& s = *state_;
  const bool fallback = forced_fallback.load(std::memory_order_relaxed) || fallback_from_environment();
  if (!fallback && detail::ensure_private_futex_hash()) {
    const UringFutexMode for_private = uring_futex_mode(false);
    const UringFutexMode for_shared = uring_futex_mode(true);
    s.private_futex_ok = for_private != UringFutexMode::unsupported;
    s.private_flag_for_private = for_private == UringFutexMode::private_futex;
    s.shared_futex_ok = for_shared != UringFutexMode::unsupported;
    s.private_flag_for_shared = for_shared == UringFutexMode::private_futex;
  }
  io_uring_params params{};
  params.flags = IORING_SETUP_CQSIZE | IORING_SETUP_CLAMP;
  params.cq_entries = std::max(kCompletionEntries, 2 * queue_depth);
  if (const int error = detail::setup_ring(std::max(queue_depth, 8u), s.ring, params); error < 0)
    throw std::system_error(-error, std::system_category(), "fev::Loop: io_uring_queue_init");
  if (s.private_futex_ok || s.shared_futex_ok) {
    // Linux 6.7 brought the futex wake op with the wait; a kernel that refused it would
    // fail every relayed wait (a failed link fails its head).
    constexpr int kOpFutexWake = 52;  // IORING_OP_FUTEX_WAKE
    io_uring_probe* ops = io_uring_get_probe_ring(&s.ring);
    s.relay_ok = ops != nullptr && io_uring_opcode_supported(ops, kOpFutexWake);
    if (ops != nullptr) io_uring_free_probe(ops);
  }
  s.doorbell = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (s.doorbell < 0) {
    const int error = errno;
    detail::teardown_ring(s.ring);
    throw std::system_error(error, std::system_category(), "fev::Loop: eventfd");
  }
  s.arm_doorbell();
}

Loop::~Loop() {
  detail::LoopState& s = *state_;
  // No request of this loop is left in the kernel after this: none can take a wake.
  s.cancel_everything();
  // Frames of tasks that never finished, and those never started. Their awaiters leave
  // the words they registered on, passing on a wake they took; a stop callback still
  // running on another thread is waited for (it may still ring the doorbell).
  const std::vector<void*> frames(s.live.begin(), s.live.end());
  s.live.clear();
  for (void* frame : frames) std::coroutine_handle<>::from_address(frame).destroy();
  {
    // Waits for a schedule(), stop() or stop callback of another thread still inside;
    // those that come later write nothing.
    const std::lock_guard<std::mutex> lock(s.doorbell_mutex);
    s.doorbell_closed = true;
  }
  close(s.doorbell);
  detail::teardown_ring(s.ring);
}

bool Loop::futex_waits() const noexcept { return state_->private_futex_ok; }

std::size_t Loop::live_tasks() const noexcept { return state_->live.size(); }

void Loop::stop() noexcept {
  detail::LoopState& s = *state_;
  // Inside the lock: the loop may see the request and return, and its owner destroy it,
  // as soon as the store is made; ~Loop takes the lock before it closes the eventfd.
  const std::lock_guard<std::mutex> lock(s.doorbell_mutex);
  // release: pairs with turn()'s exchange; nothing else is published.
  s.stop_asked.store(true, std::memory_order_release);
  s.ring_doorbell_locked();
}

void Loop::add_task(std::coroutine_handle<> frame) {
  state_->live.insert(frame.address());
  state_->starting.push_back(frame);
}

namespace {
// Marks the loop as turning for one turn; a second thread in the same loop is fatal.
class TurnGuard {
 public:
  explicit TurnGuard(std::atomic<bool>& turning) noexcept : turning_(turning) {
    // acquire: pairs with the release below of the thread that ran the previous turn.
    if (turning_.exchange(true, std::memory_order_acquire))
      fatal(
          "fev::Loop: run() or run_until() entered on a second thread while the loop was turning (a loop runs on "
          "one thread at a time, and not inside its own turn)\n");
  }
  // release: the next turn, on whatever thread, sees everything this one did.
  ~TurnGuard() { turning_.store(false, std::memory_order_release); }
  TurnGuard(const TurnGuard&) = delete;
  TurnGuard& operator=(const TurnGuard&) = delete;

 private:
  std::atomic<bool>& turning_;
};
}  // namespace

bool Loop::turn() {
  detail::LoopState& s = *state_;
  // acquire: pairs with stop()'s store.
  if (s.stop_asked.exchange(false, std::memory_order_acquire)) return false;
  const TurnGuard guard(s.turning);
  const detail::RunningLoop running(s);
  // Run what is ready now; what these queue waits for the next turn.
  std::vector<std::coroutine_handle<>> starting;
  starting.swap(s.starting);
  for (const auto frame : starting) frame.resume();
  const std::size_t yielded = s.yielded.size();
  for (std::size_t n = yielded; n > 0; --n) {
    detail::LoopOp* op = s.yielded.front();
    s.yielded.pop_front();
    op->on_done(*op);
  }
  const std::size_t resumed = s.run_ready();
  // Block only when this turn ran nothing: what ran may have made the caller's
  // run_until() condition true, or queued more work.
  const bool idle =
      starting.empty() && yielded == 0 && resumed == 0 && s.starting.empty() && s.yielded.empty() && s.ready.empty();
  const int submitted = idle ? io_uring_submit_and_wait(&s.ring, 1) : io_uring_submit(&s.ring);
  if (submitted < 0 && submitted != -EINTR && submitted != -EAGAIN && submitted != -EBUSY) {
    std::fprintf(stderr, "fev::Loop: io_uring_submit: %s\n", std::strerror(-submitted));
    std::abort();
  }
  s.reap();
  return true;
}

namespace detail {

void LoopAccess::queue_wait(Loop& loop, LoopOp& op, const std::atomic<std::uint32_t>& word, std::uint32_t expected,
                            WordKind kind, Deadline deadline, bool relay_to_threads) noexcept {
  LoopState& s = *loop.state_;
  op.cancel_sent = false;
  op.main_in_flight = true;
  if (!s.futex_ok(kind)) {
    s.queue_poll(op, deadline);
    return;
  }
  if (relay_to_threads && s.relay_ok) {
    // Linked: when a wake completes the wait (res 0), the kernel wakes one thread on the
    // word at once; any other end of the wait cancels the relay (-ECANCELED). Either
    // way one completion each.
    io_uring_sqe* entry = s.wait_sqe(true);
    detail::prep_futex_wait(entry, word, expected, s.private_flag(kind), user_data(op, kTagWait),
                            kCoroutineRingWaitBit);
    entry->flags |= IOSQE_IO_LINK;
    io_uring_sqe* relay = s.sqe();
    detail::prep_futex_wake(relay, word, 1, s.private_flag(kind), kThreadBits, user_data(op, kTagRelay));
    op.pending = 2;
    return;
  }
  io_uring_sqe* entry = s.wait_sqe(deadline != Deadline::max());
  detail::prep_futex_wait(entry, word, expected, s.private_flag(kind), user_data(op, kTagWait));
  s.link_timer(entry, op, deadline);
}

void LoopAccess::queue_waitv(Loop& loop, LoopOp& op, FutexWaitvEntry* entries, const WordKind* kinds,
                             std::size_t count, Deadline deadline) noexcept {
  LoopState& s = *loop.state_;
  op.cancel_sent = false;
  op.main_in_flight = true;
  bool futex = true;
  for (std::size_t i = 0; i < count; ++i) {
    futex = futex && s.futex_ok(kinds[i]);
    entries[i].flags = detail::futex_waitv_flags(s.private_flag(kinds[i]));
    entries[i].reserved = 0;
  }
  if (!futex) {
    s.queue_poll(op, deadline);
    return;
  }
  io_uring_sqe* entry = s.wait_sqe(deadline != Deadline::max());
  detail::prep_futex_waitv(entry, entries, static_cast<unsigned>(count), user_data(op, kTagWait));
  s.link_timer(entry, op, deadline);
}

void LoopAccess::queue_yield(Loop& loop, LoopOp& op) noexcept { loop.state_->yielded.push_back(&op); }

void LoopAccess::queue_pause(Loop& loop, LoopOp& op) noexcept {
  LoopState& s = *loop.state_;
  set_when(op, std::chrono::steady_clock::now() + kFallbackPoll);
  io_uring_sqe* entry = s.sqe();
  io_uring_prep_timeout(entry, timespec_of(op), 0, IORING_TIMEOUT_ABS);
  io_uring_sqe_set_data64(entry, user_data(op, kTagWait));
  op.cancel_sent = false;
  op.main_in_flight = true;
  op.pending = 1;
}

void LoopAccess::request_cancel(Loop& loop, LoopOp& op) noexcept {
  LoopState& s = *loop.state_;
  const std::lock_guard<std::mutex> lock(s.doorbell_mutex);
  s.posted_cancels.push_back(&op);
  s.ring_doorbell_locked();
}

void LoopAccess::forget(Loop& loop, LoopOp& op) noexcept {
  LoopState& s = *loop.state_;
  const std::lock_guard<std::mutex> lock(s.doorbell_mutex);
  s.posted_cancels.erase(std::remove(s.posted_cancels.begin(), s.posted_cancels.end(), &op), s.posted_cancels.end());
}

void LoopAccess::task_finished(Loop& loop, void* frame) noexcept { loop.state_->live.erase(frame); }

void spawned_task_threw(const std::exception_ptr& exception) noexcept {
  try {
    std::rethrow_exception(exception);
  } catch (const std::exception& error) {
    std::fprintf(stderr, "fev::Loop: a spawned task ended with an exception: %s\n", error.what());
    std::terminate();  // inside the handler: std::current_exception() is this exception
  } catch (...) {
    std::fputs("fev::Loop: a spawned task ended with an exception that is no std::exception\n", stderr);
    std::terminate();
  }
}

}  // namespace detail

void LoopExecutor::schedule(std::coroutine_handle<> coroutine) const noexcept {
  detail::LoopState& s = *loop_->state_;
  if (detail::running_loop == &s) {
    s.ready.push_back(coroutine);
  } else {
    s.schedule_remote(coroutine);
  }
}
}  // namespace fev
