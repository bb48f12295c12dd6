// SPDX-License-Identifier: MIT
// The workers of tools/async_stress: plain threads, coroutines on a fev::Loop,
// coroutines on a thread pool, and the helper threads (the setter of the events, the
// canceller, the ring pump).
#pragma once

#include "fev/loop.hpp"
#include "pool.hpp"
#include "world.hpp"

namespace async_stress {

// Random Event, AutoResetEvent, push and pop calls in every blocking form, until
// world.stopping; then finish().
void run_thread_worker(World& world, Worker& me);

// The same with co_await on `loop`, with every suspension checked by me.probe.
fev::Task<> loop_worker(World& world, fev::Loop& loop, Worker& me);

// Waits on the Events with fev::async_wait(pool, event[, stop]), and ring try calls,
// until world.stopping; then finish(). Start it with .start(pool).
PoolTask pool_worker(World& world, Pool& pool, Worker& me);

// The only setter and clearer of the Events (their histories depend on it); it also sets
// the AutoResetEvents. After world.stopping it leaves every Event set and keeps setting
// the AutoResetEvents until world.helpers_stop.
void run_setter(World& world);
// Requests stops on random workers' current operations until world.helpers_stop.
void run_canceller(World& world);
// Keeps every ring moving, so that no mix of untimed waits can block all the workers:
// takes a value from a full ring, puts one into an empty ring (try calls only).
void run_pump(World& world, Worker& me);

}  // namespace async_stress
