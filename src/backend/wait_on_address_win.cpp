// SPDX-License-Identifier: MIT
// Windows backend: WaitOnAddress / WakeByAddressSingle / WakeByAddressAll
// (Windows 8+, link with -lsynchronization).
//
// WaitOnAddress takes a relative timeout in milliseconds and may return early or
// spuriously, so the remaining time is recomputed from the steady deadline after every
// return, rounded up, and the wait reports a timeout only once the deadline has passed.
#include <windows.h>

#include <chrono>

#include "fev/wait.hpp"

namespace fev::backend {
namespace {

void* address_of(const std::atomic<std::uint32_t>& word) noexcept {
  return const_cast<std::atomic<std::uint32_t>*>(&word);
}

}  // namespace

WaitResult Win32::wait(const std::atomic<std::uint32_t>& word, std::uint32_t expected, Deadline deadline) noexcept {
  using namespace std::chrono;
  for (;;) {
    DWORD timeout_ms = INFINITE;
    if (deadline != Deadline::max()) {
      const auto now = steady_clock::now();
      if (now >= deadline) return WaitResult::timeout;
      const auto remaining = ceil<milliseconds>(deadline - now).count();
      // INFINITE is 0xFFFFFFFF: longer waits are cut short and looped.
      timeout_ms = remaining >= static_cast<long long>(INFINITE) ? INFINITE - 1 : static_cast<DWORD>(remaining);
    }
    std::uint32_t compare = expected;
    if (WaitOnAddress(address_of(word), &compare, sizeof(compare), timeout_ms)) return WaitResult::woken;
    if (GetLastError() != ERROR_TIMEOUT) return WaitResult::woken;  // never block on an error
    // ERROR_TIMEOUT: loop; the deadline check above decides whether it really passed.
  }
}

void Win32::wake_one(const std::atomic<std::uint32_t>& word) noexcept { WakeByAddressSingle(address_of(word)); }

void Win32::wake_all(const std::atomic<std::uint32_t>& word) noexcept { WakeByAddressAll(address_of(word)); }

}  // namespace fev::backend
