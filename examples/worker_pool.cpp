// SPDX-License-Identifier: MIT
// A worker pool fed by a fev::Ring of jobs, shut down by close().
//
// The main thread submits jobs, each a heap object owned by a std::unique_ptr while it
// travels; a few worker threads pop them and run them. When a full ring makes push()
// wait, the submitter is held back until a worker frees a slot (backpressure).
// Shutdown is one call, close(): a push() after it returns false (and keeps its job),
// the workers still drain every job that was accepted, and then pop() returns nullopt
// to each of them, so the workers return and can be joined. No job is lost or run twice.
#include <fev/ring.hpp>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

namespace {

// A job: adds the square of its number to a shared total.
struct Job {
  std::uint64_t number;
  std::atomic<std::uint64_t>* total;
  void run() const { total->fetch_add(number * number, std::memory_order_relaxed); }  // read after join
};

}  // namespace

int main() {
  constexpr int kWorkers = 4;
  constexpr std::uint64_t kJobs = 10000;

  // Capacity: at most 64 jobs wait in the ring; a 65th push() waits for a worker.
  // Memory: the ring allocates all its slots up front, one cache line each for a small T
  // like this 8-byte std::unique_ptr (a slot holds the value and an 8-byte turn counter;
  // a bigger T takes whole multiples of the line). On x86-64, with 64-byte lines, 64
  // slots take 4 KiB here (8 KiB on aarch64: 128); the jobs themselves live on the heap.
  constexpr std::size_t kCapacity = 64;
  fev::Ring<std::unique_ptr<Job>> jobs(kCapacity);

  std::atomic<std::uint64_t> total{0};
  std::vector<std::uint64_t> runs(kWorkers, 0);  // jobs run by each worker, read after join
  std::vector<std::thread> workers;
  for (int w = 0; w < kWorkers; ++w) {
    workers.emplace_back([&jobs, &runs, w] {
      // pop() blocks while the ring is empty and returns nullopt once it is closed and
      // drained: the loop ends exactly when there is no more work, ever.
      while (std::optional<std::unique_ptr<Job>> job = jobs.pop()) {
        (*job)->run();
        ++runs[static_cast<std::size_t>(w)];
      }
    });
  }

  for (std::uint64_t n = 1; n <= kJobs; ++n) {
    if (!jobs.push(std::make_unique<Job>(Job{n, &total}))) {
      std::fprintf(stderr, "the ring closed while jobs were being submitted\n");
      return 1;
    }
  }
  jobs.close();  // no more jobs; the workers finish the queued ones and return

  // After close(), a submission fails and the caller keeps its job.
  auto late = std::make_unique<Job>(Job{0, &total});
  const bool late_accepted = jobs.push(std::move(late));

  for (std::thread& worker : workers) worker.join();

  std::uint64_t ran = 0;
  for (int w = 0; w < kWorkers; ++w) {
    std::printf("worker %d ran %llu jobs\n", w, static_cast<unsigned long long>(runs[static_cast<std::size_t>(w)]));
    ran += runs[static_cast<std::size_t>(w)];
  }
  const std::uint64_t expected = kJobs * (kJobs + 1) * (2 * kJobs + 1) / 6;  // 1^2 + ... + kJobs^2
  std::printf("%llu jobs ran (submitted %llu); sum of squares %llu, expected %llu; slot memory %zu bytes\n",
              static_cast<unsigned long long>(ran), static_cast<unsigned long long>(kJobs),
              static_cast<unsigned long long>(total.load()), static_cast<unsigned long long>(expected),
              fev::Ring<std::unique_ptr<Job>>::storage_bytes(kCapacity));
  if (late_accepted || late == nullptr) {
    std::fprintf(stderr, "a push after close() was accepted\n");
    return 1;
  }
  return ran == kJobs && total.load() == expected ? 0 : 1;
}
