// SPDX-License-Identifier: MIT
// fev::async_wait(executor, event[, stop]): coroutines on any executor wait on an Event.
#include "fev/async_event.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <stop_token>
#include <thread>
#include <vector>

#include "fev/event.hpp"
#include "emulator.hpp"

namespace {

using namespace std::chrono_literals;
using Access = fev::detail::AsyncWaiters;
constexpr std::uint32_t kAsyncWaitersBit = fev::detail::EventBits::kAsyncWaiters;

// A coroutine that starts at once and frees its frame when it ends.
struct Detached {
  struct promise_type {
    Detached get_return_object() const noexcept { return {}; }
    std::suspend_never initial_suspend() const noexcept { return {}; }
    std::suspend_never final_suspend() const noexcept { return {}; }
    void return_void() const noexcept {}
    void unhandled_exception() const noexcept { std::terminate(); }
  };
};

// The test's executor: N threads popping coroutines from a mutex-guarded deque.
class ThreadPool {
 public:
  explicit ThreadPool(int threads) {
    for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { work(); });
  }
  ~ThreadPool() {
    {
      const std::lock_guard lock(mutex_);
      closing_ = true;
    }
    ready_.notify_all();
    for (auto& thread : threads_) thread.join();
  }
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  void schedule(std::coroutine_handle<> coroutine) {
    {
      const std::lock_guard lock(mutex_);
      queue_.push_back(coroutine);
    }
    ready_.notify_one();
  }
  bool runs_this_thread() const noexcept { return current_pool == this; }

 private:
  void work() {
    current_pool = this;
    std::unique_lock lock(mutex_);
    for (;;) {
      ready_.wait(lock, [this] { return closing_ || !queue_.empty(); });
      if (queue_.empty()) return;  // closing, and everything ran
      const std::coroutine_handle<> next = queue_.front();
      queue_.pop_front();
      lock.unlock();
      next.resume();
      lock.lock();
    }
  }

  static thread_local const ThreadPool* current_pool;
  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<std::coroutine_handle<>> queue_;
  bool closing_ = false;
  std::vector<std::thread> threads_;
};
thread_local const ThreadPool* ThreadPool::current_pool = nullptr;

// An executor that only collects: the test decides when (and whether) to run them.
class ManualExecutor {
 public:
  void schedule(std::coroutine_handle<> coroutine) {
    const std::lock_guard lock(mutex_);
    ready_.push_back(coroutine);
  }
  std::size_t pending() {
    const std::lock_guard lock(mutex_);
    return ready_.size();
  }
  std::size_t run_all() {
    std::vector<std::coroutine_handle<>> now;
    {
      const std::lock_guard lock(mutex_);
      now.swap(ready_);
    }
    for (auto coroutine : now) coroutine.resume();
    return now.size();
  }

 private:
  std::mutex mutex_;
  std::vector<std::coroutine_handle<>> ready_;
};

static_assert(fev::Executor<ThreadPool> && fev::Executor<ManualExecutor> && fev::Executor<fev::inline_executor>);
static_assert(!fev::Executor<int>);
static_assert(sizeof(fev::Event) == 4, "the async waiters cost the Event no space");

// Polls `done` until true or a generous limit; the limit only turns a hang into a failure.
template <class Pred>
bool eventually(Pred done) {
  const auto give_up = std::chrono::steady_clock::now() + 60s;
  while (!done()) {
    if (std::chrono::steady_clock::now() > give_up) return false;
    std::this_thread::yield();
  }
  return true;
}

bool async_bit(const fev::Event& event) { return (event.word().load() & kAsyncWaitersBit) != 0; }

struct Outcome {
  std::atomic<int> resumes{0};
  std::atomic<bool> result{false};
  std::atomic<bool> on_pool{false};
  std::thread::id thread;
};

template <class E>
Detached wait_on(E& executor, fev::Event& event, Outcome& outcome, std::stop_token stop = {}) {
  const bool result = co_await fev::async_wait(executor, event, std::move(stop));
  outcome.thread = std::this_thread::get_id();
  outcome.result.store(result);
  outcome.resumes.fetch_add(1);  // last: the test may destroy `outcome` after it
}

