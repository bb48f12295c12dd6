// SPDX-License-Identifier: MIT
// Spin policy: the plan of one wait from its thread's history, and the pause and yield
// instructions. See fev/spin.hpp for the policy itself.
#include "fev/spin.hpp"

#include <algorithm>
#include <atomic>
#include <thread>
#if defined(_MSC_VER) && !defined(__clang__)
#include <intrin.h>  // cpu_relax(): _mm_pause, __isb, __yield
#endif

namespace fev {
namespace {

using std::chrono::nanoseconds;

// The process defaults of WaitOptions.
// relaxed: tuning knobs, read once per wait; no other data is published through them.
std::atomic<long long> spin_limit_ns{4000};
std::atomic<long long> spin_after_wake_limit_ns{64000};

// Every kAfterWakeProbeInterval-th wait after a wake uses the after-wake budget even
// while such waits have not paid.
constexpr std::uint32_t kAfterWakeProbeInterval = 8;

// Success rates are fixed-point fractions of kRateOne, averaged over about the last 8
// outcomes. A rule is used while its rate is at least kRatePays: a few failures in a row
// (the releasing thread was preempted once) do not turn it off, about ten do.
constexpr std::uint32_t kRateOne = 256;
constexpr std::uint32_t kRatePays = kRateOne / 4;

void record(std::uint32_t& rate, bool paid, bool probe) noexcept {
  if (paid) {
    rate += (kRateOne - rate) / 8;
    // A probe that paid means the situation changed: plan to use the rule again at once.
    if (probe && rate < kRateOne / 2) rate = kRateOne / 2;
  } else {
    rate -= rate / 8 + (rate > 0 ? 1 : 0);
  }
}

// What the process's threads last reported, for threads that have learned nothing yet.
// A thread reports after each of its first kReportingWaits waits and after each probe,
// and only what changed, so a busy thread writes these lines rarely.
// relaxed: hints; a stale value only costs a new thread one different first plan.
constexpr std::uint32_t kReportingWaits = 8;
std::atomic<std::uint32_t> prior_pause_rate{kRateOne / 2};
std::atomic<std::uint32_t> prior_yield_rate{kRateOne / 2};
std::atomic<std::uint32_t> prior_after_wake_rate{kRateOne / 2};
std::atomic<long long> prior_yield_cost_ns{0};
std::atomic<long long> prior_poll_cost_ns{0};

void report(std::atomic<std::uint32_t>& prior, std::uint32_t rate) noexcept {
  if (prior.load(std::memory_order_relaxed) != rate) prior.store(rate, std::memory_order_relaxed);
}
void report(std::atomic<long long>& prior, nanoseconds cost) noexcept {
  if (prior.load(std::memory_order_relaxed) != cost.count()) prior.store(cost.count(), std::memory_order_relaxed);
}

// What one thread learned from its recent waits. Thread-local: no sharing, no atomics.
struct SpinHistory {
  bool started = false;           // the fields below hold this thread's own values
  std::uint32_t pause_rate = 0;   // how often the pause polls ended the wait
  std::uint32_t yield_rate = 0;   // how often a yield did, once the polls had not
  std::uint32_t after_wake_rate = 0;  // how often a wait right after a wake was answered in its budget
  nanoseconds yield_cost{0};      // a typical recent yield (halves at each probe)
  nanoseconds poll_cost{0};       // the last measured cost of one poll
  std::uint32_t waits = 0;
  std::uint32_t after_wakes = 0;
  // This thread woke a parked thread since its last wait.
  bool woke_peer = false;
  // The side of a ring whose parked thread this thread woke last (see
  // note_woke_ring_side), until a ring wait of this thread uses it up.
  detail::RingSide woke_ring_side = detail::RingSide::none;

