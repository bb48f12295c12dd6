// fev/uring.hpp — wait for an fev Event inside an io_uring event loop, as one more
// completion next to socket and file I/O, without a helper thread (Linux, liburing).
//
//   fev::UringEventWaiter waiter(ring);
//   if (waiter.arm(event, kEventTag) == fev::UringArm::unsupported) { /* use a thread */ }
//   io_uring_prep_read(io_uring_get_sqe(&ring), fd, buf, n, 0); ... io_uring_submit(&ring);
//   for (;;) {
//     io_uring_wait_cqe(&ring, &cqe);
//     if (cqe->user_data == kEventTag) {
//       if (fev::UringEventWaiter::fired(cqe->res)) { handle(event.is_set()); }
//       waiter.arm(event, kEventTag);          // one CQE per arm: re-arm to keep waiting
//     }
//     io_uring_cqe_seen(&ring, cqe);
//   }
//
// How: arm() does what Event::wait does before it sleeps — it sets the word's "parked"
// bit (so the next set() calls futex wake on the word, see fev/event_access.hpp) — and
// queues an IORING_OP_FUTEX_WAIT (Linux 6.7+) on the word's exact value. The kernel
// compares the word when it arms the request: if a set() came in between, the request
// completes at once with -EAGAIN; otherwise set()'s futex wake completes it with 0. No
// lost wakeup either way. An event that is already set gets an IORING_OP_NOP instead,
// so every successful arm() yields exactly one CQE with its user_data.
//
// Which futex flags: the io_uring request must be armed with the same futex "private"
// flag as the wake that set() makes (FUTEX2_PRIVATE for fev::Event, whose set() wakes
// with FUTEX_PRIVATE_FLAG; none for fev::SharedEvent). The first arm() probes that once
// per process on a scratch ring: it arms a wait on a scratch word, creates and joins a
// thread (see below), wakes the word exactly as set() would, and sees whether the CQE
// arrives within 250 ms; it tries the other flag if not, and then gives up.
// uring_futex_mode() tells what it found. When nothing works (a kernel before 6.7,
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
// Rules for the caller:
//  - call arm()/prepare()/cancel() from the thread that submits to the ring, as for any
//    SQE; set()/clear() may come from any thread (or, for SharedEvent, any process).
//  - a CQE with fired(res) true means the event counted as set since arm() (it was set
//    then, or a set() happened, even if clear() already followed: Python's rule, as for
//    Event::wait). Call event.is_set() (acquire) before reading what the setter
//    published. fired(res) false: -ECANCELED after cancel(), or an error.
//  - each CQE ends its arm(): arm again to keep waiting.
//  - the event must outlive its armed request: cancel() and reap the CQE (or tear the
//    ring down) before destroying the event.
#pragma once

#include "fev/cxx20.hpp"  // first: below C++20, one clear error instead of many

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <type_traits>

#include "fev/event.hpp"
#include "fev/event_access.hpp"
#include "fev/wait.hpp"

struct io_uring;  // liburing

namespace fev {

enum class UringArm {
  armed,        // an SQE is queued (arm(): and submitted); exactly one CQE will carry its user_data.
                // If io_uring_submit failed (say -EBUSY), the SQE stays queued for the next submit.
  sq_full,      // no free SQE: submit or reap, then try again. Nothing queued.
  unsupported,  // this kernel/backend cannot complete a ring request on a set(). Nothing queued.
};

enum class UringFutexMode {
  private_futex,  // IORING_OP_FUTEX_WAIT with FUTEX2_PRIVATE
  shared_futex,   // IORING_OP_FUTEX_WAIT without FUTEX2_PRIVATE
  unsupported,    // no io_uring, no IORING_OP_FUTEX_WAIT, or no flag combination was woken
};

// What the one-time probe found for events whose set() wakes private futexes
// (`shared_wake` false: fev::Event) or shared ones (true: fev::SharedEvent).
UringFutexMode uring_futex_mode(bool shared_wake) noexcept;

namespace detail {
// src/uring_linux.cpp: the non-template part of UringEventWaiter::prepare/arm.
UringArm uring_arm(io_uring* ring, std::atomic<std::uint32_t>& word, bool shared_wake, std::uint64_t user_data,
                   bool submit) noexcept;
// For tests: true makes arm() answer `unsupported`, as on a kernel without the futex op.
void force_uring_unsupported(bool on) noexcept;
}  // namespace detail

class UringEventWaiter {
 public:
  explicit UringEventWaiter(io_uring& ring) noexcept : ring_(&ring) {}

  // Queues a request that completes when `event` counts as set, and submits it.
  template <class Wait>
  UringArm arm(BasicEvent<Wait>& event, std::uint64_t user_data) noexcept {
    return arm_on(event, user_data, true);
  }

  // As arm(), but leaves the SQE for the caller's next io_uring_submit*() (one system
  // call fewer). Correct however late that submit comes: the kernel compares the word
  // when it arms the request.
  template <class Wait>
  UringArm prepare(BasicEvent<Wait>& event, std::uint64_t user_data) noexcept {
    return arm_on(event, user_data, false);
  }

  // Queues and submits IORING_OP_ASYNC_CANCEL for the request armed with `user_data`.
  // That request then completes with -ECANCELED, unless it completed already; the cancel
  // has a CQE of its own, with `cancel_user_data`.
  UringArm cancel(std::uint64_t user_data, std::uint64_t cancel_user_data) noexcept;

  // Whether an armed request's CQE result means the event counted as set: 0 (woken by
  // set(), or the NOP of an event set at arm time) or -EAGAIN (a set() changed the word
  // before the kernel armed the request).
  static constexpr bool fired(std::int32_t res) noexcept { return res == 0 || res == -EAGAIN; }

 private:
  template <class Wait>
  UringArm arm_on(BasicEvent<Wait>& event, std::uint64_t user_data, bool submit) noexcept {
    if constexpr (std::is_same_v<Wait, backend::Futex> || std::is_same_v<Wait, backend::FutexShared>) {
      return detail::uring_arm(ring_, detail::EventAccess::word(event), std::is_same_v<Wait, backend::FutexShared>,
                               user_data, submit);
    } else {
      // Other backends do not wake through futex(2): nothing the ring can wait on.
      (void)event;
      (void)user_data;
      (void)submit;
      return UringArm::unsupported;
    }
  }

  io_uring* ring_;
};

}  // namespace fev
