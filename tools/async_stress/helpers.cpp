// SPDX-License-Identifier: MIT
// The helper threads: the Events' setter, the canceller and the ring pump.
#include <chrono>
#include <random>
#include <thread>

#include "workers.hpp"

namespace async_stress {
namespace {

// relaxed: a flag polled; the joins order what the helpers did.
bool helpers_stopping(const World& world) { return world.helpers_stop.load(std::memory_order_relaxed); }

void pause(std::mt19937_64& rng, unsigned max_us) {
  const unsigned us = static_cast<unsigned>(rng() % (max_us + 1));
  if (us == 0) std::this_thread::yield();
  else std::this_thread::sleep_for(std::chrono::microseconds(us));
}

}  // namespace

void run_setter(World& world) {
  std::mt19937_64 rng(world.options.seed * 7919 + 1);
  while (!world.stopping_now()) {
    const std::size_t index = rng() % kEvents;
    EventHistory& history = world.histories[index];
    fev::Event& event = world.events[index];
    // seq_cst (sets, clears): the order World::before_event_wait reasons with. sets is
    // raised before set(), clears after clear().
    history.sets.fetch_add(1, std::memory_order_seq_cst);
    event.set();
    // Mostly a pulse (set() releases the waiters even if clear() follows at once),
    // sometimes left set for a while, so that waits also find it set.
    if (rng() % 4 == 0) pause(rng, 300);
    event.clear();
    history.clears.fetch_add(1, std::memory_order_seq_cst);
    if (rng() % 2 == 0) world.set_auto(static_cast<int>(rng() % kAutoEvents));
    pause(rng, 200);
  }
  // The end: every Event stays set, and the AutoResetEvents are set until every waiter
  // is gone.
  for (std::size_t index = 0; index < kEvents; ++index) {
    world.histories[index].sets.fetch_add(1, std::memory_order_seq_cst);  // seq_cst: as above
    world.events[index].set();
  }
  while (!helpers_stopping(world)) {
    for (int index = 0; index < kAutoEvents; ++index) world.set_auto(index);
    std::this_thread::sleep_for(std::chrono::microseconds(100));
  }
}

void run_canceller(World& world) {
  std::mt19937_64 rng(world.options.seed * 7919 + 2);
  while (!helpers_stopping(world)) {
    world.cancel_random(rng);
    pause(rng, 300);
  }
}

void run_pump(World& world, Worker& me) {
  std::mt19937_64 rng(world.options.seed * 7919 + 3);
  while (!world.stopping_now()) {
    for (int index = 0; index < kRings; ++index) {
      fev::Ring<Value>& ring = *world.rings[static_cast<std::size_t>(index)];
      if (ring.size() == ring.capacity()) {
        Value value = 0;
        if (ring.try_pop(value)) world.popped(me, value, index);
      } else if (ring.size() == 0) {
        const Value value = me.producer->next();
        const bool pushed = ring.try_push(Value(value));
        me.producer->record(pushed ? index : -1);
        if (pushed) me.producer->count_pushed();
      }
    }
    pause(rng, 500);
  }
  me.liveness.finish();
}

}  // namespace async_stress
