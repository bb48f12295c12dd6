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
    const bool producer = static_cast<int>(i) < producers_;
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
