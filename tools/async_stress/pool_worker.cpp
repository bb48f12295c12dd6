// SPDX-License-Identifier: MIT
// Coroutines on the thread pool: fev::async_wait(executor, event[, stop]) on the shared
// Events, each co_await through the worker's ResumeProbe (resumed once, on a pool
// thread); between waits, ring try calls and AutoResetEvent sets from the pool threads.
#include <random>
#include <stop_token>

#include "fev/async_event.hpp"
#include "resume_probe.hpp"
#include "workers.hpp"

namespace async_stress {

PoolTask pool_worker(World& world, Pool& pool, Worker& me) {
  std::mt19937_64 rng(me.seed);
  while (!world.stopping_now()) {
    const std::uint64_t pick = rng() % 8;
    if (pick < 6) {
      const int index = static_cast<int>(rng() % kEvents);
      fev::Event& event = world.events[static_cast<std::size_t>(index)];
      const EventEntry entry = world.before_event_wait(index);
      const bool stoppable = rng() % 2 == 0;
      std::stop_token token;
      if (stoppable) token = world.board->fresh(me.slot);
      me.liveness.enter(Op::event_wait, stoppable ? Form::stoppable : Form::plain, index);
      const bool result = co_await checked(*me.probe, [&] { return fev::async_wait(pool, event, token); });
      me.liveness.leave();
      if (!result) world.cancelled_on(token, me, "async_wait(executor, Event)");
      world.after_event_wait(index, entry, result, me, "async_wait(executor, Event)");
    } else {
      const int index = static_cast<int>(rng() % kRings);
      fev::Ring<Value>& ring = *world.rings[static_cast<std::size_t>(index)];
      me.liveness.enter(pick == 6 ? Op::push : Op::pop, Form::try_once, index);
      if (pick == 6) {
        const Value value = me.producer->next();
        const bool pushed = ring.try_push(Value(value));
        me.producer->record(pushed ? index : -1);
        if (pushed) me.producer->count_pushed();
      } else if (Value value = 0; ring.try_pop(value)) {
        world.popped(me, value, index);
      }
      me.liveness.leave();
    }
    world.operations.fetch_add(1, std::memory_order_relaxed);  // relaxed: a tally
    if (rng() % 16 == 0) world.cancel_random(rng);
    if (rng() % 8 == 0) world.set_auto(static_cast<int>(rng() % kAutoEvents));
  }
  me.liveness.finish();
}

}  // namespace async_stress
