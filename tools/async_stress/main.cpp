// SPDX-License-Identifier: MIT
// tools/async_stress: plain threads and coroutines on two fev::Loops share Events,
// AutoResetEvents and Rings, with random timeouts and cancellations (see --help).
#include <atomic>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "fev/loop.hpp"
#include "resume_probe.hpp"
#include "workers.hpp"

namespace async_stress {
namespace {

// A loop's thread: its coroutines must resume there.
class LoopHome final : public Home {
 public:
  // release: pairs with here()'s acquire on whatever thread resumes a coroutine.
  void bind() noexcept { thread_.store(std::this_thread::get_id(), std::memory_order_release); }
  bool here() const noexcept override { return thread_.load(std::memory_order_acquire) == std::this_thread::get_id(); }

 private:
  std::atomic<std::thread::id> thread_{};
};

struct LoopSide {
  int index = 0;
  LoopHome home;
  std::vector<Worker*> workers;
  // The loop now running, for the churner's stop(); nullptr while there is none. The
  // loop's thread clears it before destroying the loop.
  std::mutex current_mutex;
  fev::Loop* current = nullptr;  // guarded by current_mutex
  // Written by the loop's thread; the watchdog's report may read it early.
  std::atomic<bool> futex_waits{false};
  // Written by the loop's thread, read after it is joined.
  std::size_t tasks_left = 0;
  std::string error;
};

// One loop's life: its workers' coroutines run until they finish or the churner stops
// the loop. True when they finished.
bool run_one_loop(World& world, LoopSide& side) {
  fev::Loop loop;  // both loops at once: the first ones probe io_uring together
  side.futex_waits.store(loop.futex_waits(), std::memory_order_relaxed);  // relaxed: a report's detail
  for (Worker* me : side.workers) loop.spawn(loop_worker(world, loop, *me));
  {
    const std::lock_guard<std::mutex> lock(side.current_mutex);
    side.current = &loop;
  }
  loop.run();
  {
    const std::lock_guard<std::mutex> lock(side.current_mutex);
    side.current = nullptr;
  }
  side.tasks_left = loop.live_tasks();
  if (side.tasks_left == 0) return true;
  // Destroyed here with its coroutines suspended inside operations, threads and the
  // other loop still pushing, popping, setting and requesting stops on them.
  return false;
}

void run_loop(World& world, LoopSide& side) {
  side.home.bind();
  try {
    while (!run_one_loop(world, side)) {
      world.loops_destroyed.fetch_add(1, std::memory_order_relaxed);  // relaxed: a tally
      for (Worker* me : side.workers) {
        me->probe->abandon();
        me->liveness.abandon();
        me->seed = me->seed * 6364136223846793005u + 1442695040888963407u;  // new choices next time
      }
    }
  } catch (const std::exception& error) {
    side.error = error.what();
    for (Worker* me : side.workers) me->liveness.finish();
  }
}

void begin_shutdown(World& world) {
  // relaxed (all three): flags polled by the workers; `closing` comes before the rings
  // are closed, so a call that saw a ring closed finds it true.
  world.closing.store(true, std::memory_order_relaxed);
  world.stopping.store(true, std::memory_order_relaxed);
  for (auto& ring : world.rings) ring->close();
}

// After the traffic stopped: a worker inside a pop on a ring that holds values, or a
// push on a ring with room, with its name and the ring's state; empty when there is none.
std::string parked_beside_work(const World& world) {
  for (const Worker& worker : world.workers) {
    if (worker.liveness.finished()) continue;
    const std::uint64_t state = worker.liveness.state();
    const Op op = Liveness::op(state);
    if (!Liveness::inside(state) || (op != Op::pop && op != Op::push)) continue;
    const auto& ring = *world.rings[static_cast<std::size_t>(Liveness::object(state))];
    const std::size_t size = ring.size();
    if ((op == Op::pop && size > 0) || (op == Op::push && size < ring.capacity())) {
      return worker.name + " stayed in one " + world.describe_state(state) +
             (op == Op::pop ? " beside a value" : " beside room");
    }
  }
  return {};
}

// Ends the run at --seconds, and fails it when a worker stays in one operation, or no
// operation completes, for --stall-seconds. Returns when every worker finished (empty)
// or with what is stuck.
std::string watch(World& world, Clock::time_point start) {
  const auto stall = std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(world.options.stall_seconds));
  const auto run_for = std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(world.options.seconds));
  const auto progress_every =
      std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(world.options.progress_seconds));
  struct Seen {
    std::uint64_t state = ~std::uint64_t{0};
    Clock::time_point since;
  };
  std::vector<Seen> seen(world.workers.size());
  std::uint64_t last_total = ~std::uint64_t{0};
  auto last_move = start;
  auto last_print = start;
  // --churn-ms: at the end the traffic stops first (no new operations, no loop destroyed
  // any more), and the rings are closed only once no worker sits in a pop beside a value
  // or a push beside room. One left parked there by a wake that a destroyed loop took and
  // never passed on stays, with nobody new to take the wake over: the run fails.
  bool draining = false;
  auto drain_start = start;
  for (;;) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    const auto now = Clock::now();
    if (!world.stopping_now() && now - start >= run_for) {
      if (world.options.churn_ms > 0) {
        world.stopping.store(true, std::memory_order_relaxed);  // relaxed: a flag the workers poll
        draining = true;
        drain_start = now;
      } else {
        begin_shutdown(world);
      }
    }
    if (draining) {
      const std::string beside = parked_beside_work(world);
      if (beside.empty()) {
        draining = false;
        begin_shutdown(world);
      } else if (now - drain_start >= stall) {
        return "after the traffic stopped: " + beside;
      }
    }
    const char* phase = world.stopping_now() ? "after the rings were closed and the events set" : "while running";
    bool all_finished = true;
    std::uint64_t total = 0;
    std::size_t oldest = 0;
    for (std::size_t i = 0; i < world.workers.size(); ++i) {
      const Worker& worker = world.workers[i];
      const std::uint64_t state = worker.liveness.state();
      total += Liveness::completed(state);
      if (worker.liveness.finished()) continue;
      all_finished = false;
      if (state != seen[i].state) {
        seen[i] = {state, now};
        continue;
      }
      if (seen[i].since < seen[oldest].since || world.workers[oldest].liveness.finished()) oldest = i;
      if (Liveness::inside(state) && now - seen[i].since >= stall) {
        char text[96];
        std::snprintf(text, sizeof text, " for %.1f s ", std::chrono::duration<double>(now - seen[i].since).count());
        return "stall: " + worker.name + " stayed in one " + world.describe_state(state) + text + phase;
      }
    }
    if (all_finished) return {};
    if (total != last_total) {
      last_total = total;
      last_move = now;
    } else if (now - last_move >= stall) {
      const Worker& worker = world.workers[oldest];
      const std::uint64_t state = worker.liveness.state();
      char text[96];
      std::snprintf(text, sizeof text, "stall: no operation completed for %.1f s ", world.options.stall_seconds);
      return text + std::string(phase) + "; " + worker.name +
             (Liveness::inside(state) ? " is in one " + world.describe_state(state) : std::string(" is between operations"));
    }
    if (now - last_print >= progress_every) {
      last_print = now;
      std::printf("  %.1f s: %" PRIu64 " operations, %" PRIu64 " co_awaits suspended, %" PRIu64 " resumed\n",
                  std::chrono::duration<double>(now - start).count(), total,
                  world.suspensions.load(std::memory_order_relaxed), world.resumes.load(std::memory_order_relaxed));
      std::fflush(stdout);
    }
  }
}

