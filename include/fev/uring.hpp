// SPDX-License-Identifier: MIT
// fev/uring.hpp — wait for an fev Event inside an io_uring event loop, as one more
// completion next to socket and file I/O, without a helper thread (Linux, liburing).
//
//   fev::UringEventWaiter waiter(ring);        // one waiter per event being waited on
//   if (waiter.arm(event, kEventTag) == fev::UringArm::unsupported) { /* use a thread */ }
//   io_uring_prep_read(io_uring_get_sqe(&ring), fd, buf, n, 0); ... io_uring_submit(&ring);
//   for (;;) {
//     io_uring_wait_cqe(&ring, &cqe);
//     if (cqe->user_data == kEventTag) {
//       switch (waiter.complete(cqe->res)) {   // every CQE of the waiter goes through here
//         case fev::UringWake::fired: handle(); waiter.arm(event, kEventTag); break;
//         case fev::UringWake::rearmed: break;  // no set() since arm(): still waiting
//         case fev::UringWake::ended: /* cancelled or an error: arm() to wait again */ break;
//       }
//     }
//     io_uring_cqe_seen(&ring, cqe);
//   }
//
// How: arm() does what Event::wait does before it sleeps — it reads the word (its
// `entry` value), sets the word's "parked" bit (so the next set() calls futex wake on
// the word, see fev/event_access.hpp) — and queues an IORING_OP_FUTEX_WAIT (Linux 6.7+)
// on the word's exact value. The kernel compares the word when it arms the request: if
// a set() came in between, the request completes at once with -EAGAIN; otherwise a
// futex wake on the word completes it with 0. No lost wakeup either way. An event that
// is already set gets an IORING_OP_NOP instead, so every successful arm() yields exactly
// one CQE with its user_data.
//
// Why complete() and not just the CQE's result: neither 0 nor -EAGAIN proves that a
// set() happened since arm(). A set() changes the word with its CAS and only then makes
// its futex wake. While a setter is preempted in between, a first request can complete
// with -EAGAIN (fired: the CAS happened), the loop clear() and arm a second one, and
// then the setter's late wake completes that second request with 0, although nothing
// set the event since it was armed. The same goes for a late wake on the address of a
// destroyed event whose memory now holds this one, and for a change of the word that
// is no set(). So complete() re-reads the word (acquire) and applies Event::wait's
// "released" rule (fev/event_access.hpp) to the `entry` value arm() kept: released
// means `fired`. Otherwise the wake was stale: complete() queues and submits the wait
// again, with the same user_data and the same `entry`, and says `rearmed`. A set()
// between the stale wake and that re-arm is not missed: the re-arm finds the waiter
// released and says `fired` at once.
//
// Which futex flags: the io_uring request must be armed with the same futex "private"
// flag as the wake that set() makes (FUTEX2_PRIVATE for fev::Event, whose set() wakes
// with FUTEX_PRIVATE_FLAG; none for fev::SharedEvent). The first arm() probes that once
// per process on a scratch ring: it arms a wait on a scratch word, creates and joins a
// thread (see below), wakes the word exactly as set() would, and sees whether the CQE
// arrives within 250 ms; it tries the other flag if not, and then gives up.
// uring_futex_mode() tells what it found. That answer is kept; a probe that failed for
// want of a resource (EMFILE, ENOMEM, no thread) is not, and runs again next time. When nothing works (a kernel before 6.7,
// io_uring disabled by sysctl or seccomp, a backend other than Futex/FutexShared) arm()
// returns `unsupported` and queues nothing: it never hangs, and the caller waits in a
// thread instead (examples/uring_pipe_and_event.cpp shows both).
//
// Linux 6.16+ keeps a process's private futexes in a table of its own, created when the
// process creates its second thread. A private request armed before that moment is
// never completed by a wake after it (the wake looks in the new table). So before the
// first private arm in a process, and in a forked child, arm() makes sure the table
// exists: if prctl(PR_FUTEX_HASH_GET_SLOTS) says there is none yet, it creates and joins
// one empty thread, once. Shared words (SharedEvent) are not affected.
//
// Rules for the caller and the memory ordering: see UringEventWaiter below.
#pragma once

