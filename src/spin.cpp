// SPDX-License-Identifier: MIT
// Spin policy: how long a waiter polls before it parks, learned per thread, and the
// pause and yield instructions. See fev/spin.hpp for the policy itself.
#include "fev/spin.hpp"

#include <algorithm>
#include <atomic>
#include <thread>

#if defined(__linux__)
#include <dirent.h>
#include <sched.h>

#include <cstdlib>
#endif

namespace fev {
namespace {

using std::chrono::nanoseconds;

// Nanoseconds of spinning before parking, the upper bound of every learned budget.
// relaxed: a tuning knob, read once per wait; no other data is published through it.
std::atomic<long long> spin_limit_ns{4000};

// Every kProbeInterval-th wait of a thread spins and yields the full amount, so that a
// thread whose spins stopped paying finds out when they pay again.
constexpr std::uint32_t kProbeInterval = 32;
// At most this many sched_yield()s after the pause spin; kYields while yields pay.
constexpr std::uint32_t kMaxYields = 4;
constexpr std::uint32_t kYields = 2;
// How often a thread re-reads how many CPUs the process may run on: every second while
// the answer is "several". A "one CPU" answer is re-read after a millisecond, then after
// twice as long each time it holds, up to the second: a thread starts with its creator's
// mask and often pins itself elsewhere right away, so the first answer of a pinned
// thread can be wrong, and a wrong "one CPU" turns off spins that would have paid.
constexpr std::chrono::seconds kCpuRecheckInterval{1};
constexpr std::chrono::milliseconds kOneCpuFirstRecheck{1};
// A thread that has just woken a parked thread waits, after its pause spin, with yields
// for up to this many spin limits: the woken thread needs some tens of microseconds to
// run again (more under a hypervisor), and an answer it sends while we still poll keeps
// both threads out of the park-and-wake cycle. Used while it pays, and by every
// kAfterWakeProbeInterval-th such wait to find out.
constexpr std::int64_t kAfterWakeYieldFactor = 16;
constexpr std::uint32_t kAfterWakeProbeInterval = 8;
// Polls of an untimed wait before it plans (see fev/spin.hpp): at about 25 ns a pause
// here, they cover a fast answer's 50-100 ns.
constexpr int kPollsBeforePlan = 4;

// Whether the last thread that read the CPU masks found the whole process on one CPU.
// relaxed: a hint read before each wait's first polls; written only when it changes.
std::atomic<bool> process_on_one_cpu{false};

// Success rates are fixed-point fractions of kRateOne, averaged over about the last 8
// outcomes. Spinning (yielding) is planned while its rate is at least kRatePays: a few
// failures in a row (the releasing thread was preempted once) do not turn it off,
// about ten do.
constexpr std::uint32_t kRateOne = 256;
constexpr std::uint32_t kRatePays = kRateOne / 4;

void record(std::uint32_t& rate, bool paid, bool probe) noexcept {
  if (paid) {
    rate += (kRateOne - rate) / 8;
    // A probe that paid means the situation changed: plan to spin again at once.
    if (probe && rate < kRateOne / 2) rate = kRateOne / 2;
  } else {
    rate -= rate / 8 + (rate > 0 ? 1 : 0);
  }
}

// What one thread learned from its recent waits. Thread-local: no sharing, no atomics.
struct SpinHistory {
  std::uint32_t pause_rate = kRateOne;    // how often the pause spin ended the wait
  std::uint32_t yield_rate = kRateOne / 2;  // how often a yield did, once the spin had not
  std::uint32_t after_wake_rate = kRateOne / 2;  // how often a wait right after a wake paid
  std::uint32_t waits = 0;
  std::uint32_t after_wakes = 0;
  std::chrono::steady_clock::time_point cpus_checked{};  // never: check on the first wait
  std::chrono::nanoseconds cpus_recheck{0};  // re-read the CPUs this long after cpus_checked
  bool one_cpu = false;
  // This thread woke a parked thread since its last wait. The woken thread is on its way
  // back and usually answers within a few microseconds; without this, two threads that
  // each learned "spins do not pay" (each found the other parked) would keep parking and
  // waking each other, and a probe could not find out: its partner is asleep.
  bool woke_peer = false;
  // The side of a ring whose parked thread this thread woke last (see
  // note_woke_ring_side), until a ring wait of this thread uses it up.
  detail::RingSide woke_ring_side = detail::RingSide::none;
};

thread_local SpinHistory history;

// Whether every thread of this process may run on one and the same CPU only (taskset
// -c N, a one-CPU cpuset): then nothing can change the word while a thread pause-spins.
// The union of all the threads' masks, not one thread's: a process that pins its main
// thread (or a waiter) to one CPU may still run its other threads elsewhere, and their
// releases are what a spin waits for. Unknown (the task list cannot be read) counts as
// "several": the learned rates still stop spins that do not pay.
bool only_one_cpu() noexcept {
#if defined(__linux__)
  cpu_set_t own;
  if (sched_getaffinity(0, sizeof own, &own) == 0 && CPU_COUNT(&own) > 1) return false;  // the cheap answer
  DIR* tasks = opendir("/proc/self/task");
  if (tasks == nullptr) return false;
  cpu_set_t all;
  CPU_ZERO(&all);
  while (const dirent* task = readdir(tasks)) {
    if (task->d_name[0] < '0' || task->d_name[0] > '9') continue;  // "." and ".."
    cpu_set_t allowed;
    if (sched_getaffinity(static_cast<pid_t>(std::strtol(task->d_name, nullptr, 10)), sizeof allowed, &allowed) != 0)
      continue;  // the thread has exited meanwhile
    CPU_OR(&all, &all, &allowed);
    if (CPU_COUNT(&all) > 1) break;
  }
  closedir(tasks);
  return CPU_COUNT(&all) == 1;
#else
  return std::thread::hardware_concurrency() == 1;
#endif
}

}  // namespace

std::chrono::nanoseconds spin_limit() noexcept {
  return std::chrono::nanoseconds(spin_limit_ns.load(std::memory_order_relaxed));
}

void set_spin_limit(std::chrono::nanoseconds limit) noexcept {
  spin_limit_ns.store(limit.count() < 0 ? 0 : limit.count(), std::memory_order_relaxed);
}

namespace detail {

void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__) || defined(__arm__)
  asm volatile("yield");
#endif
}

