// SPDX-License-Identifier: MIT
#include "liveness.hpp"

#include <algorithm>
#include <cinttypes>
#include <cstdio>

namespace stress {

StallDetector::StallDetector(const std::vector<ThreadLiveness>& threads, int producers, Clock::duration limit,
                             Sleeping sleeping)
    : threads_(threads), producers_(producers), limit_(limit), sleeping_(sleeping), seen_(threads.size()) {}

std::optional<ThreadStall> StallDetector::observe(const RingSample& sample) {
  const auto streak = [&](std::optional<Clock::time_point>& since, bool holds) {
    if (!holds) since.reset();
    else if (!since) since = sample.now;
  };
  streak(items_waiting_since_, sample.items_waiting);
  streak(slots_free_since_, sample.slots_free);

  // Per role: whether a wake is on its way and a thread of the role that is inside an
  // operation is runnable (it holds the wake, or takes the work itself, once it runs).
  const auto is_producer = [&](std::size_t i) { return static_cast<int>(i) < producers_; };
  bool wake_held_by_a_runnable[2] = {false, false};  // [0] consumers, [1] producers
  const bool wake_in_flight[2] = {sample.consumers_wake_in_flight, sample.producers_wake_in_flight};
  for (std::size_t i = 0; i < threads_.size(); ++i) {
    const int role = is_producer(i) ? 1 : 0;
    if (wake_in_flight[role] && !wake_held_by_a_runnable[role] && ThreadLiveness::inside(threads_[i].state()) &&
        !sleeping_(threads_[i]))
      wake_held_by_a_runnable[role] = true;
  }
  const Clock::duration since_last = last_sample_ ? sample.now - *last_sample_ : Clock::duration::zero();
  last_sample_ = sample.now;

  std::optional<ThreadStall> stalled;
  for (std::size_t i = 0; i < threads_.size(); ++i) {
    const std::uint64_t state = threads_[i].state();
    // A retry loop is judged by its calls, a blocking operation as a whole (see the header).
    const std::uint64_t calls = ThreadLiveness::kind(state) == CallKind::blocking ? 0 : threads_[i].calls();
    Seen& seen = seen_[i];
    if (state != seen.state || calls != seen.calls) {
      seen.state = state;
      seen.calls = calls;
      seen.since = sample.now;
      continue;
    }
    if (stalled || !ThreadLiveness::inside(state)) continue;
    if (!sleeping_(threads_[i])) {  // runnable: slow at worst, never stuck (see the header)
      seen.since = sample.now;
      continue;
    }
    if (wake_held_by_a_runnable[is_producer(i) ? 1 : 0]) {  // the window pauses (see the header)
      seen.since += since_last;
      continue;
    }
    const bool producer = is_producer(i);
    const auto& work_since = producer ? slots_free_since_ : items_waiting_since_;
    if (!work_since) continue;
    // Both held from the later of the two samples on: that is the window to judge.
    const Clock::time_point from = std::max(seen.since, *work_since);
    if (sample.now - from < limit_) continue;
    const int index = producer ? static_cast<int>(i) : static_cast<int>(i) - producers_;
    stalled = ThreadStall{producer ? Role::producer : Role::consumer, index, ThreadLiveness::kind(state),
                          std::chrono::duration<double>(sample.now - seen.since).count(), threads_[i].calls()};
  }
  return stalled;
}

std::string describe(const ThreadStall& stall) {
  const bool producer = stall.role == Role::producer;
  const char* operation = producer ? "push" : "pop";
  const char* kind = stall.kind == CallKind::blocking     ? "blocking "
                     : stall.kind == CallKind::timed_loop ? "ring call of a timed-retry "
                                                          : "ring call of a try-retry ";
  const char* work = producer ? "the ring had free slots" : "the ring held items";
  char text[256];
  std::snprintf(text, sizeof text,
                "%s %d stayed in one %s%s for %.1f s while %s at every sample (%" PRIu64 " ring calls by it in all)",
                producer ? "producer" : "consumer", stall.index, kind, operation, stall.seconds, work, stall.calls);
  return text;
}

}  // namespace stress
