// SPDX-License-Identifier: MIT
// What the workers of tools/async_stress share: the Events, AutoResetEvents and Rings
// under test, the history counters the checks reason with, the cancel board, each
// worker's published state for the watchdog, and the tally of violations.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <random>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include "fev/event.hpp"
#include "fev/ring.hpp"
#include "ledger.hpp"
#include "options.hpp"

namespace async_stress {

using Clock = std::chrono::steady_clock;

inline constexpr int kEvents = 3;
inline constexpr int kAutoEvents = 2;
inline constexpr std::array<std::size_t, 4> kRingCapacities{1, 2, 7, 64};
inline constexpr int kRings = static_cast<int>(kRingCapacities.size());

// What a worker is doing, and in which form (for the watchdog's report).
enum class Op : std::uint8_t { none, event_wait, auto_wait, push, pop };
enum class Form : std::uint8_t { plain, timed, stoppable, timed_stoppable, try_once };

// One worker's published state: written by the worker (a thread, or a coroutine, which
// runs on one thread at a time), read by the watchdog.
class alignas(128) Liveness {
 public:
  void enter(Op op, Form form, int object) noexcept {
    // relaxed: a monitoring value; it orders nothing.
    state_.store(completed_ << 16 | static_cast<std::uint64_t>(form) << 12 | static_cast<std::uint64_t>(op) << 8 |
                     static_cast<std::uint64_t>(object) << 1 | 1u,
                 std::memory_order_relaxed);
  }
  void leave() noexcept {
    ++completed_;
    state_.store(completed_ << 16, std::memory_order_relaxed);  // relaxed: as in enter()
  }
  void finish() noexcept { finished_.store(true, std::memory_order_release); }  // pairs with finished()
  // The worker's coroutine was destroyed inside an operation (its loop went away): the
  // operation ended there.
  void abandon() noexcept {
    if (inside(state_.load(std::memory_order_relaxed))) leave();  // relaxed: the worker's own value
  }

  std::uint64_t state() const noexcept { return state_.load(std::memory_order_relaxed); }  // relaxed: see enter()
  // acquire: pairs with finish(); the ledger is read after every worker finished.
  bool finished() const noexcept { return finished_.load(std::memory_order_acquire); }
  static std::uint64_t completed(std::uint64_t state) noexcept { return state >> 16; }
  static bool inside(std::uint64_t state) noexcept { return (state & 1u) != 0; }
  static Op op(std::uint64_t state) noexcept { return static_cast<Op>((state >> 8) & 0xF); }
  static Form form(std::uint64_t state) noexcept { return static_cast<Form>((state >> 12) & 0xF); }
  static int object(std::uint64_t state) noexcept { return static_cast<int>((state >> 1) & 0x7F); }

 private:
  std::atomic<std::uint64_t> state_{0};  // completed << 16 | form << 12 | op << 8 | object << 1 | inside
  std::atomic<bool> finished_{false};
  std::uint64_t completed_ = 0;  // the worker only
};

// One stop_source per worker, replaced for each operation that takes a token; any
// thread may request a stop on a worker's current source.
class CancelBoard {
 public:
  explicit CancelBoard(std::size_t slots) : slots_(std::make_unique<Slot[]>(slots)), count_(slots) {}
  // A new source for `slot`'s next operation; its token.
  std::stop_token fresh(std::size_t slot);
  // Requests a stop on `slot`'s current source (from any thread); true if this made the request.
  bool cancel(std::size_t slot);
  std::size_t size() const noexcept { return count_; }

 private:
  struct alignas(64) Slot {
    std::mutex lock;
    std::stop_source source{std::nostopstate};
  };
  std::unique_ptr<Slot[]> slots_;
  std::size_t count_;
};

// What can go wrong, besides the ledger's findings and a stall.
enum class Violation : std::uint8_t {
  wrong_thread,            // a coroutine resumed off its loop's thread (or off its executor)
  resumed_twice,           // a co_await resumed its coroutine a second time
  resumed_inline,          // resumed inside await_suspend, on the suspending thread
  never_resumed,           // a co_await that suspended was never resumed
  early_timeout,           // a timeout returned before its deadline
  unasked_cancel,          // false or cancelled without a stop request
  early_closed,            // Status::closed before any ring was closed
  event_true_without_set,  // an Event wait returned true, but no set() came after it was last clear
  auto_signals_invented,   // an AutoResetEvent handed out more signals than set() calls
  bad_result,              // a result that contradicts itself or its call
  count
};

class Checks {
 public:
  // Counts one violation; the first of each kind keeps its description.
  void report(Violation kind, const std::string& detail);
  // Empty when nothing was reported.
  std::string summary() const;
  bool any() const;