void yield_cpu() noexcept { std::this_thread::yield(); }

void note_woke_peer() noexcept { history.woke_peer = true; }

void note_woke_ring_side(RingSide woken) noexcept { history.woke_ring_side = woken; }

int polls_before_plan() noexcept { return process_on_one_cpu.load(std::memory_order_relaxed) ? 0 : kPollsBeforePlan; }

void answered_before_plan(RingSide waiting) noexcept {
  history.woke_peer = false;
  if (waiting != RingSide::none) history.woke_ring_side = RingSide::none;
}

SpinPlan begin_spin(Deadline deadline, RingSide waiting) noexcept {
  const nanoseconds limit = spin_limit();
  const auto start = std::chrono::steady_clock::now();
  if (start - history.cpus_checked >= history.cpus_recheck) {
    const bool one_cpu = only_one_cpu();
    if (!one_cpu) {
      history.cpus_recheck = kCpuRecheckInterval;
    } else if (!history.one_cpu || history.cpus_recheck < kOneCpuFirstRecheck) {
      history.cpus_recheck = kOneCpuFirstRecheck;
    } else {
      history.cpus_recheck = std::min<nanoseconds>(2 * history.cpus_recheck, kCpuRecheckInterval);
    }
    history.one_cpu = one_cpu;
    history.cpus_checked = start;
    if (process_on_one_cpu.load(std::memory_order_relaxed) != one_cpu)
      process_on_one_cpu.store(one_cpu, std::memory_order_relaxed);
  }
  const bool probe = history.waits % kProbeInterval == 0;
  bool after_wake = history.woke_peer;
  history.woke_peer = false;
  if (waiting != RingSide::none) {
    // Woke the other side of a ring, and now waits for it to answer.
    if (history.woke_ring_side != RingSide::none && history.woke_ring_side != waiting) after_wake = true;
    history.woke_ring_side = RingSide::none;
  }
  ++history.waits;

  SpinPlan plan{start, nanoseconds::zero(), 0, nanoseconds::zero(), probe, false};
  if (!history.one_cpu && (probe || after_wake || history.pause_rate >= kRatePays)) plan.pause = limit;
  if (probe) {
    plan.yields = kMaxYields;
  } else if (history.yield_rate >= kRatePays) {
    plan.yields = kYields;
  }
  if (after_wake) {
    plan.after_wake = true;
    const bool after_wake_probe = history.after_wakes++ % kAfterWakeProbeInterval == 0;
    if (after_wake_probe || history.after_wake_rate >= kRatePays) plan.yield_for = limit * kAfterWakeYieldFactor;
  }
  if (deadline != Deadline::max()) {
    const auto left = deadline - plan.start;
    if (left <= left.zero()) return {plan.start, nanoseconds::zero(), 0, nanoseconds::zero(), probe, false};
    plan.pause = std::min(plan.pause, std::chrono::duration_cast<nanoseconds>(left));
  }
  return plan;
}

void end_spin(const SpinPlan& plan, const SpinOutcome& outcome) noexcept {
  if (plan.pause > nanoseconds::zero()) record(history.pause_rate, outcome.done && !outcome.by_yield, plan.probe);
  if (outcome.yields_used > 0) record(history.yield_rate, outcome.by_yield, plan.probe);
  if (plan.after_wake) record(history.after_wake_rate, outcome.done, plan.yield_for > nanoseconds::zero());
}

}  // namespace detail
}  // namespace fev
