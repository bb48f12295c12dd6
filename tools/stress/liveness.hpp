// SPDX-License-Identifier: MIT
// Per-thread liveness for tools/stress: each producer and consumer says whether it is
// inside a ring operation, and the watchdog reports a thread that stayed inside one
// blocking operation, or inside one ring call of a try or timed retry loop, asleep in
// the kernel at every sample, for longer than the stall limit while there was work it
// could have taken (items in the ring for a consumer, free slots for a producer) at
// every sample.
//
// What it catches is a missed wake: a thread parked beside work. So only a thread that
// sleeps counts; one that is runnable but gets no CPU (a loaded machine: two busy
// processes beside the run, other tests) is slow, not stuck, and restarts its window.
// Nor does a sleeper's time count while a wake is on its way on its side and a thread
// of its role that is inside an operation is runnable: that thread holds the wake (or
// is about to take the work) and passes it on once it gets a CPU; the window pauses.
// A wake that nobody holds (every thread of the role asleep) counts.
// With several rings, each operation names the rings it waits on (a push or a plain pop
// one, a select every ring it selects over): work for it is work in any of them, and a
// wake on its way on one of them pauses its window only when a runnable thread of its
// role that waits on that ring may hold it.
// A blocking push or pop is judged as a whole. A retry loop's calls never park past
// their timeout (a try never parks at all), so each returns on its own; a loop that
// keeps losing the race for the work is starved, which the ring does not promise to
// prevent. Its window restarts with every call it makes.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "thread_state.hpp"

namespace stress {

using Clock = std::chrono::steady_clock;

enum class Role { producer, consumer };

// How a thread is calling the ring right now: the kinds of --mode, one per operation.
enum class CallKind : std::uint64_t { try_loop = 0, blocking = 1, timed_loop = 2 };

// The most rings one run drives (a thread's operation names its rings in a bit mask).
inline constexpr int kMaxRings = 8;

// One producer's or consumer's published state. Written only by its own thread, read by
// the watchdog; one cache-line pair each, so the threads do not share lines.
class alignas(128) ThreadLiveness {
 public:
  // The thread starts an operation (a push or a pop that may take several ring calls)
  // on the rings in `rings` (bit r: ring r; a select names every ring it waits on).
  void enter(CallKind kind, std::uint32_t rings = 1u) noexcept {
    // relaxed: a monitoring value read by the watchdog's samples; it orders nothing.
    state_.store(completed_ << kCompletedShift | std::uint64_t{rings & kRingsMask} << 3 |
                     static_cast<std::uint64_t>(kind) << 1 | 1u,
                 std::memory_order_relaxed);
  }
  // The operation returned (done, closed or given up).
  void leave() noexcept {
    ++completed_;
    // relaxed: as in enter().
    state_.store(completed_ << kCompletedShift, std::memory_order_relaxed);
  }
  // Called by the thread itself before its first operation, so that the watchdog can
  // ask the kernel whether it sleeps.
  void register_thread() noexcept {
    // relaxed: read by the watchdog's later samples; until then it reads 0 (unknown).
    os_id_.store(current_os_thread_id(), std::memory_order_relaxed);
  }
  // One call into the ring's API (including a try that failed or a wait that timed out).
  void count_call() noexcept {
    // relaxed: a counter for the watchdog and the final report (read after join).
    calls_.store(++local_calls_, std::memory_order_relaxed);
  }

  // Watchdog side.
  std::uint64_t state() const noexcept { return state_.load(std::memory_order_relaxed); }  // relaxed: see enter()
  std::uint64_t calls() const noexcept { return calls_.load(std::memory_order_relaxed); }  // relaxed: see count_call()
  long os_id() const noexcept { return os_id_.load(std::memory_order_relaxed); }  // relaxed: see register_thread()
  static bool inside(std::uint64_t state) noexcept { return (state & 1u) != 0; }
  static CallKind kind(std::uint64_t state) noexcept { return static_cast<CallKind>((state >> 1) & 3u); }
  static std::uint32_t rings(std::uint64_t state) noexcept {
    return static_cast<std::uint32_t>(state >> 3) & kRingsMask;
  }

 private:
  static constexpr std::uint32_t kRingsMask = (1u << kMaxRings) - 1;
  static constexpr int kCompletedShift = 3 + kMaxRings;
  // completed operations << kCompletedShift | rings << 3 | kind << 1 | inside
  std::atomic<std::uint64_t> state_{0};
  std::atomic<std::uint64_t> calls_{0};
  std::atomic<long> os_id_{0};     // the kernel's id of the thread; 0: not known
  std::uint64_t completed_ = 0;    // owner thread only
  std::uint64_t local_calls_ = 0;  // owner thread only
};

// What the watchdog saw of one ring at one sample.
struct RingSample {
  Clock::time_point now;
  bool items_waiting;  // a consumer could take something: size() > 0
  bool slots_free;     // a producer could place something: size() < capacity, not closed
  // A wake is on its way to a consumer (producer): the side's parking word has its
  // `waking` bit. The woken thread passes it on when it has run.
  bool consumers_wake_in_flight = false;
  bool producers_wake_in_flight = false;
};

struct ThreadStall {
  Role role;
  int index;  // among its role
  CallKind kind;
  double seconds;
  std::uint64_t calls;
};

// The watchdog's memory of the threads' states across samples. A thread is stalled
// when it was inside the same operation, and for a retry loop inside the same ring
// call, asleep, at every sample of a window of `limit`, and at every one of those
// samples a ring it waits on offered work to its role. A thread that waits while others
// take every item is fine as long as its rings run empty now and then.
class StallDetector {
 public:
  // Whether a thread sleeps in the kernel now (os_thread_sleeping() on its id; tests
  // give their own answer).
  using Sleeping = bool (*)(const ThreadLiveness& thread);
  static bool asleep_in_kernel(const ThreadLiveness& thread) noexcept { return os_thread_sleeping(thread.os_id()); }

  StallDetector(const std::vector<ThreadLiveness>& threads, int producers, Clock::duration limit,
                Sleeping sleeping = &asleep_in_kernel);

  // Feeds one sample of every ring (index r: ring r; all taken at the same `now`);
  // returns the first stalled thread, if any.
  std::optional<ThreadStall> observe(std::span<const RingSample> rings);
  // The same for a run with one ring.
  std::optional<ThreadStall> observe(const RingSample& sample) { return observe(std::span(&sample, 1)); }

 private:
  struct Seen {
    std::uint64_t state = ~std::uint64_t{0};
    std::uint64_t calls = 0;    // ring calls made (retry loops only; 0 in a blocking one)
    Clock::time_point since{};  // first sample that saw `state` and `calls`
    // Start of the current streak of samples at which a ring of its operation offered
    // work to its role.
    std::optional<Clock::time_point> work_since;
  };
  const std::vector<ThreadLiveness>& threads_;
  int producers_;
  Clock::duration limit_;
  Sleeping sleeping_;
  std::vector<Seen> seen_;
  std::optional<Clock::time_point> last_sample_;
};

// "consumer 0 stayed in one blocking pop for 2.0 s ...", without the ring's part.
std::string describe(const ThreadStall& stall);

}  // namespace stress