 private:
  static constexpr std::size_t kKinds = static_cast<std::size_t>(Violation::count);
  std::array<std::atomic<std::uint64_t>, kKinds> counts_{};
  mutable std::mutex lock_;
  std::array<std::string, kKinds> first_;
};

// Where a coroutine must resume: its loop's thread, or one of its executor's threads.
class Home {
 public:
  virtual bool here() const noexcept = 0;

 protected:
  ~Home() = default;
};

class ResumeProbe;

struct Worker {
  std::string name;  // "thread 2", "coroutine 3 on loop 1", "coroutine 0 on the pool"
  Liveness liveness;
  ProducerLog* producer = nullptr;
  ConsumerLog* consumer = nullptr;
  std::size_t slot = 0;  // on the cancel board
  std::uint64_t seed = 0;
  std::unique_ptr<ResumeProbe> probe;  // coroutines only
  bool stuck = false;                  // --stuck-coroutine: this one waits on never_set first
};

// An Event's history, kept by its only setter (the setter thread): sets is raised before
// each set(), clears after each clear().
struct EventHistory {
  std::atomic<std::uint64_t> sets{0};
  std::atomic<std::uint64_t> clears{0};
};
// Taken before an Event wait starts.
struct EventEntry {
  bool clear = false;  // the event was clear when the wait started (every set() so far had its clear())
  std::uint64_t sets = 0;
};

struct World {
  explicit World(const Options& options);

  const Options& options;
  std::array<fev::Event, kEvents> events;
  fev::Event never_set;  // event number kEvents: a timed wait on it always suspends, then times out
  std::array<EventHistory, kEvents> histories;
  std::array<fev::AutoResetEvent, kAutoEvents> auto_events;
  std::array<std::atomic<std::uint64_t>, kAutoEvents> auto_sets{};   // raised before each set()
  std::array<std::atomic<std::uint64_t>, kAutoEvents> auto_takes{};  // raised after each signal taken
  std::vector<std::unique_ptr<fev::Ring<Value>>> rings;
  Ledger ledger;
  std::deque<Worker> workers;
  std::unique_ptr<CancelBoard> board;  // made once the workers are known
  Checks checks;

  // Counters for the report (relaxed: read after every worker finished).
  std::atomic<std::uint64_t> operations{0};
  std::atomic<std::uint64_t> timeouts{0};
  std::atomic<std::uint64_t> cancelled{0};  // operations that ended cancelled (false or Status::cancelled)
  std::atomic<std::uint64_t> cancels_requested{0};
  std::atomic<std::uint64_t> suspensions{0};  // co_awaits that suspended (the probes count them)
  std::atomic<std::uint64_t> resumes{0};      // and their resumptions
  std::atomic<std::uint64_t> abandoned{0};    // or their frames destroyed with the loop (--churn-ms)
  std::atomic<std::uint64_t> loops_destroyed{0};  // loops destroyed under traffic (--churn-ms)

  // The run's phases: stopping (workers end their loops; the rings are closed right
  // after), then helpers_stop (setter, canceller and pump end).
  std::atomic<bool> stopping{false};
  std::atomic<bool> closing{false};
  std::atomic<bool> helpers_stop{false};
  std::atomic<bool> lose_pending{false};

  bool stopping_now() const noexcept { return stopping.load(std::memory_order_relaxed); }  // relaxed: a flag polled

  EventEntry before_event_wait(int event) const noexcept;
  // The Event wait that started at `entry` returned `result`.
  void after_event_wait(int event, const EventEntry& entry, bool result, const Worker& me, const char* call);
  // A timed call returned "timed out" at `now`, having started at `start` with `timeout`.
  void timed_out(Clock::time_point start, Clock::duration timeout, const Worker& me, const char* call);
  // A call returned false or Status::cancelled on a token (stop_possible() or not).
  void cancelled_on(const std::stop_token& token, const Worker& me, const char* call);
  // A call returned Status::closed.
  void saw_closed(const Worker& me, const char* call);
  void set_auto(int index);
  void took_auto(int index) { auto_takes[static_cast<std::size_t>(index)].fetch_add(1, std::memory_order_relaxed); }
  // A pop took `value` from ring `ring` (--lose-one drops the first).
  void popped(Worker& me, Value value, int ring);
  void cancel_random(std::mt19937_64& rng);

  std::string describe_state(std::uint64_t state) const;
};

std::chrono::microseconds random_timeout(std::mt19937_64& rng);

}  // namespace async_stress