Detached wait_on_pool(ThreadPool& pool, fev::Event& event, Outcome& outcome) {
  const bool result = co_await fev::async_wait(pool, event);
  outcome.on_pool.store(pool.runs_this_thread());
  outcome.thread = std::this_thread::get_id();
  outcome.result.store(result);
  outcome.resumes.fetch_add(1);
}

TEST(AsyncEvent, SetBeforeTheAwaitDoesNotSuspend) {
  fev::Event event(true);
  ManualExecutor executor;
  Outcome outcome;
  wait_on(executor, event, outcome);
  EXPECT_EQ(outcome.resumes.load(), 1) << "finished without being posted";
  EXPECT_TRUE(outcome.result.load());
  EXPECT_EQ(executor.pending(), 0u);
  EXPECT_FALSE(async_bit(event));
}

TEST(AsyncEvent, SetAfterTheAwaitPostsTheCoroutineToItsExecutor) {
  fev::Event event;
  ManualExecutor executor;
  Outcome outcome;
  wait_on(executor, event, outcome);
  EXPECT_EQ(outcome.resumes.load(), 0);
  EXPECT_TRUE(async_bit(event));
  event.set();
  EXPECT_EQ(outcome.resumes.load(), 0) << "set() must post, not resume inline";
  EXPECT_FALSE(async_bit(event));
  EXPECT_EQ(executor.run_all(), 1u);
  EXPECT_EQ(outcome.resumes.load(), 1);
  EXPECT_TRUE(outcome.result.load());
}

TEST(AsyncEvent, InlineExecutorResumesInsideSet) {
  fev::Event event;
  fev::inline_executor executor;
  Outcome outcome;
  wait_on(executor, event, outcome);
  EXPECT_EQ(outcome.resumes.load(), 0);
  event.set();
  EXPECT_EQ(outcome.resumes.load(), 1);
  EXPECT_TRUE(outcome.result.load());
  EXPECT_EQ(outcome.thread, std::this_thread::get_id());
}

Detached wait_on_temporary_inline(fev::Event& event, Outcome& outcome) {
  outcome.result.store(co_await fev::async_wait(fev::inline_executor{}, event));  // an rvalue executor is kept
  outcome.resumes.fetch_add(1);
}

TEST(AsyncEvent, RvalueExecutorIsMovedIntoTheAwaitable) {
  fev::Event event;
  Outcome outcome;
  wait_on_temporary_inline(event, outcome);
  event.set();
  EXPECT_EQ(outcome.resumes.load(), 1);
  EXPECT_TRUE(outcome.result.load());
}

TEST(AsyncEvent, ManyCoroutinesOnAPoolAreEachResumedOnceOnAPoolThread) {
  constexpr int kWaiters = 2000;
  fev::Event event;
  std::vector<Outcome> outcomes(kWaiters);
  {
    ThreadPool pool(4);
    for (auto& outcome : outcomes) wait_on_pool(pool, event, outcome);
    event.set();
    ASSERT_TRUE(eventually([&] {
      return std::all_of(outcomes.begin(), outcomes.end(), [](const Outcome& o) { return o.resumes.load() > 0; });
    }));
  }  // joins the pool: a second resume would have run by now
  for (const auto& outcome : outcomes) {
    EXPECT_EQ(outcome.resumes.load(), 1);
    EXPECT_TRUE(outcome.result.load());
    EXPECT_TRUE(outcome.on_pool.load());
    EXPECT_NE(outcome.thread, std::this_thread::get_id()) << "resumed inside set()'s thread";
  }
  EXPECT_FALSE(async_bit(event));
}

TEST(AsyncEvent, ThreadsAndCoroutinesWaitOnOneEvent) {
  fev::Event event;
  ManualExecutor executor;
  Outcome outcome;
  wait_on(executor, event, outcome);
  std::thread thread([&] { event.wait(); });
  std::this_thread::sleep_for(10ms);  // let the thread park (not required for the test to pass)
  event.set();
  thread.join();
  EXPECT_EQ(executor.run_all(), 1u);
  EXPECT_TRUE(outcome.result.load());
}

