// SPDX-License-Identifier: MIT
// What the Relacy programs need around fev's real headers. Include it first, right after
// relacy/relacy_std.hpp (which must be the first include: its fakestd directory turns
// std::atomic into Relacy's atomics).
//
//  - RelacyWait: a wait backend on Relacy's futex model (RelacySharedWait: the same,
//    declared process-shared). wait() makes the futex's compare-and-park one step (and,
//    as futex(2) does, a full fence); Relacy may end a wait spuriously, and a timed one
//    by a timeout at any moment, which also moves the virtual clock to the deadline (a
//    deadline ten minutes away or more never passes). Every park is counted, so a scenario can prove that
//    it explored the park/wake protocol rather than finding its answer before parking.
//  - A virtual steady_clock: std::chrono::steady_clock::now() is defined here, so the
//    deadlines fev computes and the `passed(deadline)` checks it makes are the same in
//    every run of a schedule (Relacy replays a failing schedule and needs that).
//  - The spin policy (src/spin.cpp) as the process with set_spin_limit(0) has it: every
//    wait checks once and parks. yield_cpu() is Relacy's yield.
//  - std::stop_source, stop_token and stop_callback: fakestd's <stop_token> is empty.
//    A stand-in with the standard's semantics on Relacy's mutex and atomics, so the
//    stop_token overloads run under the model too.
//  - detail::loop_event_waits: a Relacy atomic can only be constructed inside a
//    simulation, so the global of src/loop_event_waits.cpp is storage here, constructed
//    per iteration by RelacyGlobals.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string_view>
#include <utility>

// ---- std::stop_source, stop_token, stop_callback (fakestd's <stop_token> is empty) ----
// As the standard specifies them, with one stop_source per stop state (not copyable):
// request_stop() runs the registered callbacks on its own thread; a callback constructed
// after the request runs in its constructor; a callback's destructor waits for it when
// it runs on another thread; a request_stop() that returns true synchronizes with a
// stop_requested() that returns true. The state's lock is a Relacy mutex held while the
// callbacks run: the same happens-before edges as libstdc++'s (a spinlock on the state,
// and a semaphore that a destructor waits on for a running callback), and no more.
namespace relacy_fev {
struct StopCallbackNode {
  StopCallbackNode* next = nullptr;
  StopCallbackNode* prev = nullptr;
  bool linked = false;
  void (*invoke)(StopCallbackNode&) noexcept = nullptr;
};
struct StopState {
  rl::mutex lock;
  std::atomic<bool> requested{false};
  StopCallbackNode* callbacks = nullptr;  // guarded by `lock`

  void unlink(StopCallbackNode& node) noexcept {
    if (node.prev != nullptr) {
      node.prev->next = node.next;
    } else {
      callbacks = node.next;
    }
    if (node.next != nullptr) node.next->prev = node.prev;
    node.next = node.prev = nullptr;
    node.linked = false;
  }
};
}  // namespace relacy_fev

namespace std {
class stop_token {
 public:
  stop_token() noexcept = default;
  bool stop_possible() const noexcept { return state_ != nullptr; }
  bool stop_requested() const noexcept {
    // acquire: pairs with request_stop()'s release store.
    return state_ != nullptr && state_->requested.load(std::memory_order_acquire);
  }

 private:
  friend class stop_source;
  template <class>
  friend class stop_callback;
  explicit stop_token(relacy_fev::StopState* state) noexcept : state_(state) {}
  relacy_fev::StopState* state_ = nullptr;
};

class stop_source {
 public:
  stop_source() = default;
  stop_source(const stop_source&) = delete;
  stop_source& operator=(const stop_source&) = delete;
  stop_token get_token() noexcept { return stop_token(&state_); }
  bool stop_requested() const noexcept { return state_.requested.load(std::memory_order_acquire); }
  bool request_stop() noexcept {
    state_.lock.lock($);
    if (state_.requested.load(std::memory_order_relaxed)) {
      state_.lock.unlock($);
      return false;
    }
    // release: pairs with stop_requested()'s acquire.
    state_.requested.store(true, std::memory_order_release);
    while (state_.callbacks != nullptr) {
      relacy_fev::StopCallbackNode& node = *state_.callbacks;
      state_.unlink(node);
      node.invoke(node);
    }
    state_.lock.unlock($);
    return true;
  }

