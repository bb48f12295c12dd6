// SPDX-License-Identifier: MIT
// fev::UringEventWaiter: IORING_OP_FUTEX_WAIT on an Event's word, and the one-time
// probe of which futex flags the running kernel wakes (see fev/uring.hpp).
//
// liburing 2.3 predates the futex opcodes (Linux 6.7), so the SQE is filled by hand,
// as the kernel's io_futex_prep() reads it:
//   opcode  IORING_OP_FUTEX_WAIT (51)
//   fd      futex2 flags: FUTEX2_SIZE_U32 (2), | FUTEX2_PRIVATE (128) for private words
//   addr    the futex word's address
//   off     (addr2) the value the word must hold for the request to sleep
//   addr3   the wait's bitset: every bit (FUTEX_BITSET_MATCH_ANY), so any FUTEX_WAKE
//           wakes it; fev::Loop's ring waits carry one bit only (src/loop_linux.cpp)
//   len, rw_flags (futex_flags), buf_index, file_index: must be 0
//
// Linux 6.16+ and io_uring futex waits on private words. Since 6.16 each process gets
// its own hash table for private futexes, allocated when it creates its second thread;
// until then its private futexes live in the global table. A thread sleeping in futex(2)
// cannot be caught by that switch (in a single-threaded process nobody else sleeps), but
// an io_uring request can: armed while the process is single-threaded, it stays in the
// global table, and after the first pthread_create set()'s private wake looks only in
// the new private table and never completes it (seen on 6.18: arm, spawn a thread, set
// -> no CQE, for ever; resizing an existing private table does move such requests).
// So before the first private arm in a process (and again in a forked child, which
// starts without a private table), ensure_private_futex_hash() makes the kernel
// allocate the table: when PR_FUTEX_HASH_GET_SLOTS says 0, it creates and joins one
// empty thread. (prctl(PR_FUTEX_HASH_SET_SLOTS) would allocate it too, but with a size
// of our choosing instead of the kernel's default.) The probe arms, creates a thread,
// then wakes, so a kernel where this still strands requests is found `unsupported`.
#include <liburing.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <thread>

#include "fev/event_access.hpp"
#include "fev/uring.hpp"
#include "uring_futex.hpp"
#include "uring_rings.hpp"