// --churn-ms: stops each loop every 1..2 churn_ms ms, so that its thread destroys it
// live and builds a new one; until the workers are told to stop.
void run_churner(World& world, std::vector<std::unique_ptr<LoopSide>>& loops) {
  std::mt19937_64 rng(world.options.seed * 7919 + 5);
  const auto churn = std::chrono::milliseconds(world.options.churn_ms);
  while (!world.stopping_now()) {
    std::this_thread::sleep_for(churn + std::chrono::milliseconds(rng() % static_cast<std::uint64_t>(churn.count() + 1)));
    for (auto& side : loops) {
      const std::lock_guard<std::mutex> lock(side->current_mutex);
      if (side->current != nullptr && !world.stopping_now()) side->current->stop();
    }
  }
}

// After every thread is joined: the checks that need the whole run.
std::string verify(World& world, const std::vector<std::unique_ptr<LoopSide>>& loops) {
  std::string problems = world.ledger.verify();
  for (int index = 0; index < kAutoEvents; ++index) {
    const auto i = static_cast<std::size_t>(index);
    const std::uint64_t left = world.auto_events[i].try_wait() ? 1 : 0;
    const std::uint64_t sets = world.auto_sets[i].load(std::memory_order_relaxed);    // relaxed: after the joins
    const std::uint64_t takes = world.auto_takes[i].load(std::memory_order_relaxed);  // relaxed: after the joins
    if (takes + left > sets) {
      world.checks.report(Violation::auto_signals_invented,
                          "auto-reset event " + std::to_string(index) + ": " + std::to_string(takes) + " taken + " +
                              std::to_string(left) + " left for " + std::to_string(sets) + " set() calls");
    }
  }
  for (const Worker& worker : world.workers) {
    if (worker.probe && !worker.probe->idle()) {
      world.checks.report(Violation::never_resumed, worker.name + " finished with a co_await still armed");
    }
  }
  // relaxed (both): after the joins.
  const std::uint64_t suspensions = world.suspensions.load(std::memory_order_relaxed);
  const std::uint64_t resumes = world.resumes.load(std::memory_order_relaxed);
  const std::uint64_t abandoned = world.abandoned.load(std::memory_order_relaxed);
  if (suspensions != resumes + abandoned) {
    world.checks.report(Violation::never_resumed, std::to_string(suspensions) + " co_awaits suspended, " +
                                                      std::to_string(resumes) + " resumed, " +
                                                      std::to_string(abandoned) + " destroyed with their loop");
  }
  if (world.options.churn_ms > 0 && world.loops_destroyed.load(std::memory_order_relaxed) == 0) {
    world.checks.report(Violation::bad_result, "--churn-ms: no loop was destroyed under traffic");
  }
  problems += world.checks.summary();
  for (const auto& side : loops) {
    const std::string name = "loop " + std::to_string(side->index);
    if (!side->error.empty()) problems += name + " failed: " + side->error + "; ";
    if (side->tasks_left != 0) problems += name + " returned with " + std::to_string(side->tasks_left) + " tasks left; ";
    if (world.options.fallback && side->futex_waits.load(std::memory_order_relaxed)) problems += name + " used futex waits although --fallback forced polling; ";
  }
  for (const auto& ring : world.rings) {
    Value value = 0;
    if (!ring->closed()) problems += "a ring was not closed at the end; ";
    if (ring->try_pop(value)) problems += "a ring still held a value after the drain; ";
  }
  return problems;
}