#include "fev/cxx20.hpp"  // first: below C++20, one clear error instead of many

#include <atomic>
#include <cstdint>
#include <type_traits>

#include "fev/event.hpp"
#include "fev/event_access.hpp"
#include "fev/wait.hpp"

struct io_uring;  // liburing

namespace fev {

/// What arm(), prepare() and cancel() of a UringEventWaiter did.
enum class UringArm {
  armed,        ///< an SQE is queued (arm(): and submitted); exactly one CQE will carry its user_data.
                ///< If io_uring_submit failed (say -EBUSY), the SQE stays queued for the next submit.
  sq_full,      ///< no free SQE: submit or reap, then try again. Nothing queued.
  unsupported,  ///< this kernel/backend cannot complete a ring request on a set(). Nothing queued.
  busy,         ///< this waiter's request is still in flight (its CQE has not been passed to
                ///< complete()). Nothing queued.
};

/// What complete() made of the CQE of a waiter's request.
enum class UringWake {
  fired,    ///< The event counted as set since arm(): it was set then, or a set() happened
            ///< since, even if clear() already followed (Python's rule, as Event::wait).
            ///< Nothing is armed now: arm() again to keep waiting.
  rearmed,  ///< No set() since arm() (a late wake of an earlier set(), or a word change
            ///< that is no set()): complete() queued and submitted the same wait again,
            ///< with the same user_data. Still waiting: expect one more CQE.
  ended,    ///< The request ended without the event counting as set: -ECANCELED after
            ///< cancel(), another error, a stale wake after cancel(), or no free SQE for
            ///< the re-arm (res 0 or -EAGAIN then); also any call with no request in
            ///< flight. Nothing is armed: arm() again to keep waiting.
};

/// How this process's io_uring waits on an event's futex word (see uring_futex_mode()).
enum class UringFutexMode {
  private_futex,  ///< IORING_OP_FUTEX_WAIT with FUTEX2_PRIVATE
  shared_futex,   ///< IORING_OP_FUTEX_WAIT without FUTEX2_PRIVATE
  unsupported,    ///< no io_uring, no IORING_OP_FUTEX_WAIT, or no flag combination was woken
};

/// What the one-time probe found for events whose set() wakes private futexes
/// (`shared_wake` false: fev::Event) or shared ones (true: fev::SharedEvent). The
/// kernel's answer is kept for the process; a probe that could not ask (no descriptor
/// or memory for its scratch ring, no thread, a failed submit) answers `unsupported`
/// this time only, and the next call (the next fev::Loop, the next arm()) probes again.
UringFutexMode uring_futex_mode(bool shared_wake) noexcept;

namespace detail {
// What a waiter keeps about its request between arm() and complete().
struct UringRequest {
  std::atomic<std::uint32_t>* word = nullptr;  // the armed event's word
  std::uint64_t user_data = 0;
  std::uint32_t entry = 0;       // the word as arm() first read it: the waiter's generation
  bool private_futex = false;    // armed with FUTEX2_PRIVATE (see uring_futex_mode)
  bool released_at_arm = false;  // the event counted as set at arm(): an IORING_OP_NOP is queued
  bool in_flight = false;        // queued, and its CQE not yet passed to complete()
  bool cancelled = false;        // cancel() was called for it: complete() does not re-arm
};

// src/uring_linux.cpp: the non-template parts of UringEventWaiter.
UringArm uring_arm(io_uring* ring, UringRequest& request, std::atomic<std::uint32_t>& word, bool shared_wake,
                   std::uint64_t user_data, bool submit) noexcept;
UringWake uring_complete(io_uring* ring, UringRequest& request, std::int32_t res) noexcept;
// For tests: true makes arm() answer `unsupported`, as on a kernel without the futex op.
void force_uring_unsupported(bool on) noexcept;
}  // namespace detail

/// Waits for an fev Event inside an io_uring event loop, as one more completion next to
/// socket and file I/O, without a helper thread (Linux 6.7+, IORING_OP_FUTEX_WAIT).
/// Usage, and how it avoids lost and stale wakeups: the comment at the top of
/// fev/uring.hpp.
///
/// Rules for the caller:
///  - one request per waiter: arm() again only after complete() said `fired` or `ended`
///    (arm() answers `busy` otherwise). Use one waiter per event waited on at once.
///  - pass the result of every CQE that carries the armed user_data to complete(), and
///    only those. Keep the waiter until then (or until the ring is torn down).
///  - call arm()/prepare()/cancel()/complete() from the thread that submits to the ring,
///    as for any SQE; set()/clear() may come from any thread (or, for SharedEvent, any
///    process).
///  - the event must outlive its armed request: cancel() and reap the CQE (or tear the
///    ring down) before destroying the event.
///
/// Memory ordering: everything a thread did before the set() that a `fired` answer
/// counts happens-before complete() returns `fired` (complete() and arm() read the word
/// with acquire), as for Event::wait.
class UringEventWaiter {
 public:
  /// A waiter that queues its requests on `ring`, which must outlive it.
  explicit UringEventWaiter(io_uring& ring) noexcept : ring_(&ring) {}
  // It remembers its request: a copy would answer for a request it does not own.
  UringEventWaiter(const UringEventWaiter&) = delete;
  UringEventWaiter& operator=(const UringEventWaiter&) = delete;

