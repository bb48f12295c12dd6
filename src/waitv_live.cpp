// SPDX-License-Identifier: MIT
// Whether fev::wait_any/wait_all and fev::select take their futex_waitv path: the
// kernel's answer, probed once and remembered, and the switch tests use to force the
// one-word-at-a-time path (fev/wait_many.hpp).
#include <atomic>

#include "backend/futex_waitv.hpp"
#include "fev/wait_many.hpp"

namespace fev::detail {
namespace {

// relaxed for both: switches, read once per call; they publish no other data.
std::atomic<bool> waitv_forced_off{false};
enum : int { kWaitvUnknown, kWaitvYes, kWaitvNo };
std::atomic<int> waitv_state{kWaitvUnknown};

}  // namespace

void force_waitv_fallback(bool on) noexcept { waitv_forced_off.store(on, std::memory_order_relaxed); }

bool futex_waitv_live() noexcept {
  if (waitv_forced_off.load(std::memory_order_relaxed)) return false;
  int state = waitv_state.load(std::memory_order_relaxed);
  if (state == kWaitvUnknown) {
    // Racing first calls may probe twice; both store the same answer.
    state = futex_waitv_probe() ? kWaitvYes : kWaitvNo;
    waitv_state.store(state, std::memory_order_relaxed);
  }
  return state == kWaitvYes;
}

void note_waitv_unsupported() noexcept { waitv_state.store(kWaitvNo, std::memory_order_relaxed); }

}  // namespace fev::detail