// Python's semantics across clear(): a waiter present at a set() is released even if
// clear() follows at once; one that began after the clear() waits for the next set().
TEST(AsyncEvent, ClearKeepsGenerationsApart) {
  fev::Event event;
  ManualExecutor executor;
  Outcome before, after;
  wait_on(executor, event, before);
  event.set();
  event.clear();
  wait_on(executor, event, after);
  EXPECT_TRUE(async_bit(event)) << "the second waiter announces itself again";
  EXPECT_EQ(executor.run_all(), 1u) << "only the waiter from before the set()";
  EXPECT_EQ(before.resumes.load(), 1);
  EXPECT_TRUE(before.result.load());
  EXPECT_EQ(after.resumes.load(), 0);
  event.set();
  EXPECT_EQ(executor.run_all(), 1u);
  EXPECT_EQ(after.resumes.load(), 1);
  EXPECT_TRUE(after.result.load());
}

TEST(AsyncEvent, StopRequestedWhileWaitingResumesWithFalse) {
  fev::Event event;
  ManualExecutor executor;
  std::stop_source stop;
  Outcome outcome;
  wait_on(executor, event, outcome, stop.get_token());
  EXPECT_TRUE(async_bit(event));
  stop.request_stop();
  EXPECT_FALSE(async_bit(event)) << "the last waiter's cancellation clears the bit";
  EXPECT_EQ(executor.run_all(), 1u);
  EXPECT_EQ(outcome.resumes.load(), 1);
  EXPECT_FALSE(outcome.result.load());
  const std::uint64_t slow = Access::slow_sets();
  event.set();
  EXPECT_EQ(Access::slow_sets(), slow) << "no waiter left: set() must not visit the table";
  EXPECT_EQ(executor.run_all(), 0u) << "a cancelled waiter is not resumed again";
}

TEST(AsyncEvent, StopRequestedBeforeTheAwaitDoesNotSuspend) {
  fev::Event event;
  ManualExecutor executor;
  std::stop_source stop;
  stop.request_stop();
  Outcome outcome;
  wait_on(executor, event, outcome, stop.get_token());
  EXPECT_EQ(outcome.resumes.load(), 1);
  EXPECT_FALSE(outcome.result.load());
  EXPECT_FALSE(async_bit(event));
}

TEST(AsyncEvent, SetWinsOverALaterStop) {
  fev::Event event;
  ManualExecutor executor;
  std::stop_source stop;
  Outcome outcome;
  wait_on(executor, event, outcome, stop.get_token());
  event.set();
  stop.request_stop();  // after set() took the node: the callback finds nothing
  EXPECT_EQ(executor.run_all(), 1u);
  EXPECT_TRUE(outcome.result.load());
}

TEST(AsyncEvent, OneCancelledWaiterLeavesTheOthersWaiting) {
  fev::Event event;
  ManualExecutor executor;
  std::stop_source stop;
  Outcome cancelled, kept;
  wait_on(executor, event, kept);
  wait_on(executor, event, cancelled, stop.get_token());
  stop.request_stop();
  EXPECT_TRUE(async_bit(event)) << "another waiter is still there";
  EXPECT_EQ(executor.run_all(), 1u);
  EXPECT_FALSE(cancelled.result.load());
  event.set();
  EXPECT_EQ(executor.run_all(), 1u);
  EXPECT_TRUE(kept.result.load());
}

// set() and request_stop() race for one waiter, 10^4 times: exactly one of them resumes
// it, once, and the result says who (false only if stopped; true only if set).
Detached wait_and_check(ThreadPool& pool, fev::Event& event, std::stop_token stop, std::atomic<int>& resumes,
                        std::atomic<int>& inconsistent, std::atomic<int>& set_wins) {
  const bool result = co_await fev::async_wait(pool, event, stop);
  if (result ? !event.is_set() : !stop.stop_requested()) inconsistent.fetch_add(1);
  if (result) set_wins.fetch_add(1);
  resumes.fetch_add(1);
}