  /// Queues a request that completes when `event` counts as set, and submits it.
  /// `armed` on success: exactly one CQE will carry `user_data`; pass its result to
  /// complete().
  template <class Wait>
  [[nodiscard]] UringArm arm(BasicEvent<Wait>& event, std::uint64_t user_data) noexcept {
    return arm_on(event, user_data, true);
  }

  /// As arm(), but leaves the SQE for the caller's next io_uring_submit*() (one system
  /// call fewer). Correct however late that submit comes: the kernel compares the word
  /// when it arms the request.
  template <class Wait>
  [[nodiscard]] UringArm prepare(BasicEvent<Wait>& event, std::uint64_t user_data) noexcept {
    return arm_on(event, user_data, false);
  }

  /// Queues and submits IORING_OP_ASYNC_CANCEL for the request armed with `user_data`.
  /// That request then completes with -ECANCELED, unless it completed already; the cancel
  /// has a CQE of its own, with `cancel_user_data`. When it is this waiter's request,
  /// complete() re-arms it no more: a stale wake whose CQE was already queued when the
  /// cancel went out ends it (`ended`) instead of outliving the cancel.
  [[nodiscard]] UringArm cancel(std::uint64_t user_data, std::uint64_t cancel_user_data) noexcept;

  /// Takes the result of the CQE of this waiter's request and says what it means; see
  /// UringWake. On a stale wake it re-arms (one more SQE, submitted) and says `rearmed`.
  [[nodiscard]] UringWake complete(std::int32_t res) noexcept { return detail::uring_complete(ring_, request_, res); }

  /// Whether a request is in flight: armed, and its CQE not yet passed to complete().
  [[nodiscard]] bool in_flight() const noexcept { return request_.in_flight; }

 private:
  template <class Wait>
  UringArm arm_on(BasicEvent<Wait>& event, std::uint64_t user_data, bool submit) noexcept {
    if constexpr (std::is_same_v<Wait, backend::Futex> || std::is_same_v<Wait, backend::FutexShared>) {
      return detail::uring_arm(ring_, request_, detail::EventAccess::word(event),
                               std::is_same_v<Wait, backend::FutexShared>, user_data, submit);
    } else {
      // Other backends do not wake through futex(2): nothing the ring can wait on.
      (void)event;
      (void)user_data;
      (void)submit;
      return UringArm::unsupported;
    }
  }

  io_uring* ring_;
  detail::UringRequest request_;
};

}  // namespace fev