 private:
  relacy_fev::StopState state_;
};

template <class Callback>
class stop_callback : relacy_fev::StopCallbackNode {
 public:
  template <class C>
  explicit stop_callback(const stop_token& token, C&& callback) noexcept
      : callback_(std::forward<C>(callback)), state_(token.state_) {
    invoke = &run;
    if (state_ == nullptr) return;
    state_->lock.lock($);
    if (state_->requested.load(std::memory_order_relaxed)) {
      state_->lock.unlock($);
      callback_();
      return;
    }
    next = state_->callbacks;
    if (next != nullptr) next->prev = this;
    state_->callbacks = this;
    linked = true;
    state_->lock.unlock($);
  }
  ~stop_callback() {
    if (state_ == nullptr) return;
    state_->lock.lock($);  // waits for a callback running on another thread
    if (linked) state_->unlink(*this);
    state_->lock.unlock($);
  }
  stop_callback(const stop_callback&) = delete;
  stop_callback& operator=(const stop_callback&) = delete;

 private:
  static void run(relacy_fev::StopCallbackNode& node) noexcept { static_cast<stop_callback&>(node).callback_(); }
  Callback callback_;
  relacy_fev::StopState* state_;
};
template <class Callback>
stop_callback(stop_token, Callback) -> stop_callback<Callback>;
}  // namespace std

#include "fev/wait.hpp"

namespace relacy_fev {

// The virtual clock: starts each iteration at kStart; a timeout moves it to its deadline.
inline constexpr std::chrono::steady_clock::duration kStart = std::chrono::hours(1);
inline std::chrono::steady_clock::duration clock_now = kStart;
// Parks over the whole run (all iterations): a scenario meant to park checks it.
inline unsigned long long parks = 0;
// Spurious wakes allowed per thread and iteration (beyond it a wait only ends by a wake
// or its timeout, so an untimed wait cannot be woken spuriously for ever).
// The context-bound scheduler explores every choice: there, no spurious wakes.
inline int spurious_per_thread = 2;
inline int spurious[64];
// Set by a scenario's before(): no timed wait times out in this iteration, so a sleep
// that is only a backstop (the select's timed slices) ends by a wake or not at all.
inline bool timeouts_off = false;

inline void begin_iteration() noexcept {
  clock_now = kStart;
  timeouts_off = false;
  for (int& s : spurious) s = 0;
}

}  // namespace relacy_fev

namespace std::chrono {
inline namespace _V2 {
// Replaces libstdc++'s steady_clock::now() in this program (the executable's definition
// is the one the dynamic linker binds).
steady_clock::time_point steady_clock::now() noexcept { return time_point(relacy_fev::clock_now); }
}  // namespace _V2
}  // namespace std::chrono

namespace fev::testing {

struct RelacyWait {
  static constexpr std::string_view name = "relacy";
  static constexpr std::chrono::minutes kFarAway{10};
  static WaitResult wait(const std::atomic<std::uint32_t>& word, std::uint32_t expected, Deadline deadline) noexcept {
    auto& w = const_cast<std::atomic<std::uint32_t>&>(word);
    rl::context& c = rl::ctx();
    // As Relacy's futex(FUTEX_WAIT): a scheduling point, a full fence, then the compare
    // and the park as one step.
    c.sched();
    c.atomic_thread_fence_seq_cst();
    std::uint32_t now = 0;
    {
      rl::preemption_disabler no_switch(c);
      now = w.load(std::memory_order_relaxed);
    }
    if (now != expected) return WaitResult::woken;
    // A deadline far beyond any scenario's (the hour-long slices of a parked
    // wait(std::stop_token)) never passes: the wake that ends such a sleep must come.
    const bool timed = !relacy_fev::timeouts_off && deadline != Deadline::max() &&
                       deadline.time_since_epoch() - relacy_fev::clock_now < kFarAway;
    int& spurious = relacy_fev::spurious[rl::thread_index() % 64];
    ++relacy_fev::parks;
    const rl::unpark_reason reason = w.wait(c, timed, spurious < relacy_fev::spurious_per_thread, $);
    if (reason == rl::unpark_reason_spurious) ++spurious;
    if (reason == rl::unpark_reason_timeout) {
      if (deadline.time_since_epoch() > relacy_fev::clock_now) relacy_fev::clock_now = deadline.time_since_epoch();
      return WaitResult::timeout;
    }
    return WaitResult::woken;
  }
  static void wake_one(const std::atomic<std::uint32_t>& word) noexcept { wake(word, 1); }
  static void wake_all(const std::atomic<std::uint32_t>& word) noexcept { wake(word, rl::thread_id_t(-1)); }