// "4 threads, 2 loops x 6 coroutines (futex waits), seed 1"
std::string label(const Options& options, const std::vector<std::unique_ptr<LoopSide>>& loops) {
  bool futex = true;
  for (const auto& side : loops) futex = futex && side->futex_waits.load(std::memory_order_relaxed);  // relaxed: see run_loop
  char text[192];
  std::snprintf(text, sizeof text, "%d threads, 2 loops x %d coroutines (%s), pool %d x %d coroutines, seed %" PRIu64,
                options.threads, options.coroutines,
                options.fallback ? "forced fallback: polling" : futex ? "io_uring futex waits" : "fallback: polling",
                options.pool_threads, options.pool_coroutines, options.seed);
  return text;
}

// Reports a failed run and ends the process without joining (threads may be stuck).
[[noreturn]] void fail(const Options& options, const std::string& what, std::string problems) {
  while (!problems.empty() && (problems.back() == ' ' || problems.back() == ';')) problems.pop_back();
  std::printf("FAIL: %s: %s\n", what.c_str(), problems.c_str());
  if (options.expect_failure) std::printf("self-test OK: the harness caught the broken run\n");
  std::fflush(stdout);
  std::_Exit(options.expect_failure ? 0 : 1);
}

int run(const Options& options) {
  // Never destroyed when the run fails: std::_Exit leaves stuck threads behind.
  auto world = std::make_unique<World>(options);
  const auto add_worker = [&](std::string name) -> Worker& {
    Worker& worker = world->workers.emplace_back();
    worker.name = std::move(name);
    worker.producer = &world->ledger.add_producer();
    worker.consumer = &world->ledger.add_consumer();
    worker.slot = world->workers.size() - 1;
    worker.seed = options.seed * 1000003u + worker.slot;
    return worker;
  };
  for (int t = 0; t < options.threads; ++t) add_worker("thread " + std::to_string(t));
  std::vector<std::unique_ptr<LoopSide>> loops;
  for (int l = 0; l < 2; ++l) {
    auto& side = *loops.emplace_back(std::make_unique<LoopSide>());
    side.index = l;
    for (int c = 0; c < options.coroutines; ++c) {
      Worker& worker = add_worker("coroutine " + std::to_string(c) + " on loop " + std::to_string(l));
      worker.probe = std::make_unique<ResumeProbe>(*world, side.home, worker);
      worker.stuck = options.stuck_coroutine && l == 0 && c == 0;
      side.workers.push_back(&worker);
    }
  }
  Pool pool(options.pool_coroutines > 0 ? options.pool_threads : 0);
  std::vector<Worker*> pool_workers;
  for (int c = 0; c < options.pool_coroutines; ++c) {
    Worker& worker = add_worker("coroutine " + std::to_string(c) + " on the pool");
    worker.probe = std::make_unique<ResumeProbe>(*world, pool, worker);
    pool_workers.push_back(&worker);
  }
  world->board = std::make_unique<CancelBoard>(world->workers.size());
  // Outside the watchdog's list: the pump only tries, and the drain runs at the end.
  Worker pump;
  pump.name = "pump";
  pump.producer = &world->ledger.add_producer();
  pump.consumer = &world->ledger.add_consumer();
  Worker drain;
  drain.name = "drain";
  drain.consumer = &world->ledger.add_consumer();

  const auto start = Clock::now();
  std::vector<std::thread> threads;
  for (int t = 0; t < options.threads; ++t) {
    threads.emplace_back([&world, t] { run_thread_worker(*world, world->workers[static_cast<std::size_t>(t)]); });
  }
  for (auto& side : loops) threads.emplace_back([&world, &side] { run_loop(*world, *side); });
  std::thread setter([&world] { run_setter(*world); });
  std::thread canceller([&world] { run_canceller(*world); });
  std::thread pumper([&world, &pump] { run_pump(*world, pump); });
  std::thread churner;
  if (options.churn_ms > 0) churner = std::thread([&world, &loops] { run_churner(*world, loops); });
  for (Worker* worker : pool_workers) pool_worker(*world, pool, *worker).start(pool);

  const std::string stall = watch(*world, start);
  if (!stall.empty()) fail(options, label(options, loops), stall);  // stuck threads stay unjoined
  world->helpers_stop.store(true, std::memory_order_relaxed);         // relaxed: the joins order the rest
  pool.stop();
  for (auto& thread : threads) thread.join();
  setter.join();
  canceller.join();
  pumper.join();
  if (churner.joinable()) churner.join();
  for (int index = 0; index < kRings; ++index) {
    Value value = 0;
    while (world->rings[static_cast<std::size_t>(index)]->try_pop(value)) world->popped(drain, value, index);
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  const std::string problems = verify(*world, loops);
  if (!problems.empty()) fail(options, label(options, loops), problems);
  // relaxed (the tallies): read after the joins.
  std::printf("PASS: %s: %" PRIu64 " operations; %" PRIu64 " values pushed, each popped exactly once; %" PRIu64
              " co_awaits suspended, each resumed once on its loop's thread or the pool; %" PRIu64 " timeouts, %" PRIu64
              " cancelled (%" PRIu64 " stops requested); %" PRIu64 " loops destroyed under traffic with %" PRIu64
              " co_awaits suspended in them; %.2f s\n",
              label(options, loops).c_str(), world->operations.load(std::memory_order_relaxed),
              world->ledger.total_pushed(), world->suspensions.load(std::memory_order_relaxed),
              world->timeouts.load(std::memory_order_relaxed), world->cancelled.load(std::memory_order_relaxed),
              world->cancels_requested.load(std::memory_order_relaxed),
              world->loops_destroyed.load(std::memory_order_relaxed), world->abandoned.load(std::memory_order_relaxed),
              seconds);
  std::fflush(stdout);
  if (options.expect_failure) {
    std::printf("self-test FAILED: the run was expected to fail and passed\n");
    return 1;
  }
  return 0;
}

}  // namespace
}  // namespace async_stress

int main(int argc, char** argv) {
  using namespace async_stress;
  const Options options = parse(argc, argv);
  if (!fev::Loop::supported()) {
    std::printf("SKIP: io_uring cannot be set up here (kernel, sysctl or seccomp)\n");
    return 77;
  }
  fev::detail::force_loop_fallback(options.fallback);
  return run(options);
}
