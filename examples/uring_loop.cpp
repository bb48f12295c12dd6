// SPDX-License-Identifier: MIT
// Coroutines on an io_uring loop take work from plain threads through a fev::Ring, and
// stop when a fev::Event says so.
//
// Two producer threads push jobs with the ordinary, blocking Ring::push. Three worker
// coroutines on one fev::Loop take them with co_await fev::async_pop: no thread sits in
// pop(), the loop's thread sleeps in io_uring until a push wakes it. A fourth coroutine
// waits for the `shutdown` event (set by a plain thread once the producers are done)
// and then asks the workers to stop through a std::stop_source. A stop only ends a pop
// that would have to wait, so the workers first take every job still in the ring.
//
// Exit status: 0 when every job was done exactly once, 77 (skipped) where io_uring is
// unavailable (old kernel, sysctl kernel.io_uring_disabled, a seccomp filter), 1 else.
#include <atomic>
#include <cstdio>
#include <stop_token>
#include <thread>
#include <vector>

#include "fev/event.hpp"
#include "fev/loop.hpp"
#include "fev/ring.hpp"

namespace {

constexpr int kProducers = 2;
constexpr int kJobsEach = 10000;
constexpr int kWorkers = 3;

struct Job {
  int producer;
  int number;
};

// Takes jobs until a stop is requested and none is left to take.
fev::Task<> worker(fev::Loop& loop, fev::Ring<Job>& jobs, std::stop_token stop, std::vector<int>& done_count,
                   int& my_jobs) {
  for (;;) {
    fev::PopResult<Job> next = co_await fev::async_pop(loop, jobs, stop);
    if (next.status != fev::Status::ok) co_return;  // cancelled (or closed): nothing left for us
    ++done_count[next.value->producer * kJobsEach + next.value->number];
    ++my_jobs;
  }
}

// Waits for the shutdown event, then tells the workers to finish.
fev::Task<> shutdown_watcher(fev::Loop& loop, fev::Event& shutdown, std::stop_source& workers) {
  co_await fev::async_wait(loop, shutdown);
  std::puts("shutdown event set: workers finish what is in the ring, then stop");
  workers.request_stop();
}

}  // namespace

int main() {
  if (!fev::Loop::supported()) {
    std::puts("io_uring unavailable here: skipped");
    return 77;
  }
  fev::Loop loop;
  std::printf("coroutines wait %s\n",
              loop.futex_waits() ? "in io_uring futex waits" : "by polling (no io_uring futex waits here)");

  fev::Ring<Job> jobs(64);
  fev::Event shutdown;
  std::stop_source stop_workers;
  std::vector<int> done_count(kProducers * kJobsEach, 0);  // touched on the loop's thread only
  std::vector<int> per_worker(kWorkers, 0);

  for (int w = 0; w < kWorkers; ++w) loop.spawn(worker(loop, jobs, stop_workers.get_token(), done_count, per_worker[w]));
  loop.spawn(shutdown_watcher(loop, shutdown, stop_workers));

  std::vector<std::thread> producers;
  for (int p = 0; p < kProducers; ++p) {
    producers.emplace_back([&jobs, p] {
      for (int n = 0; n < kJobsEach; ++n) {
        if (!jobs.push(Job{p, n})) return;  // false only once the ring is closed (it is not, here)
      }
    });
  }
  std::thread coordinator([&] {
    for (auto& producer : producers) producer.join();
    shutdown.set();  // every push happened before: the workers will find all the jobs
  });

  loop.run();  // returns when all four coroutines have finished
  coordinator.join();

  int wrong = 0;
  for (const int count : done_count) wrong += count != 1;
  for (int w = 0; w < kWorkers; ++w) std::printf("worker %d did %d jobs\n", w, per_worker[w]);
  if (wrong != 0) {
    std::printf("%d jobs were not done exactly once\n", wrong);
    return 1;
  }
  std::printf("all %d jobs done exactly once\n", kProducers * kJobsEach);
  return 0;
}
