// SPDX-License-Identifier: MIT
// fev::LoopExecutor: coroutines on a loop wait on Events through fev/async_event.hpp's
// side table with the loop as their executor. Every resume must happen on the loop's
// thread, exactly once; a set() from another thread must wake the loop (no lost
// doorbell). Every test runs on the io_uring futex path where the kernel has it and on
// the forced fallback path; every run has a watchdog: a hang stops the loop and fails.
#include "fev/loop.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <random>
#include <stop_token>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "fev/async_event.hpp"
#include "fev/event.hpp"
#include "loop_test_support.hpp"

namespace {

using namespace std::chrono_literals;
using fev::testing::LoopWatchdog;
using fev::testing::run_all;

static_assert(fev::Executor<fev::LoopExecutor>);
static_assert(std::is_trivially_copyable_v<fev::LoopExecutor>);

class LoopExecutorTest : public fev::testing::LoopPathTest {};

INSTANTIATE_TEST_SUITE_P(Paths, LoopExecutorTest, ::testing::Values(false, true),
                         [](const ::testing::TestParamInfo<bool>& info) {
                           return std::string(info.param ? "Fallback" : "FutexWait");
                         });

// Counts resumes, and those that ran on another thread than the loop's.
struct ResumeLog {
  std::thread::id loop_thread = std::this_thread::get_id();
  std::atomic<std::uint64_t> resumes{0};
  std::atomic<std::uint64_t> off_loop{0};
  std::atomic<std::uint64_t> false_results{0};
  void resumed(bool result) {
    // relaxed (all three): counters read after the threads are joined and run() returned.
    resumes.fetch_add(1, std::memory_order_relaxed);
    if (std::this_thread::get_id() != loop_thread) off_loop.fetch_add(1, std::memory_order_relaxed);
    if (!result) false_results.fetch_add(1, std::memory_order_relaxed);
  }
};

constexpr int kPingPongRounds = 10000;

fev::Task<> pinger(fev::LoopExecutor executor, fev::Event& ping, fev::Event& pong, ResumeLog& log, int& echoed) {
  for (int round = 1; round <= kPingPongRounds; ++round) {
    ping.set();
    const bool set = co_await fev::async_wait(executor, pong);
    log.resumed(set);
    pong.clear();
    EXPECT_EQ(echoed, round);
  }
}

fev::Task<> echo(fev::LoopExecutor executor, fev::Event& ping, fev::Event& pong, ResumeLog& log, int& echoed) {
  for (int round = 1; round <= kPingPongRounds; ++round) {
    const bool set = co_await fev::async_wait(executor, ping);
    log.resumed(set);
    ping.clear();
    echoed = round;
    pong.set();
  }
}

TEST_P(LoopExecutorTest, TwoCoroutinesPingPongOnTheLoopThread) {
  fev::Event ping;
  fev::Event pong;
  ResumeLog log;
  int echoed = 0;
  loop().spawn(echo(loop().executor(), ping, pong, log, echoed));
  loop().spawn(pinger(loop().executor(), ping, pong, log, echoed));
  ASSERT_TRUE(run_all(loop()));
  EXPECT_EQ(echoed, kPingPongRounds);
  EXPECT_EQ(log.resumes.load(), 2u * kPingPongRounds);
  EXPECT_EQ(log.off_loop.load(), 0u);
  EXPECT_EQ(log.false_results.load(), 0u);
}

TEST_P(LoopExecutorTest, AThreadSetWakesTheLoopEveryTime) {
  constexpr int kRounds = 1000;
  fev::Event go;   // set by the thread
  fev::Event ack;  // set by the coroutine, waited on by the thread
  ResumeLog log;
  int rounds_seen = 0;
  auto waiter = [](fev::LoopExecutor executor, fev::Event& go, fev::Event& ack, ResumeLog& log,
                   int& rounds_seen) -> fev::Task<> {
    for (int round = 0; round < kRounds; ++round) {
      const bool set = co_await fev::async_wait(executor, go);
      log.resumed(set);
      go.clear();
      ++rounds_seen;
      ack.set();
    }
  };
  loop().spawn(waiter(loop().executor(), go, ack, log, rounds_seen));
  std::thread setter([&] {
    std::mt19937 random(12345);
    std::uniform_int_distribution<int> delay_us(0, 50);
    for (int round = 0; round < kRounds; ++round) {
      const int delay = delay_us(random);
      // Some rounds right away (the loop may still be about to sleep), some after it slept.
      if (delay > 10) std::this_thread::sleep_for(std::chrono::microseconds(delay));
      go.set();
      if (!ack.wait_for(30s)) return;  // the loop hung: the watchdog reports it
      ack.clear();
    }
  });
  const bool finished = run_all(loop());
  setter.join();
  ASSERT_TRUE(finished);
  EXPECT_EQ(rounds_seen, kRounds);
  EXPECT_EQ(log.resumes.load(), static_cast<std::uint64_t>(kRounds));
  EXPECT_EQ(log.off_loop.load(), 0u);
  EXPECT_EQ(log.false_results.load(), 0u);
}

TEST_P(LoopExecutorTest, ManyThreadsScheduleAtOnce) {
  constexpr int kThreads = 8;
  constexpr int kPerThread = 200;
  std::vector<fev::Event> events(kThreads * kPerThread);
  ResumeLog log;
  std::atomic<bool> all_waiting{false};
  auto waiter = [](fev::LoopExecutor executor, fev::Event& event, ResumeLog& log) -> fev::Task<> {
    log.resumed(co_await fev::async_wait(executor, event));
  };
  for (fev::Event& event : events) loop().spawn(waiter(loop().executor(), event, log));
  // Spawned last, so it starts after every waiter suspended.
  loop().spawn([](std::atomic<bool>& all_waiting) -> fev::Task<> {
    all_waiting.store(true, std::memory_order_release);  // pairs with the setters' acquire: nothing to publish
    co_return;
  }(all_waiting));
  std::vector<std::thread> setters;
  for (int t = 0; t < kThreads; ++t) {
    setters.emplace_back([&, t] {
      while (!all_waiting.load(std::memory_order_acquire)) std::this_thread::yield();  // pairs with the store above
      for (int i = 0; i < kPerThread; ++i) events[static_cast<std::size_t>(t * kPerThread + i)].set();
    });
  }
  const bool finished = run_all(loop());
  for (std::thread& setter : setters) setter.join();
  ASSERT_TRUE(finished);
  EXPECT_EQ(log.resumes.load(), static_cast<std::uint64_t>(kThreads * kPerThread));
  EXPECT_EQ(log.off_loop.load(), 0u);
  EXPECT_EQ(log.false_results.load(), 0u);
}

TEST_P(LoopExecutorTest, ScheduleFromManyThreadsDirectly) {
  // Each coroutine hands its own handle to a thread, which schedules it on the loop.
  constexpr int kThreads = 8;
  constexpr int kHops = 300;
  struct Hop {
    std::mutex mutex;
    std::vector<std::coroutine_handle<>> handed;
    std::atomic<int> finished{0};
  };
  struct HandOver {
    Hop& hop;
    bool await_ready() const noexcept { return false; }
    void await_suspend(std::coroutine_handle<> coroutine) {
      const std::lock_guard<std::mutex> lock(hop.mutex);
      hop.handed.push_back(coroutine);
    }
    void await_resume() const noexcept {}
  };
  Hop hop;
  ResumeLog log;
  auto hopper = [](Hop& hop, ResumeLog& log) -> fev::Task<> {
    for (int i = 0; i < kHops; ++i) {
      co_await HandOver{hop};
      log.resumed(true);
    }
    hop.finished.fetch_add(1, std::memory_order_relaxed);  // relaxed: a count read after run()
  };
  constexpr int kCoroutines = 16;
  for (int c = 0; c < kCoroutines; ++c) loop().spawn(hopper(hop, log));
  std::atomic<bool> done{false};
  std::vector<std::thread> schedulers;
  const fev::LoopExecutor executor = loop().executor();
  for (int t = 0; t < kThreads; ++t) {
    schedulers.emplace_back([&] {
      while (!done.load(std::memory_order_relaxed)) {  // relaxed: only a stop flag
        std::coroutine_handle<> coroutine;
        {
          const std::lock_guard<std::mutex> lock(hop.mutex);
          if (!hop.handed.empty()) {
            coroutine = hop.handed.back();
            hop.handed.pop_back();
          }
        }
        if (coroutine) {
          executor.schedule(coroutine);
        } else {
          std::this_thread::yield();
        }
      }
    });
  }
  const bool finished = run_all(loop());
  done.store(true, std::memory_order_relaxed);
  for (std::thread& scheduler : schedulers) scheduler.join();
  ASSERT_TRUE(finished);
  EXPECT_EQ(hop.finished.load(), kCoroutines);
  EXPECT_EQ(log.resumes.load(), static_cast<std::uint64_t>(kCoroutines * kHops));
  EXPECT_EQ(log.off_loop.load(), 0u);
}

TEST_P(LoopExecutorTest, StopFromAnotherThreadCancelsTheWait) {
  fev::Event never;
  std::stop_source stop;
  ResumeLog log;
  std::atomic<bool> waiting{false};
  auto waiter = [](fev::LoopExecutor executor, fev::Event& never, std::stop_token stop, ResumeLog& log,
                   std::atomic<bool>& waiting) -> fev::Task<> {
    waiting.store(true, std::memory_order_relaxed);  // relaxed: only a hint to start
    log.resumed(co_await fev::async_wait(executor, never, stop));
  };
  loop().spawn(waiter(loop().executor(), never, stop.get_token(), log, waiting));
  std::thread stopper([&] {
    while (!waiting.load(std::memory_order_relaxed)) std::this_thread::yield();  // relaxed: a hint
    std::this_thread::sleep_for(2ms);
    stop.request_stop();
  });
  const bool finished = run_all(loop());
  stopper.join();
  ASSERT_TRUE(finished);
  EXPECT_EQ(log.resumes.load(), 1u);
  EXPECT_EQ(log.false_results.load(), 1u);
  EXPECT_EQ(log.off_loop.load(), 0u);
}

TEST_P(LoopExecutorTest, StopFromACoroutineOnTheLoopCancelsTheWait) {
  fev::Event never;
  std::stop_source stop;
  ResumeLog log;
  auto waiter = [](fev::LoopExecutor executor, fev::Event& never, std::stop_token stop,
                   ResumeLog& log) -> fev::Task<> { log.resumed(co_await fev::async_wait(executor, never, stop)); };
  auto stopper = [](std::stop_source& stop) -> fev::Task<> {
    stop.request_stop();
    co_return;
  };
  loop().spawn(waiter(loop().executor(), never, stop.get_token(), log));
  loop().spawn(stopper(stop));
  ASSERT_TRUE(run_all(loop()));
  EXPECT_EQ(log.resumes.load(), 1u);
  EXPECT_EQ(log.false_results.load(), 1u);
  EXPECT_EQ(log.off_loop.load(), 0u);
}

TEST_P(LoopExecutorTest, ASetOutsideRunIsKeptForTheNextRun) {
  fev::Event event;
  ResumeLog log;
  bool suspended = false;
  auto waiter = [](fev::LoopExecutor executor, fev::Event& event, ResumeLog& log, bool& suspended) -> fev::Task<> {
    suspended = true;
    log.resumed(co_await fev::async_wait(executor, event));
  };
  loop().spawn(waiter(loop().executor(), event, log, suspended));
  {
    LoopWatchdog watchdog(loop(), 60s);
    loop().run_until([&] { return suspended; });
    ASSERT_FALSE(watchdog.disarm());
  }
  EXPECT_EQ(loop().live_tasks(), 1u);
  event.set();  // on the loop's thread, but no turn is running: posted and rung
  ASSERT_TRUE(run_all(loop()));
  EXPECT_EQ(log.resumes.load(), 1u);
  EXPECT_EQ(log.false_results.load(), 0u);
}

TEST_P(LoopExecutorTest, RunReturnsOnceEveryTaskFinished) {
  // A chain: each coroutine waits on its event, then sets the next one's; run() must
  // neither return while one is still queued nor sleep with one ready.
  constexpr int kChain = 500;
  std::vector<fev::Event> events(kChain + 1);
  int finished = 0;
  auto link = [](fev::LoopExecutor executor, fev::Event& mine, fev::Event& next, int& finished) -> fev::Task<> {
    co_await fev::async_wait(executor, mine);
    ++finished;
    next.set();
  };
  for (int i = 0; i < kChain; ++i)
    loop().spawn(link(loop().executor(), events[static_cast<std::size_t>(i)],
                      events[static_cast<std::size_t>(i + 1)], finished));
  loop().spawn([](fev::Event& first) -> fev::Task<> {
    first.set();
    co_return;
  }(events.front()));
  ASSERT_TRUE(run_all(loop()));
  EXPECT_EQ(finished, kChain);
  EXPECT_TRUE(events.back().is_set());
}

}  // namespace
