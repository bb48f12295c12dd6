// SPDX-License-Identifier: MIT
#include "liveness.hpp"

#include <algorithm>
#include <cinttypes>
#include <cstdio>

namespace stress {

StallDetector::StallDetector(const std::vector<ThreadLiveness>& threads, int producers, Clock::duration limit,
                             Sleeping sleeping)
    : threads_(threads), producers_(producers), limit_(limit), sleeping_(sleeping), seen_(threads.size()) {}

std::optional<ThreadStall> StallDetector::observe(std::span<const RingSample> rings) {
  const Clock::time_point now = rings.front().now;
  const auto is_producer = [&](std::size_t i) { return static_cast<int>(i) < producers_; };
  // Whether ring r offers work to the role, and has a wake on its way to it.
  const auto work = [&](std::size_t r, bool producer) {
    return producer ? rings[r].slots_free : rings[r].items_waiting;
  };
  const auto wake_in_flight = [&](std::size_t r, bool producer) {
    return producer ? rings[r].producers_wake_in_flight : rings[r].consumers_wake_in_flight;
  };
  const auto waits_on = [](std::uint64_t state, std::size_t r) {
    return ((ThreadLiveness::rings(state) >> r) & 1u) != 0;
  };

  // Every thread's state once, so that all three passes judge the same one.
  std::vector<std::uint64_t> states(threads_.size());
  for (std::size_t i = 0; i < threads_.size(); ++i) states[i] = threads_[i].state();

  // Per thread: the streak of samples at which a ring of its operation offered work.
  for (std::size_t i = 0; i < threads_.size(); ++i) {
    const std::uint64_t state = states[i];
    bool offered = false;
    for (std::size_t r = 0; r < rings.size() && !offered; ++r) offered = waits_on(state, r) && work(r, is_producer(i));
    std::optional<Clock::time_point>& since = seen_[i].work_since;
    if (!offered) since.reset();
    else if (!since) since = now;
  }

  // Per role and ring: whether a wake is on its way on that ring and a thread of the role
  // that is inside an operation on it is runnable (it holds the wake, or takes the work
  // itself, once it runs). [0] consumers, [1] producers.
  std::vector<bool> wake_held_by_a_runnable[2] = {std::vector<bool>(rings.size()), std::vector<bool>(rings.size())};
  for (std::size_t i = 0; i < threads_.size(); ++i) {
    const std::uint64_t state = states[i];
    if (!ThreadLiveness::inside(state)) continue;
    std::optional<bool> runnable;  // asked of the kernel once, only when it matters
    for (std::size_t r = 0; r < rings.size(); ++r) {
      if (!waits_on(state, r) || !wake_in_flight(r, is_producer(i)) || wake_held_by_a_runnable[is_producer(i)][r])
        continue;
      if (!runnable) runnable = !sleeping_(threads_[i]);
      if (*runnable) wake_held_by_a_runnable[is_producer(i)][r] = true;
    }
  }
  const Clock::duration since_last = last_sample_ ? now - *last_sample_ : Clock::duration::zero();
  last_sample_ = now;

  std::optional<ThreadStall> stalled;
  for (std::size_t i = 0; i < threads_.size(); ++i) {
    const std::uint64_t state = states[i];
    // A retry loop is judged by its calls, a blocking operation as a whole (see the header).
    const std::uint64_t calls = ThreadLiveness::kind(state) == CallKind::blocking ? 0 : threads_[i].calls();
    Seen& seen = seen_[i];
    if (state != seen.state || calls != seen.calls) {
      seen.state = state;
      seen.calls = calls;
      seen.since = now;
      continue;
    }
    if (stalled || !ThreadLiveness::inside(state)) continue;
    if (!sleeping_(threads_[i])) {  // runnable: slow at worst, never stuck (see the header)
      seen.since = now;
      continue;
    }
    const bool producer = is_producer(i);
    bool wake_held = false;
    for (std::size_t r = 0; r < rings.size() && !wake_held; ++r)
      wake_held = waits_on(state, r) && wake_held_by_a_runnable[producer][r];
    if (wake_held) {  // the window pauses (see the header)
      seen.since += since_last;
      continue;
    }
    if (!seen.work_since) continue;
    // Both held from the later of the two samples on: that is the window to judge.
    const Clock::time_point from = std::max(seen.since, *seen.work_since);
    if (now - from < limit_) continue;
    const int index = producer ? static_cast<int>(i) : static_cast<int>(i) - producers_;
    stalled = ThreadStall{producer ? Role::producer : Role::consumer, index, ThreadLiveness::kind(state),
                          std::chrono::duration<double>(now - seen.since).count(), threads_[i].calls()};
  }
  return stalled;
}

std::string describe(const ThreadStall& stall) {
  const bool producer = stall.role == Role::producer;
  const char* operation = producer ? "push" : "pop";
  const char* kind = stall.kind == CallKind::blocking     ? "blocking "
                     : stall.kind == CallKind::timed_loop ? "ring call of a timed-retry "
                                                          : "ring call of a try-retry ";
  const char* work = producer ? "a ring it waited on had free slots" : "a ring it waited on held items";
  char text[256];
  std::snprintf(text, sizeof text,
                "%s %d stayed in one %s%s for %.1f s while %s at every sample (%" PRIu64 " ring calls by it in all)",
                producer ? "producer" : "consumer", stall.index, kind, operation, stall.seconds, work, stall.calls);
  return text;
}

}  // namespace stress