 private:
  static void wake(const std::atomic<std::uint32_t>& word, rl::thread_id_t count) noexcept {
    auto& w = const_cast<std::atomic<std::uint32_t>&>(word);
    rl::context& c = rl::ctx();
    c.sched();
    c.atomic_thread_fence_seq_cst();  // as Relacy's futex(FUTEX_WAKE)
    (void)w.wake(c, count, $);
  }
};

// The same words, declared shared between processes: fev takes its process-shared paths
// (a set() owes a wake; a ring parker wakes the other side when it could proceed).
struct RelacySharedWait : RelacyWait {
  static constexpr std::string_view name = "relacy-shared";
  static constexpr bool process_shared = true;
};

}  // namespace fev::testing

// ---- The spin policy of a process with spin_limit() 0 (src/spin.cpp's entry points) ----
namespace fev {
std::chrono::nanoseconds spin_limit() noexcept { return std::chrono::nanoseconds{0}; }
void set_spin_limit(std::chrono::nanoseconds) noexcept {}
std::chrono::nanoseconds spin_after_wake_limit() noexcept { return std::chrono::nanoseconds{0}; }
void set_spin_after_wake_limit(std::chrono::nanoseconds) noexcept {}
}  // namespace fev

#include "fev/spin.hpp"

namespace fev::detail {
void cpu_relax() noexcept {}
std::chrono::nanoseconds spin_budget(const WaitOptions&) noexcept { return std::chrono::nanoseconds{0}; }
std::uint32_t polls_before_plan(std::chrono::nanoseconds) noexcept { return 0; }
SpinPlan begin_spin(std::chrono::steady_clock::time_point, Deadline, RingSide, const WaitOptions&,
                    std::uint32_t) noexcept {
  RL_ASSERT(!"a budget of 0 never plans a spin");
  return {};
}
void end_spin(const SpinPlan&, const SpinOutcome&) noexcept {}
void yield_cpu() noexcept { rl::yield(1, $); }
void note_woke_peer() noexcept {}
void note_woke_ring_side(RingSide) noexcept {}
void answered_before_plan(RingSide) noexcept {}
}  // namespace fev::detail

// ---- detail::loop_event_waits, constructed per iteration ----
#include "fev/detail_loop_waits.hpp"

namespace relacy_fev {
union LoopEventWaitsStorage {
  LoopEventWaitsStorage() noexcept {}
  ~LoopEventWaitsStorage() {}
  std::atomic<std::size_t> count;
};
}  // namespace relacy_fev
// The symbol of fev::detail::loop_event_waits (a variable's mangled name has no type).
relacy_fev::LoopEventWaitsStorage relacy_loop_event_waits __asm__("_ZN3fev6detail16loop_event_waitsE");
namespace fev::detail {
bool loop_event_wait_registered(const void*) noexcept { return false; }  // no fev::Loop here
}  // namespace fev::detail

// ---- The side table of coroutine waiters (src/async_waiters.cpp), one bucket ----
// src/async_waiters.cpp's buckets are a function-local static array of std::mutex, and
// fakestd has no std::mutex: this double keeps its algorithm (every state change under
// the bucket's lock; set()'s CAS under it too) with one Relacy mutex, made per
// iteration. Its two atomic operations carry the same orders as the real file's.
#include "fev/async_event.hpp"

