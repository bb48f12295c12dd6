// SPDX-License-Identifier: MIT
#include "world.hpp"

#include "resume_probe.hpp"  // complete, for ~Worker

#include <cinttypes>
#include <cstdio>

namespace async_stress {
namespace {

constexpr std::array<const char*, static_cast<std::size_t>(Violation::count)> kViolationNames{
    "coroutine resumptions off their loop's thread or executor",
    "co_awaits that resumed their coroutine a second time",
    "co_awaits resumed inside await_suspend on the suspending thread",
    "co_awaits that suspended and were never resumed",
    "timeouts that returned before their deadline",
    "waits that reported a cancellation nobody asked for",
    "operations that reported Status::closed before any ring was closed",
    "Event waits that returned true with no set() since the event was last clear",
    "AutoResetEvent signals taken beyond the set() calls",
    "results that contradict themselves or their call",
};

const char* op_name(Op op) {
  switch (op) {
    case Op::event_wait: return "Event wait";
    case Op::auto_wait: return "AutoResetEvent wait";
    case Op::push: return "push";
    case Op::pop: return "pop";
    case Op::none: break;
  }
  return "nothing";
}

const char* form_name(Form form) {
  switch (form) {
    case Form::plain: return "untimed";
    case Form::timed: return "timed";
    case Form::stoppable: return "stoppable";
    case Form::timed_stoppable: return "timed stoppable";
    case Form::try_once: return "try";
  }
  return "?";
}

}  // namespace

std::stop_token CancelBoard::fresh(std::size_t slot) {
  std::stop_source source;
  const std::scoped_lock hold(slots_[slot].lock);
  slots_[slot].source = source;
  return source.get_token();
}

bool CancelBoard::cancel(std::size_t slot) {
  std::stop_source source{std::nostopstate};
  {
    const std::scoped_lock hold(slots_[slot].lock);
    source = slots_[slot].source;
  }
  // Outside the lock: the stop callbacks run here, on this thread.
  return source.request_stop();
}

void Checks::report(Violation kind, const std::string& detail) {
  const auto index = static_cast<std::size_t>(kind);
  // relaxed: a tally read after every worker finished (the join orders it).
  if (counts_[index].fetch_add(1, std::memory_order_relaxed) != 0) return;
  const std::scoped_lock hold(lock_);
  first_[index] = detail;
}

bool Checks::any() const {
  for (const auto& count : counts_) {
    if (count.load(std::memory_order_relaxed) != 0) return true;  // relaxed: see report()
  }
  return false;
}

std::string Checks::summary() const {
  std::string out;
  const std::scoped_lock hold(lock_);
  for (std::size_t i = 0; i < kKinds; ++i) {
    const std::uint64_t count = counts_[i].load(std::memory_order_relaxed);  // relaxed: see report()
    if (count == 0) continue;
    out += std::to_string(count) + " " + kViolationNames[i] + " (first: " + first_[i] + "); ";
  }
  return out;
}

World::World(const Options& run_options) : options(run_options) {
  for (const std::size_t capacity : kRingCapacities) rings.push_back(std::make_unique<fev::Ring<Value>>(capacity));
  // relaxed: set before any worker starts (thread creation orders it).
  lose_pending.store(options.lose_one, std::memory_order_relaxed);
}

EventEntry World::before_event_wait(int event) const noexcept {
  const EventHistory& history = histories[static_cast<std::size_t>(event)];
  // seq_cst (both): clears first, then sets, in the one order of all seq_cst operations.
  // Equal counts mean the setter's last clear() happened-before this wait starts and its
  // next set() had not begun (its raise of `sets` comes first).
  const std::uint64_t clears = history.clears.load(std::memory_order_seq_cst);
  const std::uint64_t sets = history.sets.load(std::memory_order_seq_cst);
  return {clears == sets, sets};
}

void World::after_event_wait(int event, const EventEntry& entry, bool result, const Worker& me, const char* call) {
  if (!result || !entry.clear) return;
  // seq_cst: the set() that released this wait happened-before here (set() releases,
  // the wait acquires), and so did its raise of `sets`.
  const std::uint64_t sets = histories[static_cast<std::size_t>(event)].sets.load(std::memory_order_seq_cst);
  if (sets == entry.sets) {
    checks.report(Violation::event_true_without_set,
                  me.name + ": " + call + " on event " + std::to_string(event) + " returned true, set() calls " +
                      std::to_string(sets) + " both before and after, the event clear at the start");
  }
}

void World::timed_out(Clock::time_point start, Clock::duration timeout, const Worker& me, const char* call) {
  timeouts.fetch_add(1, std::memory_order_relaxed);  // relaxed: see the counters' comment
  const auto now = Clock::now();
  if (now < start + timeout) {
    char text[160];
    std::snprintf(text, sizeof text, "%s: %s with a timeout of %" PRId64 " us returned after %" PRId64 " us",
                  me.name.c_str(), call, std::chrono::duration_cast<std::chrono::microseconds>(timeout).count(),
                  std::chrono::duration_cast<std::chrono::microseconds>(now - start).count());
    checks.report(Violation::early_timeout, text);
  }
}

void World::cancelled_on(const std::stop_token& token, const Worker& me, const char* call) {
  cancelled.fetch_add(1, std::memory_order_relaxed);  // relaxed: see the counters' comment
  if (!token.stop_requested()) {
    checks.report(Violation::unasked_cancel, me.name + ": " + call + (token.stop_possible() ? " (a token with no stop requested)" : " (no token)"));
  }
}

void World::saw_closed(const Worker& me, const char* call) {
  // relaxed: `closing` is stored before the rings are closed, and a call that saw a ring
  // closed read what close() stored after it.
  if (!closing.load(std::memory_order_relaxed)) {
    checks.report(Violation::early_closed, me.name + ": " + call);
  }
}

void World::set_auto(int index) {
  // relaxed: compared with the takes only after the run (the joins order it).
  auto_sets[static_cast<std::size_t>(index)].fetch_add(1, std::memory_order_relaxed);
  auto_events[static_cast<std::size_t>(index)].set();
}

void World::popped(Worker& me, Value value, int ring) {
  // relaxed: a one-shot flag; which pop loses its value does not matter.
  if (lose_pending.load(std::memory_order_relaxed) && lose_pending.exchange(false, std::memory_order_relaxed)) return;
  me.consumer->record(value, ring);
}

void World::cancel_random(std::mt19937_64& rng) {
  if (board->cancel(rng() % board->size())) cancels_requested.fetch_add(1, std::memory_order_relaxed);  // relaxed: a tally
}

std::string World::describe_state(std::uint64_t state) const {
  const Op op = Liveness::op(state);
  std::string text = std::string(form_name(Liveness::form(state))) + " " + op_name(op);
  const int object = Liveness::object(state);
  if (op == Op::event_wait && object == kEvents) {
    text += " on the event nobody sets";
  } else if (op == Op::event_wait) {
    text += " on event " + std::to_string(object) + " (set now: " + (events[static_cast<std::size_t>(object)].is_set() ? "yes" : "no") + ")";
  } else if (op == Op::auto_wait) {
    text += " on auto-reset event " + std::to_string(object);
  } else if (op == Op::push || op == Op::pop) {
    const auto& ring = *rings[static_cast<std::size_t>(object)];
    const auto snap = ring.snapshot();
    char detail[192];
    std::snprintf(detail, sizeof detail,
                  " on ring %d (capacity %zu: size %zu, closed %d, head %zu tail %zu, not_empty 0x%x not_full 0x%x)",
                  object, ring.capacity(), ring.size(), int(snap.closed), snap.head, snap.tail, snap.not_empty,
                  snap.not_full);
    text += detail;
  }
  return text;
}

std::chrono::microseconds random_timeout(std::mt19937_64& rng) {
  // Mostly short; now and then zero (checks once) or a few milliseconds.
  const std::uint64_t pick = rng() % 16;
  if (pick == 0) return std::chrono::microseconds(0);
  if (pick == 1) return std::chrono::microseconds(2000 + rng() % 3000);
  return std::chrono::microseconds(rng() % 1000);
}

}  // namespace async_stress