TEST(AsyncEvent, CancellationRacingSetResumesExactlyOnce) {
#if defined(_WIN32)
  // See ring_api_test's Cancellation suite: ~std::stop_callback, after a callback that
  // ran on another thread, acquires a std::binary_semaphore, which loses wakeups in
  // mingw-w64's libstdc++ 12 under wine.
  GTEST_SKIP() << "std::stop_callback can hang under wine + mingw-w64 libstdc++ 12 (its binary_semaphore loses wakeups)";
#endif
  constexpr int kRounds = 10000;
  ThreadPool pool(2);
  std::atomic<int> round{-1};
  std::atomic<std::stop_source*> current{nullptr};
  std::atomic<int> stopped_round{-1};
  std::thread stopper([&] {
    std::minstd_rand random(7);
    for (int r = 0; r < kRounds; ++r) {
      while (round.load() != r) std::this_thread::yield();
      if (random() % 2) std::this_thread::yield();
      current.load()->request_stop();
      stopped_round.store(r);
    }
  });
  std::minstd_rand random(11);
  std::atomic<int> inconsistent{0};
  std::atomic<int> set_wins{0};
  for (int r = 0; r < kRounds; ++r) {
    auto event = std::make_unique<fev::Event>();
    std::stop_source stop;
    std::atomic<int> resumes{0};
    wait_and_check(pool, *event, stop.get_token(), resumes, inconsistent, set_wins);
    current.store(&stop);
    round.store(r);
    if (r % 4 == 0) {
      // Every 4th round the stop ends the wait for sure before set() (the coroutine has
      // resumed), so both outcomes are covered however the racing rounds fall. (A set()
      // between the stop and the resume may still make the result true, as for a
      // thread's wait(stop_token).)
      while (stopped_round.load() != r || resumes.load() == 0) std::this_thread::yield();
    } else if (random() % 2) {
      std::this_thread::yield();
    }
    event->set();
    ASSERT_TRUE(eventually([&] { return stopped_round.load() == r && resumes.load() > 0; }));
    // A second resume would touch a freed frame (ASan) or count 2; a bit left behind by
    // either side would abort in the event's destructor.
    ASSERT_EQ(resumes.load(), 1);
    event.reset();
  }
  stopper.join();
  EXPECT_EQ(inconsistent.load(), 0);
  EXPECT_GT(set_wins.load(), 0);
  EXPECT_LE(set_wins.load(), kRounds - kRounds / 4) << "a wait that a stop had ended returned true";
}

TEST(AsyncEventDeathTest, DestroyingAnEventWithWaitersAborts) {
  FEV_SKIP_DEATH_TEST_UNDER_EMULATOR();
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        auto event = std::make_unique<fev::Event>();
        ManualExecutor executor;
        Outcome outcome;
        wait_on(executor, *event, outcome);
        event.reset();
      },
      // ... and says what to do instead.
      "an Event was destroyed while coroutines were still waiting on it \\(fev::async_wait\\): set\\(\\) it or "
      "stop those waits, and let the coroutines resume, before destroying it");
}

TEST(AsyncEvent, SetWithoutAsyncWaitersNeverVisitsTheTable) {
  fev::Event event;
  const std::uint64_t slow = Access::slow_sets();
  std::thread waiter([&] { event.wait(); });
  for (int i = 0; i < 1000; ++i) {
    event.set();
    event.clear();
  }
  event.set();
  waiter.join();
  EXPECT_EQ(Access::slow_sets(), slow);

  event.clear();
  ManualExecutor executor;
  Outcome outcome;
  wait_on(executor, event, outcome);
  event.set();
  EXPECT_EQ(Access::slow_sets(), slow + 1) << "with a coroutine waiting, set() takes it from the table";
  executor.run_all();
}