namespace fev {
namespace {

constexpr std::uint8_t kOpFutexWait = 51;          // IORING_OP_FUTEX_WAIT
constexpr std::uint32_t kFutex2SizeU32 = 0x02;     // FUTEX2_SIZE_U32
constexpr std::uint32_t kFutex2Private = 0x80;     // FUTEX2_PRIVATE (== FUTEX_PRIVATE_FLAG)
constexpr auto kProbePatience = std::chrono::milliseconds(250);

constexpr int kPrFutexHash = 78;         // PR_FUTEX_HASH (Linux 6.16)
constexpr int kPrFutexHashGetSlots = 2;  // PR_FUTEX_HASH_GET_SLOTS

// relaxed for all: switches and cached answers; they publish no other data.
std::atomic<bool> forced_unsupported{false};
enum : int { kUnknown = -1 };
std::atomic<int> probed_mode[2] = {kUnknown, kUnknown};  // [shared_wake]
std::atomic<bool> private_hash_ready{false};

// See the file comment. True when a private io_uring futex wait armed from now on is
// found by set()'s private wake whatever threads the process creates later.
}  // namespace

namespace detail {

bool ensure_private_futex_hash() noexcept {
  if (private_hash_ready.load(std::memory_order_relaxed)) return true;
  // A forked child starts without a private table: it must check again.
  static const bool reset_in_child = pthread_atfork(nullptr, nullptr, [] {
    private_hash_ready.store(false, std::memory_order_relaxed);
  }) == 0;
  // > 0: the table exists. -1 (EINVAL): a kernel before 6.16, with no private tables.
  if (prctl(kPrFutexHash, kPrFutexHashGetSlots, 0, 0, 0) == 0) {
    try {
      std::thread([] {}).join();  // the kernel allocates its default table now
    } catch (...) {
      return false;  // no thread: cannot make arming safe
    }
  }
  // Without the fork handler a child would skip the check: do it on every call then.
  if (reset_in_child) private_hash_ready.store(true, std::memory_order_relaxed);
  return true;
}

void prep_futex_wait(io_uring_sqe* sqe, const std::atomic<std::uint32_t>& word, std::uint32_t expected,
                     bool private_futex, std::uint64_t user_data, std::uint32_t bits) noexcept {
  std::memset(sqe, 0, sizeof *sqe);
  sqe->opcode = kOpFutexWait;
  sqe->fd = static_cast<std::int32_t>(kFutex2SizeU32 | (private_futex ? kFutex2Private : 0u));
  // The address of the 32-bit value itself: std::atomic<uint32_t> is a standard-layout
  // wrapper around exactly that value.
  sqe->addr = reinterpret_cast<std::uintptr_t>(&word);
  sqe->off = expected;
  sqe->addr3 = bits;
  io_uring_sqe_set_data64(sqe, user_data);
}

}  // namespace detail

namespace {

using detail::ensure_private_futex_hash;
using detail::prep_futex_wait;

// Waits at most `patience` for a CQE with `user_data`; returns its result through `res`.
// Other CQEs (the probe ring has only its own) are consumed.
bool reap(io_uring& ring, std::uint64_t user_data, std::chrono::nanoseconds patience, int& res) noexcept {
  const auto deadline = std::chrono::steady_clock::now() + patience;
  for (;;) {
    const auto left = deadline - std::chrono::steady_clock::now();
    if (left <= std::chrono::nanoseconds::zero()) return false;
    __kernel_timespec timeout{};
    timeout.tv_sec = std::chrono::duration_cast<std::chrono::seconds>(left).count();
    timeout.tv_nsec = (left % std::chrono::seconds(1)).count();
    io_uring_cqe* cqe = nullptr;
    if (io_uring_wait_cqe_timeout(&ring, &cqe, &timeout) != 0 || cqe == nullptr) continue;
    const bool mine = cqe->user_data == user_data;
    const int result = cqe->res;
    io_uring_cqe_seen(&ring, cqe);
    if (mine) {
      res = result;
      return true;
    }
  }
}

// What one candidate showed: the wake completed the request, it did not, or the probe
// could not find out (no SQE, a failed submit: nothing learned about the kernel).
enum class Candidate { woken, not_woken, failed };

// One candidate: arm with `private_arm` flags on a scratch word, wake it the way the
// events' set() does (`shared_wake`), and see whether the request completes.
Candidate woken_by_set(io_uring& ring, bool private_arm, bool shared_wake) noexcept {
  // Static: the word stays valid even if a request on it were never cancelled. The
  // value never changes, so only a wake can complete the request.
  static std::atomic<std::uint32_t> scratch{0};
  constexpr std::uint64_t kWaitTag = 1, kCancelTag = 2;
  io_uring_sqe* sqe = io_uring_get_sqe(&ring);
  if (sqe == nullptr) return Candidate::failed;
  prep_futex_wait(sqe, scratch, 0, private_arm, kWaitTag);
  if (io_uring_submit(&ring) != 1) return Candidate::failed;
  // The first thread of a process moves its private futexes to a new table on 6.16+
  // (see the file comment): a request that does not survive that is of no use.
  try {
    std::thread([] {}).join();
  } catch (...) {
  }
  int res = 0;
  // Retry the wake until the request has surely been armed (it normally is when
  // io_uring_submit returns) or patience runs out.
  const auto give_up = std::chrono::steady_clock::now() + kProbePatience;
  bool done = false;
  while (!done && std::chrono::steady_clock::now() < give_up) {
    (void)syscall(SYS_futex, &scratch, FUTEX_WAKE | (shared_wake ? 0 : FUTEX_PRIVATE_FLAG), INT_MAX, nullptr,
                  nullptr, 0);
    done = reap(ring, kWaitTag, std::chrono::milliseconds(10), res);
  }
  if (done) return res == 0 ? Candidate::woken : Candidate::not_woken;
  // Never woken: cancel it and reap both CQEs, so nothing on the scratch word lingers.
  if ((sqe = io_uring_get_sqe(&ring)) != nullptr) {
    io_uring_prep_cancel64(sqe, kWaitTag, 0);
    io_uring_sqe_set_data64(sqe, kCancelTag);
    if (io_uring_submit(&ring) == 1) {
      (void)reap(ring, kWaitTag, std::chrono::seconds(1), res);
    }
  }
  return Candidate::not_woken;
}

// What a probe found, and whether that is the kernel's answer (kept for the process) or
// a failure to ask (no descriptor, no memory, no thread: asked again next time).
struct Probed {
  UringFutexMode mode;
  bool lasting;
};

Probed probe(bool shared_wake) noexcept {
  // A private table created while the probe's request is armed would strand it.
  if (!ensure_private_futex_hash()) return {UringFutexMode::unsupported, false};
  io_uring ring{};
  if (const int error = detail::setup_ring(4, ring); error < 0) {
    // ENOSYS (no io_uring) and EPERM (sysctl, seccomp) are this system's answer;
    // EMFILE, ENFILE, ENOMEM and the like are this moment's.
    return {UringFutexMode::unsupported, error == -ENOSYS || error == -EPERM};
  }
  Probed found{UringFutexMode::unsupported, true};
  io_uring_probe* ops = io_uring_get_probe_ring(&ring);
  const bool has_op = ops == nullptr || io_uring_opcode_supported(ops, kOpFutexWait);
  if (ops != nullptr) io_uring_free_probe(ops);
  if (has_op) {
    // The flag that matches the wake first; the other in case the kernel disagrees.
    const bool first_private = !shared_wake;
    const Candidate first = woken_by_set(ring, first_private, shared_wake);
    const Candidate other = first == Candidate::woken ? Candidate::failed : woken_by_set(ring, !first_private, shared_wake);
    if (first == Candidate::woken) {
      found.mode = first_private ? UringFutexMode::private_futex : UringFutexMode::shared_futex;
    } else if (other == Candidate::woken) {
      found.mode = first_private ? UringFutexMode::shared_futex : UringFutexMode::private_futex;
    } else {
      found.lasting = first != Candidate::failed && other != Candidate::failed;
    }
  }
  detail::teardown_ring(ring);  // cancels whatever is still in flight
  return found;
}

}  // namespace

UringFutexMode uring_futex_mode(bool shared_wake) noexcept {
  std::atomic<int>& cached = probed_mode[shared_wake ? 1 : 0];
  int mode = cached.load(std::memory_order_relaxed);
  if (mode != kUnknown) return static_cast<UringFutexMode>(mode);
  // One probe at a time: every probe arms and wakes the same scratch word, so a probe
  // running beside another could be completed by the other's wake and conclude that
  // flags work which do not.
  static std::mutex probing;
  const std::lock_guard<std::mutex> held(probing);
  mode = cached.load(std::memory_order_relaxed);  // relaxed: the mutex orders it
  if (mode == kUnknown) {
    const Probed found = probe(shared_wake);
    mode = static_cast<int>(found.mode);
    // A failure to ask is not remembered: the next call (the next Loop) asks again.
    if (found.lasting) cached.store(mode, std::memory_order_relaxed);
  }
  return static_cast<UringFutexMode>(mode);
}

namespace detail {

void force_uring_unsupported(bool on) noexcept { forced_unsupported.store(on, std::memory_order_relaxed); }

UringArm uring_arm(io_uring* ring, UringRequest& request, std::atomic<std::uint32_t>& word, bool shared_wake,
                   std::uint64_t user_data, bool submit) noexcept {
  if (request.in_flight) return UringArm::busy;
  if (forced_unsupported.load(std::memory_order_relaxed)) return UringArm::unsupported;
  const UringFutexMode mode = uring_futex_mode(shared_wake);
  if (mode == UringFutexMode::unsupported) return UringArm::unsupported;
  const bool private_futex = mode == UringFutexMode::private_futex;
  if (private_futex && !ensure_private_futex_hash()) return UringArm::unsupported;
  // Take the SQE first: a full queue must not leave a parked bit for nothing.
  io_uring_sqe* sqe = io_uring_get_sqe(ring);
  if (sqe == nullptr) return UringArm::sq_full;
  // acquire: pairs with set()'s release (an event set now completes through the NOP).
  const std::uint32_t entry = word.load(std::memory_order_acquire);
  std::uint32_t seen = entry;
  const bool parked = EventAccess::announce_parked(word, entry, seen);
  if (parked) {
    // The next set() sees the parked bit and wakes the word; a set() before the kernel
    // arms the request changes the word, and the request completes with -EAGAIN.
    prep_futex_wait(sqe, word, seen, private_futex, user_data);
  } else {
    // Set already: complete at once, with the same single CQE.
    io_uring_prep_nop(sqe);
    io_uring_sqe_set_data64(sqe, user_data);
  }
  request = UringRequest{&word, user_data, entry, private_futex, !parked, true, false};
  // A failed submit leaves the SQE queued for the caller's next one (see UringArm).
  if (submit) (void)io_uring_submit(ring);
  return UringArm::armed;
}

UringWake uring_complete(io_uring* ring, UringRequest& request, std::int32_t res) noexcept {
  if (!request.in_flight) return UringWake::ended;
  request.in_flight = false;
  // 0: a futex wake (or the NOP); -EAGAIN: the word was not the armed value when the
  // kernel armed the request. Neither says who changed or woke the word. Anything else
  // (-ECANCELED after cancel(), an error) ends the wait.
  if (res != 0 && res != -EAGAIN) return UringWake::ended;
  if (request.released_at_arm) return UringWake::fired;
  // acquire: pairs with set()'s release, directly or through the RMWs that follow it
  // (clear(), a parking CAS), so a `fired` answer orders what the setter wrote before.
  std::uint32_t seen = request.word->load(std::memory_order_acquire);
  if (EventAccess::released(request.entry, seen)) return UringWake::fired;
  // A stale wake: a set() counted by an earlier arm() waking late, or a word change that
  // is no set(). A cancel() sent while this CQE was queued found nothing to cancel: honour
  // it here. Otherwise wait again on the same `entry`, so a set() since arm() is still seen.
  if (request.cancelled) return UringWake::ended;
  if (!EventAccess::announce_parked(*request.word, request.entry, seen)) return UringWake::fired;
  // Announced before taking the SQE: without one, the parked bit only costs the next
  // set() an empty wake, while a taken SQE could not be handed back.
  io_uring_sqe* sqe = io_uring_get_sqe(ring);
  if (sqe == nullptr) return UringWake::ended;
  prep_futex_wait(sqe, *request.word, seen, request.private_futex, request.user_data);
  request.in_flight = true;
  (void)io_uring_submit(ring);  // as arm(): a failed submit leaves the SQE for the next one
  return UringWake::rearmed;
}

}  // namespace detail

UringArm UringEventWaiter::cancel(std::uint64_t user_data, std::uint64_t cancel_user_data) noexcept {
  io_uring_sqe* sqe = io_uring_get_sqe(ring_);
  if (sqe == nullptr) return UringArm::sq_full;
  io_uring_prep_cancel64(sqe, user_data, 0);
  io_uring_sqe_set_data64(sqe, cancel_user_data);
  if (request_.in_flight && request_.user_data == user_data) request_.cancelled = true;
  (void)io_uring_submit(ring_);
  return UringArm::armed;
}

}  // namespace fev
