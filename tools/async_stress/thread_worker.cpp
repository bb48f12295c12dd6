// SPDX-License-Identifier: MIT
// Plain threads: every blocking form of the Event, AutoResetEvent and Ring calls.
#include <chrono>
#include <random>
#include <stop_token>

#include "workers.hpp"

namespace async_stress {
namespace {

void event_wait(World& world, Worker& me, std::mt19937_64& rng) {
  const int index = static_cast<int>(rng() % kEvents);
  fev::Event& event = world.events[static_cast<std::size_t>(index)];
  const EventEntry entry = world.before_event_wait(index);
  bool result = true;
  switch (rng() % 3) {
    case 0:
      me.liveness.enter(Op::event_wait, Form::plain, index);
      event.wait();
      break;
    case 1: {
      const auto timeout = random_timeout(rng);
      me.liveness.enter(Op::event_wait, Form::timed, index);
      const auto start = Clock::now();
      result = event.wait_for(timeout);
      if (!result) world.timed_out(start, timeout, me, "Event::wait_for");
      break;
    }
    default: {
      const std::stop_token token = world.board->fresh(me.slot);
      me.liveness.enter(Op::event_wait, Form::stoppable, index);
      result = event.wait(token);
      if (!result) world.cancelled_on(token, me, "Event::wait(stop_token)");
      break;
    }
  }
  me.liveness.leave();
  world.after_event_wait(index, entry, result, me, "Event wait");
}

void auto_wait(World& world, Worker& me, std::mt19937_64& rng) {
  const int index = static_cast<int>(rng() % kAutoEvents);
  fev::AutoResetEvent& event = world.auto_events[static_cast<std::size_t>(index)];
  bool took = true;
  switch (rng() % 3) {
    case 0:
      me.liveness.enter(Op::auto_wait, Form::plain, index);
      event.wait();
      break;
    case 1: {
      const auto timeout = random_timeout(rng);
      me.liveness.enter(Op::auto_wait, Form::timed, index);
      const auto start = Clock::now();
      took = event.wait_for(timeout);
      if (!took) world.timed_out(start, timeout, me, "AutoResetEvent::wait_for");
      break;
    }
    default:
      me.liveness.enter(Op::auto_wait, Form::try_once, index);
      took = event.try_wait();
      break;
  }
  me.liveness.leave();
  if (took) world.took_auto(index);
}

// What a push or pop call reported, checked and counted; true iff it went through.
bool settle(World& world, Worker& me, fev::Status status, Form form, Clock::time_point start,
            Clock::duration timeout, const std::stop_token& token, const char* call) {
  switch (status) {
    case fev::Status::ok: return true;
    case fev::Status::timeout:
      if (form == Form::timed) world.timed_out(start, timeout, me, call);
      return false;
    case fev::Status::cancelled: world.cancelled_on(token, me, call); return false;
    case fev::Status::closed: world.saw_closed(me, call); return false;
  }
  return false;
}

void push(World& world, Worker& me, std::mt19937_64& rng) {
  const int index = static_cast<int>(rng() % kRings);
  fev::Ring<Value>& ring = *world.rings[static_cast<std::size_t>(index)];
  const Value value = me.producer->next();
  const Form form = rng() % 4 == 3 ? Form::try_once : static_cast<Form>(rng() % 3);  // plain, timed, stoppable
  const auto timeout = random_timeout(rng);
  std::stop_token token;
  if (form == Form::stoppable) token = world.board->fresh(me.slot);
  me.liveness.enter(Op::push, form, index);
  const auto start = Clock::now();
  fev::Status status = fev::Status::ok;
  const char* call = "Ring::push";
  switch (form) {
    case Form::plain: status = ring.push(Value(value)) ? fev::Status::ok : fev::Status::closed; break;
    case Form::timed: status = ring.push_for(Value(value), timeout), call = "Ring::push_for"; break;
    case Form::stoppable: status = ring.push(Value(value), token), call = "Ring::push(stop_token)"; break;
    default: status = ring.try_push(Value(value)) ? fev::Status::ok : fev::Status::timeout, call = "Ring::try_push"; break;
  }
  me.liveness.leave();
  const bool pushed = settle(world, me, status, form, start, timeout, token, call);
  me.producer->record(pushed ? index : -1);
  if (pushed) me.producer->count_pushed();
}

void pop(World& world, Worker& me, std::mt19937_64& rng) {
  const int index = static_cast<int>(rng() % kRings);
  fev::Ring<Value>& ring = *world.rings[static_cast<std::size_t>(index)];
  const Form form = rng() % 4 == 3 ? Form::try_once : static_cast<Form>(rng() % 3);  // plain, timed, stoppable
  const auto timeout = random_timeout(rng);
  std::stop_token token;
  if (form == Form::stoppable) token = world.board->fresh(me.slot);
  me.liveness.enter(Op::pop, form, index);
  const auto start = Clock::now();
  Value value = 0;
  fev::Status status = fev::Status::ok;
  const char* call = "Ring::pop";
  switch (form) {
    case Form::plain: status = ring.pop(value) ? fev::Status::ok : fev::Status::closed; break;
    case Form::timed: status = ring.pop_for(value, timeout), call = "Ring::pop_for"; break;
    case Form::stoppable: status = ring.pop(value, token), call = "Ring::pop(stop_token)"; break;
    default: status = ring.try_pop(value) ? fev::Status::ok : fev::Status::timeout, call = "Ring::try_pop"; break;
  }
  me.liveness.leave();
  if (settle(world, me, status, form, start, timeout, token, call)) world.popped(me, value, index);
}

}  // namespace

void run_thread_worker(World& world, Worker& me) {
  std::mt19937_64 rng(me.seed);
  while (!world.stopping_now()) {
    const std::uint64_t pick = rng() % 16;
    if (pick < 3) event_wait(world, me, rng);
    else if (pick < 6) auto_wait(world, me, rng);
    else if (pick < 11) push(world, me, rng);
    else pop(world, me, rng);
    world.operations.fetch_add(1, std::memory_order_relaxed);  // relaxed: a tally
    if (rng() % 16 == 0) world.cancel_random(rng);
    if (rng() % 8 == 0) world.set_auto(static_cast<int>(rng() % kAutoEvents));
  }
  me.liveness.finish();
}

}  // namespace async_stress