// 10^5 coroutines on one event, released by one set(): posted one after another.
TEST(AsyncEvent, HundredThousandWaitersOnOneEvent) {
  constexpr int kWaiters = 100000;
  fev::Event event;
  fev::inline_executor executor;
  std::vector<Outcome> outcomes(kWaiters);
  for (auto& outcome : outcomes) wait_on(executor, event, outcome);
  event.set();
  for (const auto& outcome : outcomes) ASSERT_EQ(outcome.resumes.load(), 1);
  EXPECT_FALSE(async_bit(event));
}

// A chain: coroutine i waits on event i, then sets event i+1, all on the inline
// executor. Without its queue each set() would resume the next coroutine inside itself,
// 10^5 levels deep. The stack addresses the coroutines see must stay within a few pages.
struct Chain {
  std::vector<fev::Event> events;
  fev::inline_executor executor;
  std::atomic<int> done{0};
  std::uintptr_t lowest = UINTPTR_MAX;
  std::uintptr_t highest = 0;
  explicit Chain(std::size_t n) : events(n) {}
};

// The stack pointer of the caller (a coroutine's locals live in its frame, not here).
[[gnu::noinline]] std::uintptr_t stack_here() noexcept {
  return reinterpret_cast<std::uintptr_t>(__builtin_frame_address(0));
}

Detached link(Chain& chain, std::size_t i) {
  (void)co_await fev::async_wait(chain.executor, chain.events[i]);
  const std::uintptr_t address = stack_here();
  chain.lowest = std::min(chain.lowest, address);
  chain.highest = std::max(chain.highest, address);
  chain.done.fetch_add(1);
  if (i + 1 < chain.events.size()) chain.events[i + 1].set();
}

TEST(AsyncEvent, ChainOnTheInlineExecutorDoesNotRecurse) {
  constexpr std::size_t kLinks = 100000;
  Chain chain(kLinks);
  for (std::size_t i = 0; i < kLinks; ++i) link(chain, i);
  chain.events[0].set();
  EXPECT_EQ(chain.done.load(), static_cast<int>(kLinks));
  EXPECT_LT(chain.highest - chain.lowest, 64u * 1024u) << "the stack grew with the chain";
}

TEST(AsyncEvent, ChainAcrossAPool) {
  constexpr std::size_t kLinks = 100000;
  std::vector<fev::Event> events(kLinks);
  std::atomic<std::size_t> done{0};
  ThreadPool pool(4);
  struct Link {
    static Detached run(ThreadPool& pool, std::vector<fev::Event>& events, std::size_t i, std::atomic<std::size_t>& done) {
      (void)co_await fev::async_wait(pool, events[i]);
      done.fetch_add(1);
      if (i + 1 < events.size()) events[i + 1].set();
    }
  };
  for (std::size_t i = 0; i < kLinks; ++i) Link::run(pool, events, i, done);
  events[0].set();
  ASSERT_TRUE(eventually([&] { return done.load() == kLinks; }));
}

// ---- An executor kept by value, in the coroutine's frame ----

// The addresses of the FrameCheckingExecutor objects that exist now (each constructor
// adds its own, the destructor removes it): whether an object still exists can be asked
// without reading it.
class LiveObjects {
 public:
  void add(const void* object) {
    const std::lock_guard lock(mutex_);
    objects_.insert(object);
  }
  void remove(const void* object) {
    const std::lock_guard lock(mutex_);
    objects_.erase(object);
  }
  bool contains(const void* object) {
    const std::lock_guard lock(mutex_);
    return objects_.count(object) != 0;
  }
  std::size_t size() {
    const std::lock_guard lock(mutex_);
    return objects_.size();
  }

 private:
  std::mutex mutex_;
  std::set<const void*> objects_;
};
LiveObjects live_executors;

// Runs each coroutine handed to it on its own thread. run_to_the_end() returns once that
// coroutine's resume() has returned: a Detached coroutine that ran to its end has freed
// its frame by then.
class FinishingThread {
 public:
  FinishingThread() : thread_([this] { run(); }) {}
  ~FinishingThread() {
    {
      const std::lock_guard lock(mutex_);
      closing_ = true;
    }
    changed_.notify_all();
    thread_.join();
  }
  FinishingThread(const FinishingThread&) = delete;
  FinishingThread& operator=(const FinishingThread&) = delete;