namespace relacy_fev {
struct AsyncTable {
  rl::mutex mutex;
  fev::detail::AsyncWaiter* head = nullptr;
};
inline AsyncTable* async_table = nullptr;

struct TableLock {
  TableLock() { async_table->mutex.lock($); }
  ~TableLock() { async_table->mutex.unlock($); }
  TableLock(const TableLock&) = delete;
  TableLock& operator=(const TableLock&) = delete;
};

inline void unlink(fev::detail::AsyncWaiter& node) noexcept {
  if (node.prev != nullptr) {
    node.prev->next = node.next;
  } else {
    async_table->head = node.next;
  }
  if (node.next != nullptr) node.next->prev = node.prev;
  node.prev = node.next = nullptr;
}

inline void remove(fev::detail::AsyncWaiter& node) noexcept {
  unlink(node);
  for (const fev::detail::AsyncWaiter* other = async_table->head; other != nullptr; other = other->next) {
    if (other->address == node.address) return;
  }
  // relaxed: as src/async_waiters.cpp's remove(): the bucket's lock orders it.
  node.address->fetch_and(~fev::detail::EventBits::kAsyncWaiters, std::memory_order_relaxed);
}
}  // namespace relacy_fev

namespace fev::detail {
using AsyncState = AsyncWaiter::State;

void AsyncWaiters::insert(AsyncWaiter& node) noexcept {
  relacy_fev::TableLock lock;
  node.state = AsyncState::waiting;
  node.arming = true;
  node.prev = nullptr;
  node.next = relacy_fev::async_table->head;
  if (relacy_fev::async_table->head != nullptr) relacy_fev::async_table->head->prev = &node;
  relacy_fev::async_table->head = &node;
}

AsyncWaiter::State AsyncWaiters::armed(AsyncWaiter& node, bool withdraw) noexcept {
  relacy_fev::TableLock lock;
  node.arming = false;
  if (withdraw && node.state == AsyncState::waiting) {
    relacy_fev::remove(node);
    node.state = AsyncState::withdrawn;
  }
  return node.state;
}

void AsyncWaiters::cancel(AsyncWaiter& node, bool post) noexcept {
  std::coroutine_handle<> coroutine;
  void* executor = nullptr;
  void (*post_fn)(void*, std::coroutine_handle<>) noexcept = nullptr;
  {
    relacy_fev::TableLock lock;
    if (node.state != AsyncState::waiting) return;
    relacy_fev::remove(node);
    node.state = AsyncState::cancelled;
    if (!post || node.arming) return;
    coroutine = node.coroutine;
    executor = node.executor;
    post_fn = node.post;
  }
  post_fn(executor, coroutine);
}

std::uint64_t AsyncWaiters::slow_sets() noexcept { return 0; }

std::uint32_t set_with_async_waiters(std::atomic<std::uint32_t>& word) noexcept {
  AsyncWaiter* taken = nullptr;
  std::uint32_t seen = 0;
  {
    relacy_fev::TableLock lock;
    seen = word.load(std::memory_order_relaxed);
    std::uint32_t desired = 0;
    do {
      desired = (seen & EventBits::kSet) != 0
                    ? seen
                    : ((seen + EventBits::kGenerationOne) &
                       ~(EventBits::kParked | EventBits::kWakeOwed | EventBits::kAsyncWaiters)) |
                          EventBits::kSet;
      // release: as src/async_waiters.cpp (pairs with every waiter's acquire).
    } while (!word.compare_exchange_weak(seen, desired, std::memory_order_release, std::memory_order_relaxed));
    AsyncWaiter* node = relacy_fev::async_table->head;
    while (node != nullptr) {
      AsyncWaiter* const next = node->next;
      if (node->address == &word) {
        relacy_fev::unlink(*node);
        node->state = AsyncState::taken;
        if (!node->arming) {
          node->next = taken;
          taken = node;
        }
      }
      node = next;
    }
  }
  while (taken != nullptr) {
    AsyncWaiter* const next = taken->next;
    taken->post(taken->executor, taken->coroutine);
    taken = next;
  }
  return seen;
}
}  // namespace fev::detail

