// SPDX-License-Identifier: MIT
// fev/wait.hpp — the address-based wait primitive under every fev object.
//
// A backend parks the calling thread while a 32-bit atomic word holds an expected
// value, and wakes threads parked on a word. Every backend has the same three calls:
//
//   wait(word, expected, deadline) -> WaitResult::woken | WaitResult::timeout
//   wake_one(word)
//   wake_all(word)
//
// `wait` returns `woken` after a wake, after a spurious wake, when the word did not hold
// `expected` on entry, or after an interrupted system call: callers always re-read the
// word. It returns `timeout` only once `deadline` (std::chrono::steady_clock) has
// passed. `Deadline::max()` means "no deadline". Wake calls only ever read the word's
// address, never its contents, so they are safe on memory that a woken thread has
// already freed (docs/design.md, "Wait backends").
//
// Which backends a given libfev.a defines is fixed when it is built; `fev/config.hpp`
// names them and the default one (`fev::DefaultWait`). Naming a backend that was not
// built is a link error, never a silent fallback.
//
// Memory ordering: the backends order nothing. Callers publish and observe state through
// the word's own atomic operations; `wait` may return before any wake call.
#pragma once

#include "fev/cxx20.hpp"  // first: below C++20, one clear error instead of many

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string_view>

namespace fev {

/// An absolute time on std::chrono::steady_clock; `Deadline::max()` means "no deadline".
using Deadline = std::chrono::steady_clock::time_point;

/// What a backend's `wait` returns. `woken`: after a wake, a spurious wake, an
/// interrupted system call, or when the word did not hold `expected` on entry (callers
/// always re-read the word). `timeout`: only once the deadline has passed.
enum class WaitResult { woken, timeout };

namespace backend {

/// Linux futex(2): FUTEX_WAIT_BITSET with absolute CLOCK_MONOTONIC deadlines.
/// Private futexes (FUTEX_PRIVATE_FLAG): for words that only this process touches.
struct Futex {
  /// The backend's name, as tests and benchmarks print it.
  static constexpr std::string_view name = "futex";
  /// Parks the calling thread while `word` holds `expected`, until a wake call on `word`
  /// or `deadline`. Returns WaitResult::woken (re-read the word: it may be spurious) or
  /// WaitResult::timeout (only once `deadline` has passed). Orders no memory.
  static WaitResult wait(const std::atomic<std::uint32_t>& word, std::uint32_t expected, Deadline deadline) noexcept;
  /// Wakes at most one thread parked on `word`. Reads only the word's address, never its
  /// contents, so it is safe on memory that a woken thread has already freed.
  static void wake_one(const std::atomic<std::uint32_t>& word) noexcept;
  /// Wakes every thread parked on `word`. Reads only the word's address.
  static void wake_all(const std::atomic<std::uint32_t>& word) noexcept;
};

/// Linux futex(2) without FUTEX_PRIVATE_FLAG: for words in memory shared between
/// processes (MAP_SHARED, memfd, shm_open; see fev/shared.hpp). The kernel keys such a
/// futex by the mapped page (inode and offset), not by the address, so processes that
/// map the region at different addresses still wake each other. Slower than `Futex`
/// (the kernel looks the page up on every call); it works on private memory too.
struct FutexShared {
  /// \copydoc Futex::name
  static constexpr std::string_view name = "futex_shared";
  /// Words on this backend may be shared with other processes, whose threads can die
  /// between any two steps of a protocol (see fev/shared.hpp).
  static constexpr bool process_shared = true;
  /// \copydoc Futex::wait
  static WaitResult wait(const std::atomic<std::uint32_t>& word, std::uint32_t expected, Deadline deadline) noexcept;
  /// \copydoc Futex::wake_one
  static void wake_one(const std::atomic<std::uint32_t>& word) noexcept;
  /// \copydoc Futex::wake_all
  static void wake_all(const std::atomic<std::uint32_t>& word) noexcept;
};

/// Windows 8+: WaitOnAddress / WakeByAddressSingle / WakeByAddressAll.
struct Win32 {
  /// \copydoc Futex::name
  static constexpr std::string_view name = "win32";
  /// \copydoc Futex::wait
  static WaitResult wait(const std::atomic<std::uint32_t>& word, std::uint32_t expected, Deadline deadline) noexcept;
  /// \copydoc Futex::wake_one
  static void wake_one(const std::atomic<std::uint32_t>& word) noexcept;
  /// \copydoc Futex::wake_all
  static void wake_all(const std::atomic<std::uint32_t>& word) noexcept;
};

/// Boost.Atomic (>= 1.78) wait/notify on boost::atomic_ref; timed waits go through the
/// parking table of the portable backend (Boost 1.81 has no timed wait).
struct BoostAtomic {
  /// \copydoc Futex::name
  static constexpr std::string_view name = "boost";
  /// \copydoc Futex::wait
  static WaitResult wait(const std::atomic<std::uint32_t>& word, std::uint32_t expected, Deadline deadline) noexcept;
  /// \copydoc Futex::wake_one
  static void wake_one(const std::atomic<std::uint32_t>& word) noexcept;
  /// \copydoc Futex::wake_all
  static void wake_all(const std::atomic<std::uint32_t>& word) noexcept;
};

/// Any C++20 platform: an address-hashed table of parking buckets, each a mutex and a
/// condition_variable.
struct Portable {
  /// \copydoc Futex::name
  static constexpr std::string_view name = "portable";
  /// \copydoc Futex::wait
  static WaitResult wait(const std::atomic<std::uint32_t>& word, std::uint32_t expected, Deadline deadline) noexcept;
  /// \copydoc Futex::wake_one
  static void wake_one(const std::atomic<std::uint32_t>& word) noexcept;
  /// \copydoc Futex::wake_all
  static void wake_all(const std::atomic<std::uint32_t>& word) noexcept;
};

}  // namespace backend

/// How long a blocking call may keep the CPU before it parks. Everything a wait does
/// before it parks (polls with the CPU's pause instruction, sched_yield()s) fits in this
/// budget of steady_clock time, counted from the wait's first poll, and never runs past
/// the caller's deadline. The bound is a time, not a count, because the pause
/// instruction's latency differs by 10x and more between CPUs.
///
///   fev::WaitOptions never_spin{.spin = std::chrono::nanoseconds{0}};  // park at once
///   event.wait_for(5ms, never_spin);
///   fev::Ring<Order> orders(1024, fev::WaitOptions{.spin = 50us});      // a dedicated core
///
/// A negative field (the default) means the process default (spin_limit(),
/// spin_after_wake_limit()). Zero `spin` parks at once: one check, no polls, no yields,
/// after a wake too.
struct WaitOptions {
  /// The budget of a wait.
  std::chrono::nanoseconds spin{-1};
  /// The budget of the first wait after this thread woke a parked thread (Event::set(),
  /// AutoResetEvent::set(), a push that woke a consumer, a pop that woke a producer)
  /// when such waits have been answered recently: the woken thread needs tens of
  /// microseconds to run again and usually answers, and a thread still polling then
  /// keeps both out of a park-and-wake cycle. At least `spin`; unused when `spin` is 0.
  std::chrono::nanoseconds spin_after_wake{-1};
};

/// The process default of WaitOptions::spin. Default: 4 microseconds.
std::chrono::nanoseconds spin_limit() noexcept;
/// Sets spin_limit() for every wait that does not say otherwise; zero: park at once.
/// Negative values count as zero.
void set_spin_limit(std::chrono::nanoseconds limit) noexcept;
/// The process default of WaitOptions::spin_after_wake. Default: 64 microseconds.
std::chrono::nanoseconds spin_after_wake_limit() noexcept;
/// Sets spin_after_wake_limit(); negative values count as zero.
void set_spin_after_wake_limit(std::chrono::nanoseconds limit) noexcept;

namespace detail {
// Whether backend `Wait` declares `process_shared = true`: its words may be shared with
// other processes, so a waker may die between its decision to wake and its wake call.
template <class Wait>
inline constexpr bool process_shared = requires { requires Wait::process_shared; };

// One pause instruction (x86 `pause`, Arm `yield`), or nothing where there is none.
void cpu_relax() noexcept;
}  // namespace detail

}  // namespace fev
