// SPDX-License-Identifier: MIT
// Coroutines on a fev::Loop: every awaitable form on the Events, AutoResetEvents and
// Rings, each co_await through the worker's ResumeProbe. Each step is a Task of its own,
// awaited by the worker, so that `co_await task` is exercised as well.
#include <chrono>
#include <optional>
#include <random>
#include <stop_token>

#include "resume_probe.hpp"
#include "workers.hpp"

namespace async_stress {
namespace {

// plain, timed, stoppable or timed_stoppable.
Form pick_wait_form(std::mt19937_64& rng) { return static_cast<Form>(rng() % 4); }
bool is_timed(Form form) { return form == Form::timed || form == Form::timed_stoppable; }
bool is_stoppable(Form form) { return form == Form::stoppable || form == Form::timed_stoppable; }

fev::Task<> event_wait(World& world, fev::Loop& loop, Worker& me, std::mt19937_64& rng) {
  const int index = static_cast<int>(rng() % kEvents);
  fev::Event& event = world.events[static_cast<std::size_t>(index)];
  const EventEntry entry = world.before_event_wait(index);
  const Form form = pick_wait_form(rng);
  const auto timeout = random_timeout(rng);
  std::stop_token token;
  if (is_stoppable(form)) token = world.board->fresh(me.slot);
  me.liveness.enter(Op::event_wait, form, index);
  const auto start = Clock::now();
  bool result = false;
  if (is_timed(form)) {
    result = co_await checked(*me.probe, [&] { return fev::async_wait_for(loop, event, timeout, token); });
  } else {
    result = co_await checked(*me.probe, [&] { return fev::async_wait(loop, event, token); });
  }
  me.liveness.leave();
  if (!result) {
    // A stop request ends either form; without one, only the deadline ends a timed wait.
    if (is_timed(form) && !token.stop_requested()) world.timed_out(start, timeout, me, "async_wait_for(Event)");
    else world.cancelled_on(token, me, is_timed(form) ? "async_wait_for(Event)" : "async_wait(Event)");
  }
  world.after_event_wait(index, entry, result, me, "async_wait");
}

fev::Task<> auto_wait(World& world, fev::Loop& loop, Worker& me, std::mt19937_64& rng) {
  const int index = static_cast<int>(rng() % kAutoEvents);
  fev::AutoResetEvent& event = world.auto_events[static_cast<std::size_t>(index)];
  const Form form = pick_wait_form(rng);
  const auto timeout = random_timeout(rng);
  std::stop_token token;
  if (is_stoppable(form)) token = world.board->fresh(me.slot);
  me.liveness.enter(Op::auto_wait, form, index);
  const auto start = Clock::now();
  bool took = false;
  if (is_timed(form)) {
    took = co_await checked(*me.probe, [&] { return fev::async_wait_for(loop, event, timeout, token); });
  } else {
    took = co_await checked(*me.probe, [&] { return fev::async_wait(loop, event, token); });
  }
  me.liveness.leave();
  if (took) {
    world.took_auto(index);
  } else if (is_timed(form) && !token.stop_requested()) {
    world.timed_out(start, timeout, me, "async_wait_for(AutoResetEvent)");
  } else {
    world.cancelled_on(token, me, is_timed(form) ? "async_wait_for(AutoResetEvent)" : "async_wait(AutoResetEvent)");
  }
}

fev::Task<> push(World& world, fev::Loop& loop, Worker& me, std::mt19937_64& rng) {
  const int index = static_cast<int>(rng() % kRings);
  fev::Ring<Value>& ring = *world.rings[static_cast<std::size_t>(index)];
  Value value = me.producer->next();
  const bool stoppable = rng() % 2 == 0;
  me.liveness.enter(Op::push, stoppable ? Form::stoppable : Form::plain, index);
  fev::Status status = fev::Status::ok;
  if (stoppable) {
    const std::stop_token token = world.board->fresh(me.slot);
    status = co_await checked(*me.probe, [&] { return fev::async_push(loop, ring, std::move(value), token); });
    if (status == fev::Status::cancelled) world.cancelled_on(token, me, "async_push(stop_token)");
  } else {
    const bool pushed = co_await checked(*me.probe, [&] { return fev::async_push(loop, ring, std::move(value)); });
    status = pushed ? fev::Status::ok : fev::Status::closed;
  }
  me.liveness.leave();
  if (status == fev::Status::closed) world.saw_closed(me, "async_push");
  if (status == fev::Status::timeout) world.checks.report(Violation::bad_result, me.name + ": async_push reported a timeout");
  const bool pushed = status == fev::Status::ok;
  me.producer->record(pushed ? index : -1);
  if (pushed) me.producer->count_pushed();
}

fev::Task<> pop(World& world, fev::Loop& loop, Worker& me, std::mt19937_64& rng) {
  const int index = static_cast<int>(rng() % kRings);
  fev::Ring<Value>& ring = *world.rings[static_cast<std::size_t>(index)];
  const bool stoppable = rng() % 2 == 0;
  me.liveness.enter(Op::pop, stoppable ? Form::stoppable : Form::plain, index);
  std::optional<Value> value;
  fev::Status status = fev::Status::ok;
  if (stoppable) {
    const std::stop_token token = world.board->fresh(me.slot);
    fev::PopResult<Value> result = co_await checked(*me.probe, [&] { return fev::async_pop(loop, ring, token); });
    status = result.status;
    value = result.value;
    if (status == fev::Status::cancelled) world.cancelled_on(token, me, "async_pop(stop_token)");
    if ((status == fev::Status::ok) != value.has_value()) {
      world.checks.report(Violation::bad_result, me.name + ": async_pop's status and value disagree");
    }
  } else {
    value = co_await checked(*me.probe, [&] { return fev::async_pop(loop, ring); });
    status = value ? fev::Status::ok : fev::Status::closed;
  }
  me.liveness.leave();
  if (status == fev::Status::closed) world.saw_closed(me, "async_pop");
  if (status == fev::Status::timeout) world.checks.report(Violation::bad_result, me.name + ": async_pop reported a timeout");
  if (value) world.popped(me, *value, index);
}

// A timed wait on an event nobody sets: it suspends, and the loop resumes it after the
// timeout from its own turn, on a fresh stack. Where `co_await task` is not a tail call
// (g++ with AddressSanitizer), steps that complete without suspending nest a frame each;
// this bounds the nesting.
fev::Task<> breathe(World& world, fev::Loop& loop, Worker& me) {
  const std::uint64_t suspended = me.probe->suspensions();
  while (me.probe->suspensions() == suspended) {
    const auto timeout = std::chrono::microseconds(200);
    const auto start = Clock::now();
    if (co_await checked(*me.probe, [&] { return fev::async_wait_for(loop, world.never_set, timeout); })) {
      world.checks.report(Violation::bad_result, me.name + ": async_wait_for on an event never set returned true");
    } else {
      world.timed_out(start, timeout, me, "async_wait_for(Event never set)");
    }
  }
}

}  // namespace

fev::Task<> loop_worker(World& world, fev::Loop& loop, Worker& me) {
  std::mt19937_64 rng(me.seed);
  std::uint64_t suspended = 0;
  int steps_without_suspending = 0;
  if (me.stuck) {
    me.liveness.enter(Op::event_wait, Form::plain, kEvents);
    (void)co_await checked(*me.probe, [&] { return fev::async_wait(loop, world.never_set); });
    me.liveness.leave();
  }
  while (!world.stopping_now()) {
    if (const std::uint64_t now = me.probe->suspensions(); now != suspended) {
      suspended = now;
      steps_without_suspending = 0;
    } else if (++steps_without_suspending == 32) {
      co_await breathe(world, loop, me);
    }
    const std::uint64_t pick = rng() % 16;
    if (pick < 3) co_await event_wait(world, loop, me, rng);
    else if (pick < 6) co_await auto_wait(world, loop, me, rng);
    else if (pick < 11) co_await push(world, loop, me, rng);
    else co_await pop(world, loop, me, rng);
    world.operations.fetch_add(1, std::memory_order_relaxed);  // relaxed: a tally
    if (rng() % 16 == 0) world.cancel_random(rng);
    if (rng() % 8 == 0) world.set_auto(static_cast<int>(rng() % kAutoEvents));
  }
  me.liveness.finish();
}

}  // namespace async_stress
