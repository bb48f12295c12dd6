// SPDX-License-Identifier: MIT
// Boost.Atomic backend (Boost >= 1.78 for wait/notify; built against 1.81).
//
// Untimed waits use boost::atomic_ref<uint32_t>::wait. Boost 1.81 has no timed wait
// (wait_until/wait_for arrived in 1.89), so a wait with a deadline parks in the
// portable backend's parking table instead, and every wake notifies both: Boost's
// waiters through notify_*, timed waiters through their bucket. Each waiter re-checks
// the word after waking, so waking both sets is always correct; it costs at most one
// extra uncontended lock per wake, and wakes only happen when someone is parked.
#include <boost/atomic/atomic_ref.hpp>

#include "parking_table.hpp"

namespace fev::backend {
namespace {

boost::atomic_ref<std::uint32_t> ref_of(const std::atomic<std::uint32_t>& word) noexcept {
  // Boost only reads and waits on the word through this reference; std::atomic<uint32_t>
  // is a standard-layout wrapper around one uint32_t of the same alignment.
  return boost::atomic_ref<std::uint32_t>(
      *reinterpret_cast<std::uint32_t*>(const_cast<std::atomic<std::uint32_t>*>(&word)));
}

}  // namespace

WaitResult BoostAtomic::wait(const std::atomic<std::uint32_t>& word, std::uint32_t expected, Deadline deadline) noexcept {
  if (deadline != Deadline::max()) return parking::wait(word, expected, deadline);
  // relaxed: the caller re-reads the word with its own ordering after we return.
  (void)ref_of(word).wait(expected, boost::memory_order_relaxed);
  return WaitResult::woken;
}

void BoostAtomic::wake_one(const std::atomic<std::uint32_t>& word) noexcept {
  ref_of(word).notify_one();
  parking::wake(word);
}

void BoostAtomic::wake_all(const std::atomic<std::uint32_t>& word) noexcept {
  ref_of(word).notify_all();
  parking::wake(word);
}

}  // namespace fev::backend