namespace relacy_fev {
// The first member of every scenario: sets up this iteration's globals before the
// scenario's fev objects are constructed, and removes them after they are destroyed.
struct Globals {
  AsyncTable table;
  Globals() {
    async_table = &table;
    begin_iteration();
    ::new (&relacy_loop_event_waits.count) std::atomic<std::size_t>(0);
  }
  ~Globals() { relacy_loop_event_waits.count.~atomic(); }
  Globals(const Globals&) = delete;
  Globals& operator=(const Globals&) = delete;
};

// Runs scenarios and prints one line for each: "relacy-NAME: ok|FAILED (details)".
// Program arguments: [iteration scale] [only the names containing this].
struct Runner {
  int failures = 0;
  unsigned long long iterations_scale = 1;
  const char* only = nullptr;
  Runner(int argc, char** argv) {
    if (argc > 1) iterations_scale = std::strtoull(argv[1], nullptr, 10);
    if (argc > 2) only = argv[2];
  }
  // `iterations`: for the random scheduler (the context-bound one searches every schedule
  // with at most one preemption, however many that is). `must_park`: fail unless some
  // iteration parked a thread (the scenario is meant to explore the park/wake protocol).
  // `spurious_wakes`: per thread and iteration under the random scheduler (0: a lost
  // wake is always a deadlock, never rescued by a spurious return).
  template <class Scenario>
  void run(const char* name, rl::scheduler_type_e scheduler, unsigned long long iterations, bool must_park,
           int spurious_wakes = 2) {
    const char* scheduler_name = scheduler == rl::sched_random ? "random" : "bound";
    char full_name[160];
    std::snprintf(full_name, sizeof full_name, "%s-%s", name, scheduler_name);
    if (only != nullptr && std::strstr(full_name, only) == nullptr) return;
    rl::test_params params;
    params.search_type = scheduler;
    params.iteration_count = iterations * iterations_scale;
    if (scheduler == rl::sched_bound) params.context_bound = 1;
    spurious_per_thread = scheduler == rl::sched_bound ? 0 : spurious_wakes;
    rl::ostringstream report;
    params.output_stream = &report;
    params.progress_stream = &report;
    const unsigned long long parks_before = parks;
    const auto start = std::chrono::system_clock::now();
    bool ok = rl::simulate<Scenario>(params);
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now() - start);
    if (!ok) std::fputs(report.str().c_str(), stdout);
    const bool parked = parks != parks_before;
    if (ok && must_park && !parked) std::printf("%s: no iteration parked a thread\n", full_name);
    ok = ok && (parked || !must_park);
    std::printf("relacy-%s: %s (%llu iterations, %lld ms)\n", full_name, ok ? "ok" : "FAILED",
                static_cast<unsigned long long>(params.stop_iteration), static_cast<long long>(ms.count()));
    std::fflush(stdout);
    if (!ok) ++failures;
  }
  // A twin that must fail under the random scheduler (no spurious wakes): proof that
  // the scenario it varies reaches the case it is about.
  template <class Scenario>
  void must_fail(const char* name, unsigned long long iterations) {
    char full_name[160];
    std::snprintf(full_name, sizeof full_name, "%s-must-fail", name);
    if (only != nullptr && std::strstr(full_name, only) == nullptr) return;
    rl::test_params params;
    params.search_type = rl::sched_random;
    params.iteration_count = iterations * iterations_scale;
    spurious_per_thread = 0;
    rl::ostringstream report;
    params.output_stream = &report;
    params.progress_stream = &report;
    const bool failed = !rl::simulate<Scenario>(params);
    std::printf("relacy-%s: %s (%s after %llu iterations)\n", full_name, failed ? "ok" : "FAILED",
                failed ? "failed as it must" : "never failed", static_cast<unsigned long long>(params.stop_iteration));
    std::fflush(stdout);
    if (!failed) ++failures;
  }
  int exit_code() const { return failures == 0 ? 0 : 1; }
};
}  // namespace relacy_fev