  void start_from_prior() noexcept {
    started = true;
    pause_rate = prior_pause_rate.load(std::memory_order_relaxed);
    yield_rate = prior_yield_rate.load(std::memory_order_relaxed);
    after_wake_rate = prior_after_wake_rate.load(std::memory_order_relaxed);
    yield_cost = nanoseconds(prior_yield_cost_ns.load(std::memory_order_relaxed));
    poll_cost = nanoseconds(prior_poll_cost_ns.load(std::memory_order_relaxed));
  }
};

thread_local SpinHistory history;

nanoseconds process_default(nanoseconds option, const std::atomic<long long>& fallback) noexcept {
  return option < nanoseconds::zero() ? nanoseconds(fallback.load(std::memory_order_relaxed)) : option;
}

}  // namespace

std::chrono::nanoseconds spin_limit() noexcept {
  return std::chrono::nanoseconds(spin_limit_ns.load(std::memory_order_relaxed));
}

void set_spin_limit(std::chrono::nanoseconds limit) noexcept {
  spin_limit_ns.store(limit.count() < 0 ? 0 : limit.count(), std::memory_order_relaxed);
}

std::chrono::nanoseconds spin_after_wake_limit() noexcept {
  return std::chrono::nanoseconds(spin_after_wake_limit_ns.load(std::memory_order_relaxed));
}

void set_spin_after_wake_limit(std::chrono::nanoseconds limit) noexcept {
  spin_after_wake_limit_ns.store(limit.count() < 0 ? 0 : limit.count(), std::memory_order_relaxed);
}

namespace detail {

// The spin-wait hint of each target. aarch64 uses `isb sy`, not `yield`: `yield` only
// tells a multithreaded core to switch threads, and on the single-threaded cores of
// ARM servers (Neoverse: Graviton, Ampere) and Apple's it retires like a nop, so the
// loop hammers the watched line; `isb` drains the pipeline, a delay of some tens of
// cycles like x86's `pause` (Rust's spin_loop hint and several runtimes chose it for
// this). The spin is bounded by time, so how long one hint takes changes only how often
// the word is read. 32-bit ARM keeps `yield` (ARMv7 and later). Elsewhere there is no
// hint: the loop is still bounded by time.
void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("isb sy");
#elif defined(__arm__) && defined(__ARM_ARCH) && __ARM_ARCH >= 7
  asm volatile("yield");
#elif defined(_M_X64) || defined(_M_IX86)
  _mm_pause();
#elif defined(_M_ARM64)
  __isb(_ARM64_BARRIER_SY);
#elif defined(_M_ARM)
  __yield();
#endif
}

void yield_cpu() noexcept { std::this_thread::yield(); }

void note_woke_peer() noexcept { history.woke_peer = true; }

void note_woke_ring_side(RingSide woken) noexcept { history.woke_ring_side = woken; }

void answered_before_plan(RingSide waiting) noexcept {
  history.woke_peer = false;
  if (waiting != RingSide::none) history.woke_ring_side = RingSide::none;
}

nanoseconds spin_budget(const WaitOptions& options) noexcept { return process_default(options.spin, spin_limit_ns); }

std::uint32_t polls_before_plan(nanoseconds budget) noexcept {
  if (!history.started) history.start_from_prior();
  if (history.pause_rate < kRatePays) return 0;
  if (history.poll_cost <= nanoseconds::zero()) return kPollsBeforePlan;
  return static_cast<std::uint32_t>(std::min<long long>(kPollsBeforePlan, budget / history.poll_cost));
}

SpinPlan begin_spin(std::chrono::steady_clock::time_point now, Deadline deadline, RingSide waiting,
                    const WaitOptions& options, std::uint32_t polls_made) noexcept {
  if (!history.started) history.start_from_prior();
  const nanoseconds spin = spin_budget(options);
  const nanoseconds after_wake_budget =
      std::max(spin, process_default(options.spin_after_wake, spin_after_wake_limit_ns));

  ++history.waits;
  const bool probe = history.waits % kProbeInterval == 0;
  if (probe) {  // a long yield (a CPU hog that has left) is forgotten slowly
    history.yield_cost /= 2;
  }
  bool woke = history.woke_peer;
  history.woke_peer = false;
  if (waiting != RingSide::none) {
    // Woke the other side of a ring, and now waits for it to answer.
    if (history.woke_ring_side != RingSide::none && history.woke_ring_side != waiting) woke = true;
    history.woke_ring_side = RingSide::none;
  }
  const bool after_wake =
      woke && (history.after_wakes++ % kAfterWakeProbeInterval == 0 || history.after_wake_rate >= kRatePays);

  SpinPlan plan{};
  // The polls before the plan were part of this wait's budget.
  plan.start = now - history.poll_cost * polls_made;
  plan.end = plan.start + (after_wake ? after_wake_budget : spin);
  if (deadline != Deadline::max()) plan.end = std::min(plan.end, deadline);
  const bool pause_pays = history.pause_rate >= kRatePays;
  // A probe whose polls have not been paying polls for half the budget only, and leaves
  // the rest to yields: on one CPU the polls cannot pay, and a wait that ran out of
  // budget polling would park where a yield would have let the releaser answer.
  plan.pause_end = std::min(plan.start + (probe && !pause_pays ? spin / 2 : spin), plan.end);
  plan.poll_cost = history.poll_cost;
  plan.yield_cost = history.yield_cost;
  plan.pause = probe || pause_pays;
  // No yield in a timed wait: one can last a CPU hog's time slice, past the deadline.
  plan.yields = deadline == Deadline::max() && (probe || after_wake || history.yield_rate >= kRatePays);
  plan.probe = probe;
  plan.after_wake = after_wake;
  return plan;
}

void end_spin(const SpinPlan& plan, const SpinOutcome& outcome) noexcept {
  if (outcome.polls > 0) record(history.pause_rate, outcome.done && !outcome.by_yield, plan.probe);
  // Yields that were planned but did not fit count as yields that did not pay: the rate
  // says whether yielding ends waits within the budget.
  // A yield that answered only past the end (it ran a hog's time slice) did not pay
  // either.
  if (outcome.yields > 0 || (plan.yields && !outcome.done))
    record(history.yield_rate, outcome.by_yield && !outcome.late, plan.probe);
  if (plan.after_wake) record(history.after_wake_rate, outcome.done, true);
  if (outcome.poll_cost > nanoseconds::zero()) {
    // The last measurement, unless it is far above the estimate: a batch during which
    // the thread was preempted measures the preemption, not the poll, and must not stop
    // every later wait from polling; such a jump moves the estimate by an eighth. No
    // pause instruction takes kMaxPollCost.
    const nanoseconds measured = outcome.poll_cost;
    if (history.poll_cost <= nanoseconds::zero() || measured <= 4 * history.poll_cost)
      history.poll_cost = measured;
    else
      history.poll_cost += (measured - history.poll_cost) / 8;
  }
  if (outcome.yields > 0) {
    const nanoseconds longest = outcome.longest_yield;
    // The typical: an average that one stretched yield (a preemption) moves by at most
    // 4x, so a ping-pong on one CPU keeps yielding through a timer tick.
    const nanoseconds capped = history.yield_cost > nanoseconds::zero() ? std::min(longest, 4 * history.yield_cost) : longest;
    history.yield_cost += (capped - history.yield_cost) / 2;
  }
  if (history.waits <= kReportingWaits || plan.probe) {
    report(prior_pause_rate, history.pause_rate);
    report(prior_yield_rate, history.yield_rate);
    report(prior_after_wake_rate, history.after_wake_rate);
    report(prior_yield_cost_ns, history.yield_cost);
    report(prior_poll_cost_ns, history.poll_cost);
  }
}

}  // namespace detail
}  // namespace fev