  void run_to_the_end(std::coroutine_handle<> coroutine) {
    std::unique_lock lock(mutex_);
    queue_.push_back(coroutine);
    const std::uint64_t mine = ++handed_;
    changed_.notify_all();
    changed_.wait(lock, [&] { return finished_ >= mine; });
  }

 private:
  void run() {
    std::unique_lock lock(mutex_);
    for (;;) {
      changed_.wait(lock, [this] { return closing_ || !queue_.empty(); });
      if (queue_.empty()) return;
      const std::coroutine_handle<> next = queue_.front();
      queue_.pop_front();
      lock.unlock();
      next.resume();
      lock.lock();
      ++finished_;
      changed_.notify_all();
    }
  }

  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<std::coroutine_handle<>> queue_;
  std::uint64_t handed_ = 0;
  std::uint64_t finished_ = 0;
  bool closing_ = false;
  std::thread thread_;  // last: starts once the rest is constructed
};

// A handle to a FinishingThread, passed to async_wait by value (so the awaitable keeps it
// in the coroutine's frame). Its schedule() returns only after the coroutine has run to
// its end on the other thread: the widest form of what any queueing executor allows (a
// pool thread may run the coroutine to its end while schedule() still notifies a
// condition variable). Then it records whether the object it runs on still exists.
class FrameCheckingExecutor {
 public:
  explicit FrameCheckingExecutor(FinishingThread& runner) : runner_(&runner) { live_executors.add(this); }
  FrameCheckingExecutor(const FrameCheckingExecutor& other) : runner_(other.runner_) { live_executors.add(this); }
  FrameCheckingExecutor& operator=(const FrameCheckingExecutor&) = delete;
  ~FrameCheckingExecutor() { live_executors.remove(this); }

  void schedule(std::coroutine_handle<> coroutine) const {
    FinishingThread* const runner = runner_;  // read while this object surely exists
    runner->run_to_the_end(coroutine);
    (live_executors.contains(this) ? on_live : on_destroyed).fetch_add(1);
  }

  static inline std::atomic<int> on_live{0};       // schedule() calls that ended on a live executor
  static inline std::atomic<int> on_destroyed{0};  // ... on one the coroutine's frame had destroyed

 private:
  FinishingThread* runner_;
};

Detached wait_with_executor_by_value(FinishingThread& runner, fev::Event& event, Outcome& outcome) {
  const bool result = co_await fev::async_wait(FrameCheckingExecutor(runner), event);
  outcome.result.store(result);
  outcome.resumes.fetch_add(1);
}

// set()'s schedule() call. (A stop request's cannot be outlived by the frame: the
// resumed coroutine's await_resume destroys the stop callback first, which waits until
// the callback, and with it schedule(), has returned.)
TEST(AsyncEvent, ExecutorKeptByValueOutlivesTheScheduleCallOfSet) {
  FrameCheckingExecutor::on_live = 0;
  FrameCheckingExecutor::on_destroyed = 0;
  {
    FinishingThread runner;
    fev::Event event;
    Outcome outcome;
    wait_with_executor_by_value(runner, event, outcome);
    ASSERT_EQ(outcome.resumes.load(), 0) << "the coroutine did not suspend";
    event.set();  // returns after the coroutine ran to its end and freed its frame
    EXPECT_EQ(outcome.resumes.load(), 1);
    EXPECT_TRUE(outcome.result.load());
  }
  EXPECT_EQ(FrameCheckingExecutor::on_destroyed.load(), 0)
      << "set() called schedule() on the executor in the coroutine's frame, which the coroutine freed under it";
  EXPECT_EQ(FrameCheckingExecutor::on_live.load(), 1);
  EXPECT_EQ(live_executors.size(), 0u) << "an executor copy was never destroyed";
}

}  // namespace
