// Spin policy: how long a waiter polls before it parks, learned per thread, and the
// pause and yield instructions. See fev/spin.hpp for the policy itself.
#include "fev/spin.hpp"

#include <algorithm>
#include <atomic>
#include <thread>

#if defined(__linux__)
#include <sched.h>
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
// At most this many sched_yield()s after the pause spin.
constexpr std::uint32_t kMaxYields = 4;
// Budgets below this are not worth a clock read: they become zero.
constexpr nanoseconds kMinBudget{100};
// How often (in waits) a thread re-reads how many CPUs it may run on.
constexpr std::uint32_t kCpuRecheckInterval = 1024;

// What one thread learned from its recent waits. Thread-local: no sharing, no atomics.
struct SpinHistory {
  nanoseconds budget{-1};  // learned pause budget; negative until the first wait
  std::uint32_t yields = 1;
  std::uint32_t waits = 0;
  bool one_cpu = false;
};

thread_local SpinHistory history;

bool only_one_cpu() noexcept {
#if defined(__linux__)
  cpu_set_t allowed;
  if (sched_getaffinity(0, sizeof allowed, &allowed) == 0) return CPU_COUNT(&allowed) == 1;
#endif
  return std::thread::hardware_concurrency() == 1;
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

SpinPlan begin_spin(Deadline deadline) noexcept {
  const nanoseconds limit = spin_limit();
  if (history.waits % kCpuRecheckInterval == 0) history.one_cpu = only_one_cpu();
  const bool probe = history.waits % kProbeInterval == 0;
  ++history.waits;
  if (history.budget < nanoseconds::zero() || history.budget > limit) history.budget = limit;

  SpinPlan plan{std::chrono::steady_clock::now(), probe ? limit : history.budget,
                probe ? kMaxYields : history.yields};
  if (history.one_cpu) plan.pause = nanoseconds::zero();
  if (deadline != Deadline::max()) {
    const auto left = deadline - plan.start;
    if (left <= left.zero()) return {plan.start, nanoseconds::zero(), 0};
    plan.pause = std::min(plan.pause, std::chrono::duration_cast<nanoseconds>(left));
  }
  return plan;
}

void end_spin(const SpinPlan& plan, const SpinOutcome& outcome) noexcept {
  const nanoseconds limit = spin_limit();
  if (outcome.done && !outcome.by_yield) {
    // The pause spin paid: spinning is worth its full limit again.
    history.budget = limit;
  } else if (plan.pause > nanoseconds::zero()) {
    // The pause spin did not pay (the wait ended by a yield, or not at all).
    history.budget /= 2;
    if (history.budget < kMinBudget) history.budget = nanoseconds::zero();
  }
  if (outcome.by_yield) {
    history.yields = std::min(kMaxYields, std::max(history.yields, outcome.yields_used + 1));
  } else if (!outcome.done && outcome.yields_used > 0) {
    history.yields /= 2;
  }
}

}  // namespace detail
}  // namespace fev
