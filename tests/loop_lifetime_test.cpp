// SPDX-License-Identifier: MIT
// What a coroutine on fev::Loop may outlive: a Ring refuses to be destroyed while a
// coroutine waits in async_pop/async_push on it, and an Event while a coroutine waits
// in async_wait or async_wait_any (one line on stderr, then abort); a loop's waiter that was cancelled,
// timed out or finished, or whose loop was destroyed, leaves no registration behind.
// What ~Loop leaves behind: no request of it in the kernel that could take a wake, every
// wake its waiters took passed on, and no write by another thread (a stop request, a
// post to its executor, stop()) into its descriptors' numbers after it closed them.
// Windows are widened deterministically: a thread held at its write(2) by seccomp, the
// ring's kernel object kept alive by a copy of its descriptor.
#include <sys/syscall.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <stop_token>
#include <thread>
#include <vector>

#include "fev/async_event.hpp"
#include "fev/event.hpp"
#include "fev/loop.hpp"
#include "fev/loop_wait_any.hpp"
#include "fev/ring.hpp"
#include "fev/ring_access.hpp"
#include "loop_teardown_support.hpp"
#include "loop_test_support.hpp"

namespace {

using Access = fev::detail::RingAccess;

std::uint32_t sleepers(std::atomic<std::uint32_t>& word) {
  // relaxed: a test's look at the sleeper count, on the loop's own thread.
  return word.load(std::memory_order_relaxed) & Access::kSleepersMask;
}

fev::Task<> pop_one(fev::Loop& loop, fev::Ring<int>& ring, std::optional<int>& got, int* started = nullptr) {
  if (started != nullptr) ++*started;
  got = co_await fev::async_pop(loop, ring);
}

fev::Task<> pop_until_stopped(fev::Loop& loop, fev::Ring<int>& ring, std::stop_token stop,
                              std::optional<fev::Status>& status, int& started) {
  ++started;
  status = (co_await fev::async_pop(loop, ring, std::move(stop))).status;
}

TEST(LoopLifetimeDeathTest, RingDestroyedWhileACoroutineWaits) {
  if (!fev::Loop::supported()) GTEST_SKIP() << "io_uring is not available here";
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        fev::Loop loop;
        auto* ring = new fev::Ring<int>(4);
        std::optional<int> got;
        loop.spawn(pop_one(loop, *ring, got));
        loop.run_until([&] { return sleepers(Access::consumers_word(*ring)) != 0; });
        delete ring;
      },
      "a Ring was destroyed while threads or coroutines were still waiting on it");
}

TEST(LoopLifetime, RingDestroyedAfterItsCoroutinesLeft) {
  if (!fev::Loop::supported()) GTEST_SKIP() << "io_uring is not available here";
  fev::Loop loop;
  auto ring = std::make_unique<fev::Ring<int>>(4);
  std::optional<int> got;
  std::stop_source stop;
  std::optional<fev::Status> status;
  int started = 0;
  loop.spawn(pop_one(loop, *ring, got, &started));
  loop.spawn(pop_until_stopped(loop, *ring, stop.get_token(), status, started));
  // Both are suspended inside their co_await (a turn ran them that far).
  loop.run_until([&] { return started == 2; });
  stop.request_stop();
  // Only then the value: pushed at once, either waiter could take it (a stop ends only a
  // pop that would have to wait).
  loop.run_until([&] { return status.has_value(); });
  EXPECT_EQ(status, fev::Status::cancelled);
  ASSERT_TRUE(ring->push(5));
  loop.run();
  EXPECT_EQ(got, std::optional<int>(5));
  EXPECT_EQ(sleepers(Access::consumers_word(*ring)), 0u);
  ring.reset();  // no refusal
}

fev::Task<> wait_for_event(fev::Loop& loop, fev::Event& event, bool& result) {
  result = co_await fev::async_wait(loop, event);
}

fev::Task<> wait_for_event_briefly(fev::Loop& loop, fev::Event& event, std::chrono::milliseconds timeout,
                                   std::stop_token stop, bool& result) {
  result = co_await fev::async_wait_for(loop, event, timeout, std::move(stop));
}

std::size_t registered_loop_waits() {
  return fev::detail::loop_event_waits.load(std::memory_order_relaxed);  // relaxed: a test's look
}

TEST(LoopLifetimeDeathTest, EventDestroyedWhileACoroutineWaits) {
  if (!fev::Loop::supported()) GTEST_SKIP() << "io_uring is not available here";
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        fev::Loop loop;
        auto* event = new fev::Event;
        bool result = false;
        loop.spawn(wait_for_event(loop, *event, result));
        loop.run_until([&] { return registered_loop_waits() != 0; });
        delete event;
      },
      "an Event was destroyed while coroutines were still waiting on it");
}

TEST(LoopLifetime, EventDestroyedAfterItsCoroutinesLeft) {
  if (!fev::Loop::supported()) GTEST_SKIP() << "io_uring is not available here";
  ASSERT_EQ(registered_loop_waits(), 0u);
  auto event = std::make_unique<fev::Event>();
  {
    fev::Loop loop;
    bool set_result = false, timed_result = true, stopped_result = true, abandoned_result = false;
    std::stop_source stop;
    loop.spawn(wait_for_event(loop, *event, set_result));
    loop.spawn(wait_for_event_briefly(loop, *event, std::chrono::milliseconds(1), {}, timed_result));
    loop.spawn(wait_for_event_briefly(loop, *event, std::chrono::hours(1), stop.get_token(), stopped_result));
    loop.run_until([&] { return registered_loop_waits() == 3; });
    stop.request_stop();
    loop.run_until([&] { return registered_loop_waits() == 1; });  // timed out, cancelled
    EXPECT_FALSE(timed_result);
    EXPECT_FALSE(stopped_result);
    event->set();
    loop.run();
    EXPECT_TRUE(set_result);
    EXPECT_EQ(registered_loop_waits(), 0u);
    // A task still waiting when its loop goes away leaves the registry with its frame.
    event->clear();
    loop.spawn(wait_for_event(loop, *event, abandoned_result));
    loop.run_until([&] { return registered_loop_waits() == 1; });
  }
  EXPECT_EQ(registered_loop_waits(), 0u);
  event.reset();  // no refusal
}

fev::Task<> wait_for_any(fev::Loop& loop, fev::Event& first, fev::Event& second, std::size_t& index) {
  index = co_await fev::async_wait_any(loop, first, second);
}

fev::Task<> wait_for_any_briefly(fev::Loop& loop, std::vector<fev::Event*> events, std::chrono::milliseconds timeout,
                                 std::stop_token stop, std::optional<std::size_t>& index, bool& finished) {
  index = co_await fev::async_wait_any_for(loop, timeout, std::move(stop), events);
  finished = true;
}

TEST(LoopLifetimeDeathTest, EventDestroyedWhileACoroutineWaitsForAnyOfIt) {
  if (!fev::Loop::supported()) GTEST_SKIP() << "io_uring is not available here";
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        fev::Loop loop;
        fev::Event first;
        auto* second = new fev::Event;
        std::size_t index = 99;
        loop.spawn(wait_for_any(loop, first, *second, index));
        loop.run_until([&] { return registered_loop_waits() == 2; });
        delete second;
      },
      // ... and says what to do instead.
      "an Event was destroyed while coroutines were still waiting on it \\(fev::async_wait on a fev::Loop\\): "
      "set\\(\\) it or stop those waits, and let the coroutines resume \\(or destroy the Loop\\), before "
      "destroying it");
}

TEST(LoopLifetime, EventsDestroyedAfterTheirWaitAnyCoroutinesLeft) {
  if (!fev::Loop::supported()) GTEST_SKIP() << "io_uring is not available here";
  ASSERT_EQ(registered_loop_waits(), 0u);
  auto first = std::make_unique<fev::Event>();
  auto second = std::make_unique<fev::Event>();
  {
    fev::Loop loop;
    std::size_t set_index = 99;
    std::optional<std::size_t> timed_index = 7, stopped_index = 7, abandoned_index;
    bool timed_done = false, stopped_done = false, abandoned_done = false;
    std::stop_source stop;
    const std::vector<fev::Event*> both{first.get(), second.get()};
    loop.spawn(wait_for_any(loop, *first, *second, set_index));
    loop.spawn(wait_for_any_briefly(loop, both, std::chrono::milliseconds(1), {}, timed_index, timed_done));
    loop.spawn(wait_for_any_briefly(loop, both, std::chrono::hours(1), stop.get_token(), stopped_index, stopped_done));
    loop.run_until([&] { return registered_loop_waits() == 6; });
    stop.request_stop();
    loop.run_until([&] { return timed_done && stopped_done; });
    EXPECT_EQ(registered_loop_waits(), 2u);
    EXPECT_EQ(timed_index, std::nullopt);
    EXPECT_EQ(stopped_index, std::nullopt);
    second->set();
    loop.run();
    EXPECT_EQ(set_index, 1u);
    EXPECT_EQ(registered_loop_waits(), 0u);
    // A task still waiting when its loop goes away leaves the registry with its frame.
    second->clear();
    loop.spawn(wait_for_any_briefly(loop, both, std::chrono::hours(1), {}, abandoned_index, abandoned_done));
    loop.run_until([&] { return registered_loop_waits() == 2; });
    EXPECT_FALSE(abandoned_done);
  }
  EXPECT_EQ(registered_loop_waits(), 0u);
  first.reset();  // no refusal
  second.reset();
}

fev::Task<> take_signal(fev::Loop& loop, fev::AutoResetEvent& event, bool& result) {
  result = co_await fev::async_wait(loop, event);
}

TEST(LoopLifetimeDeathTest, AutoResetEventDestroyedWhileACoroutineWaits) {
  if (!fev::Loop::supported()) GTEST_SKIP() << "io_uring is not available here";
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        fev::Loop loop;
        auto* event = new fev::AutoResetEvent;
        bool result = false;
        loop.spawn(take_signal(loop, *event, result));
        // relaxed: a look at the waiter count (bits 1..31), on the loop's own thread.
        loop.run_until([&] { return event->word().load(std::memory_order_relaxed) >= 2u; });
        delete event;
      },
      "an AutoResetEvent was destroyed while threads or coroutines were still waiting on it");
}

// ---- Teardown ----

using namespace std::chrono_literals;
using fev::testing::holds_within;

// Far beyond what any working run needs: reached only by a hang.
constexpr std::chrono::milliseconds kHang = 20s;

// A loop that sleeps in io_uring futex waits, or nullptr where this kernel has none.
std::unique_ptr<fev::Loop> loop_with_futex_waits() {
  if (!fev::Loop::supported()) return nullptr;
  auto loop = std::make_unique<fev::Loop>();
  return loop->futex_waits() ? std::move(loop) : nullptr;
}

// A thread that waits (`wait`) and sleeps in futex(2) on `word`; `unstick` ends a wait
// that a lost wake left asleep.
class ParkedThread {
 public:
  ParkedThread(const std::atomic<std::uint32_t>& word, std::function<void()> wait, std::function<void()> unstick)
      : word_(word), unstick_(std::move(unstick)), thread_([this, wait = std::move(wait)] {
          tid_ = gettid();
          wait();
          done_ = true;
        }) {}
  ~ParkedThread() {
    if (!done_) unstick_();
    thread_.join();
  }
  ParkedThread(const ParkedThread&) = delete;
  ParkedThread& operator=(const ParkedThread&) = delete;

  bool asleep() {
    return holds_within(kHang, [&] { return tid_ != 0 && fev::testing::sleeps_on(tid_, &word_); });
  }
  bool finished() {
    return holds_within(kHang, [&] { return done_.load(); });
  }

 private:
  const std::atomic<std::uint32_t>& word_;
  std::function<void()> unstick_;
  std::atomic<pid_t> tid_{0};
  std::atomic<bool> done_{false};
  std::thread thread_;
};

// Copies of every io_uring descriptor, closed at the end of the scope: the kernel's ring
// object outlives the loop's own close(), as it would while its exit work is still queued.
class RingObjectsKept {
 public:
  RingObjectsKept() {
    for (const int fd : fev::testing::fds_named(fev::testing::kIoUring)) copies_.push_back(dup(fd));
  }
  ~RingObjectsKept() {
    for (const int fd : copies_) close(fd);
  }
  RingObjectsKept(const RingObjectsKept&) = delete;
  RingObjectsKept& operator=(const RingObjectsKept&) = delete;
  bool any() const noexcept { return !copies_.empty(); }

 private:
  std::vector<int> copies_;
};

TEST(LoopTeardown, RingWakeTakenByADestroyedLoopsWaitReachesTheThreadBehindIt) {
  auto loop = loop_with_futex_waits();
  if (!loop) GTEST_SKIP() << "no io_uring futex waits here";
  fev::Ring<int> ring(4);
  auto& word = Access::consumers_word(ring);
  std::optional<int> by_coroutine, by_thread;
  loop->spawn(pop_one(*loop, ring, by_coroutine));
  loop->run_until([&] { return sleepers(word) != 0; });  // its wait is in the kernel's futex queue
  ParkedThread thread(word, [&] { by_thread = ring.pop(); }, [&] { ring.close(); });
  ASSERT_TRUE(thread.asleep());  // queued behind the coroutine's wait
  ASSERT_TRUE(ring.push(7));     // the one wake completes the coroutine's wait
  loop.reset();                  // before the loop reaped that completion
  EXPECT_TRUE(thread.finished()) << "the wake the coroutine took was never passed on";
  EXPECT_EQ(by_thread, std::optional<int>(7));
  EXPECT_EQ(by_coroutine, std::nullopt);
}

TEST(LoopTeardown, RingWakeTakenByADestroyedLoopsWaitReachesACoroutineBehindIt) {
  auto first = loop_with_futex_waits();
  if (!first) GTEST_SKIP() << "no io_uring futex waits here";
  fev::Loop second;
  fev::Ring<int> ring(4);
  auto& word = Access::consumers_word(ring);
  std::optional<int> by_first, by_second;
  first->spawn(pop_one(*first, ring, by_first));
  first->run_until([&] { return sleepers(word) != 0; });  // first in the kernel's futex queue
  second.spawn(pop_one(second, ring, by_second));
  second.run_until([&] { return sleepers(word) == 2 * Access::kSleeperOne; });  // behind it
  // The one wake completes the first loop's wait (its relay to threads finds none).
  ASSERT_TRUE(ring.push(7));
  first.reset();  // before that loop reaped the completion
  fev::testing::LoopWatchdog watchdog(second, std::chrono::seconds(20));
  second.run();
  EXPECT_FALSE(watchdog.disarm()) << "the wake the destroyed loop's coroutine took was never passed on";
  EXPECT_EQ(by_second, std::optional<int>(7));
  EXPECT_EQ(by_first, std::nullopt);
  if (!by_second) ring.close();  // lets the stuck coroutine end
  second.run();
}

TEST(LoopTeardown, ADestroyedLoopsRingWaitTakesNoLaterWake) {
  auto loop = loop_with_futex_waits();
  if (!loop) GTEST_SKIP() << "no io_uring futex waits here";
  fev::Ring<int> ring(4);
  auto& word = Access::consumers_word(ring);
  std::optional<int> by_coroutine, by_thread;
  loop->spawn(pop_one(*loop, ring, by_coroutine));
  loop->run_until([&] { return sleepers(word) != 0; });
  ParkedThread thread(word, [&] { by_thread = ring.pop(); }, [&] { ring.close(); });
  ASSERT_TRUE(thread.asleep());
  const RingObjectsKept kept;
  ASSERT_TRUE(kept.any());
  loop.reset();
  ASSERT_TRUE(ring.push(7));  // one wake, for the thread: the loop's wait must be gone
  EXPECT_TRUE(thread.finished()) << "a request of the destroyed loop took the wake";
  EXPECT_EQ(by_thread, std::optional<int>(7));
}

TEST(LoopTeardown, ADestroyedLoopsRingWaitTakesNoLaterWakeFromACoroutineBehindIt) {
  auto first = loop_with_futex_waits();
  if (!first) GTEST_SKIP() << "no io_uring futex waits here";
  fev::Loop second;
  fev::Ring<int> ring(4);
  auto& word = Access::consumers_word(ring);
  std::optional<int> by_first, by_second;
  first->spawn(pop_one(*first, ring, by_first));
  first->run_until([&] { return sleepers(word) != 0; });
  second.spawn(pop_one(second, ring, by_second));
  second.run_until([&] { return sleepers(word) == 2 * Access::kSleeperOne; });
  const RingObjectsKept kept;
  ASSERT_TRUE(kept.any());
  first.reset();
  ASSERT_TRUE(ring.push(7));  // one wake, for the second loop's coroutine (no thread to relay to)
  fev::testing::LoopWatchdog watchdog(second, std::chrono::seconds(20));
  second.run();
  EXPECT_FALSE(watchdog.disarm()) << "a request of the destroyed loop took the wake";
  EXPECT_EQ(by_second, std::optional<int>(7));
  if (!by_second) ring.close();  // lets the stuck coroutine end
  second.run();
}

TEST(LoopTeardown, ADestroyedLoopsAutoResetWaitTakesNoLaterSignal) {
  auto loop = loop_with_futex_waits();
  if (!loop) GTEST_SKIP() << "no io_uring futex waits here";
  fev::AutoResetEvent event;
  bool by_coroutine = false;
  loop->spawn(take_signal(*loop, event, by_coroutine));
  // relaxed: a look at the waiter count (bits 1..31), on the loop's own thread.
  loop->run_until([&] { return event.word().load(std::memory_order_relaxed) >= 2u; });
  ParkedThread thread(event.word(), [&] { event.wait(); }, [&] { event.set(); });
  ASSERT_TRUE(thread.asleep());
  const RingObjectsKept kept;
  ASSERT_TRUE(kept.any());
  loop.reset();
  event.set();  // one signal, one wake: for the thread
  EXPECT_TRUE(thread.finished()) << "a request of the destroyed loop took the wake";
  EXPECT_FALSE(by_coroutine);
}

// ---- A wake held by a loop that is not turning ----

fev::Task<> spin_in_user_code(fev::Loop& loop, fev::Event& start, std::atomic<bool>& spinning,
                              std::atomic<bool>& stop) {
  const bool started = co_await fev::async_wait(loop, start);
  spinning = started;
  while (!stop.load()) {
    // User code that keeps the loop's thread busy: no system call, no co_await.
  }
}

TEST(LoopBusy, RingWakeTakenByABusyLoopsWaitStillWakesAParkedThread) {
  if (!loop_with_futex_waits()) GTEST_SKIP() << "no io_uring futex waits here";
  fev::Ring<int> ring(4);
  auto& word = Access::consumers_word(ring);
  fev::Event start;
  std::atomic<bool> spinning{false}, stop{false};
  std::optional<int> by_coroutine, by_thread;
  std::atomic<bool> loop_done{false};
  std::thread owner([&] {
    auto loop = loop_with_futex_waits();
    loop->spawn(pop_one(*loop, ring, by_coroutine));
    loop->spawn(spin_in_user_code(*loop, start, spinning, stop));
    loop->run();
    loop_done = true;
  });
  ASSERT_TRUE(holds_within(kHang, [&] { return sleepers(word) != 0; }));  // the coroutine's wait is queued
  {
    ParkedThread thread(word, [&] { by_thread = ring.pop(); }, [&] { ring.close(); });
    ASSERT_TRUE(thread.asleep());  // behind the coroutine's wait
    start.set();
    ASSERT_TRUE(holds_within(kHang, [&] { return spinning.load(); }));  // the loop no longer turns
    ASSERT_TRUE(ring.push(7));  // the one wake completes the coroutine's wait
    EXPECT_TRUE(thread.finished()) << "the thread slept beside a value while the busy loop held the wake";
    EXPECT_TRUE(spinning.load());
    stop = true;
  }
  ring.close();  // ends the coroutine's pop
  owner.join();
  EXPECT_TRUE(loop_done.load());
  EXPECT_EQ(by_thread, std::optional<int>(7));
  EXPECT_EQ(by_coroutine, std::nullopt);
}

TEST(LoopTeardown, AutoResetSignalTakenByADestroyedLoopsWaitReachesTheThreadBehindIt) {
  auto loop = loop_with_futex_waits();
  if (!loop) GTEST_SKIP() << "no io_uring futex waits here";
  fev::AutoResetEvent event;
  bool by_coroutine = false;
  loop->spawn(take_signal(*loop, event, by_coroutine));
  // relaxed: a look at the waiter count (bits 1..31), on the loop's own thread.
  loop->run_until([&] { return event.word().load(std::memory_order_relaxed) >= 2u; });
  ParkedThread thread(event.word(), [&] { event.wait(); }, [&] { event.set(); });
  ASSERT_TRUE(thread.asleep());  // queued behind the coroutine's wait
  const RingObjectsKept kept;    // as while the ring's exit work is still queued
  ASSERT_TRUE(kept.any());
  event.set();    // one signal, one wake: it completes the coroutine's wait
  loop.reset();   // before the loop reaped that completion
  EXPECT_TRUE(thread.finished()) << "the signal the coroutine's wait was woken for never reached the thread";
  EXPECT_FALSE(by_coroutine);
}

// The loop's doorbell: the one eventfd open in this process, or -1.
int doorbell_of_the_only_loop() {
  const std::vector<int> found = fev::testing::fds_named(fev::testing::kEventfd);
  return found.size() == 1 ? found.front() : -1;
}

// A thread whose write(2)s to `fd` are held: it runs `act` when told to.
class HeldWriter {
 public:
  HeldWriter(int fd, std::function<void()> act)
      : thread_([this, fd, act = std::move(act)] {
          listener_ = fev::testing::hold_writes_to(fd);
          installed_.test_and_set();
          installed_.notify_all();
          go_.wait(false);
          if (listener_ >= 0) act();
          acted_ = true;
        }) {
    installed_.wait(false);
  }
  ~HeldWriter() {
    go_.test_and_set();
    go_.notify_all();
    thread_.join();
  }
  HeldWriter(const HeldWriter&) = delete;
  HeldWriter& operator=(const HeldWriter&) = delete;
  int listener() const noexcept { return listener_; }
  void go() {
    go_.test_and_set();
    go_.notify_all();
  }
  bool acted() const noexcept { return acted_; }

 private:
  std::atomic<bool> acted_{false};
  int listener_ = -1;
  std::atomic_flag installed_;
  std::atomic_flag go_;
  std::thread thread_;
};

// A thread that owns a loop: builds it and runs `setup` on it, waits for go(), runs
// `run`, then destroys it.
class LoopOwner {
 public:
  LoopOwner(std::function<void(fev::Loop&)> setup, std::function<void(fev::Loop&)> run)
      : thread_([this, setup = std::move(setup), run = std::move(run)] {
          tid_ = gettid();
          auto loop = loop_with_futex_waits();
          if (loop) setup(*loop);
          loop_ = loop.get();
          ready_.test_and_set();
          ready_.notify_all();
          go_.wait(false);
          if (loop) run(*loop);
          loop.reset();
          done_ = true;
        }) {
    ready_.wait(false);
  }
  ~LoopOwner() {
    go();
    thread_.join();
  }
  LoopOwner(const LoopOwner&) = delete;
  LoopOwner& operator=(const LoopOwner&) = delete;
  fev::Loop* loop() const noexcept { return loop_; }
  void go() {
    go_.test_and_set();
    go_.notify_all();
  }
  bool done() const noexcept { return done_; }
  // True while the owner sleeps in futex(2): blocked on a lock or a callback.
  bool blocked() const { return fev::testing::blocked_in(tid_) == SYS_futex; }

 private:
  std::atomic<pid_t> tid_{0};
  fev::Loop* loop_ = nullptr;
  std::atomic_flag ready_;
  std::atomic_flag go_;
  std::atomic<bool> done_{false};
  std::thread thread_;
};

// With `writer` held at its doorbell write and the owner on its way to destroying the
// loop: waits until the owner either blocks (the loop waits for the writer) or closes the
// doorbell, which an application then reuses; releases the writer. Returns the bytes
// that landed in the application's file (0: none, or the number was never reused).
long long bytes_written_after_close(fev::testing::FutexWakeHold& hold, const HeldWriter& writer, LoopOwner& owner,
                                    int doorbell) {
  std::unique_ptr<fev::testing::ReusedNumber> reused;
  const bool decided = holds_within(kHang, [&] {
    const bool blocked = owner.blocked();  // first: once blocked, an old loop had closed it already
    if (fev::testing::fd_target(doorbell) != fev::testing::kEventfd) {
      reused = std::make_unique<fev::testing::ReusedNumber>(doorbell);
      return true;
    }
    return blocked;
  });
  EXPECT_TRUE(decided) << "the owner neither closed the doorbell nor waited";
  EXPECT_TRUE(hold.release());
  EXPECT_TRUE(holds_within(kHang, [&] { return owner.done() && writer.acted(); }));
  if (reused) {
    EXPECT_TRUE(reused->placed());
  }
  return reused ? reused->size() : 0;
}

TEST(LoopTeardown, AStopRequestRacingDestructionWritesIntoNoReusedDescriptor) {
  fev::Event never;
  std::stop_source stop;
  bool result = true;
  LoopOwner owner(
      [&](fev::Loop& loop) {
        loop.spawn(wait_for_event_briefly(loop, never, std::chrono::hours(1), stop.get_token(), result));
        loop.run_until([&] { return registered_loop_waits() == 1; });
      },
      [](fev::Loop&) {});
  if (owner.loop() == nullptr) GTEST_SKIP() << "no io_uring futex waits here";
  const int doorbell = doorbell_of_the_only_loop();
  ASSERT_GE(doorbell, 0);
  HeldWriter stopper(doorbell, [&] { stop.request_stop(); });
  if (stopper.listener() < 0) GTEST_SKIP() << "no seccomp user notification here";
  fev::testing::FutexWakeHold hold(stopper.listener());
  stopper.go();
  ASSERT_TRUE(hold.wait_held(kHang));  // the stop callback sits in its doorbell write
  owner.go();                          // the loop is destroyed meanwhile
  EXPECT_EQ(bytes_written_after_close(hold, stopper, owner, doorbell), 0);
}

fev::Task<> wait_through_executor(fev::Loop& loop, fev::Event& event, bool& started, bool& result) {
  started = true;
  result = co_await fev::async_wait(loop.executor(), event);
}

TEST(LoopTeardown, ASetPostingToTheLoopTouchesNoDestroyedLoop) {
  fev::Event event;
  bool started = false, result = false;
  LoopOwner owner(
      [&](fev::Loop& loop) {
        loop.spawn(wait_through_executor(loop, event, started, result));
        loop.run_until([&] { return started; });  // suspended in the side table
      },
      [](fev::Loop& loop) { loop.run(); });
  if (owner.loop() == nullptr) GTEST_SKIP() << "no io_uring futex waits here";
  const int doorbell = doorbell_of_the_only_loop();
  ASSERT_GE(doorbell, 0);
  HeldWriter setter(doorbell, [&] { event.set(); });
  if (setter.listener() < 0) GTEST_SKIP() << "no seccomp user notification here";
  fev::testing::FutexWakeHold hold(setter.listener());
  owner.go();
  setter.go();
  ASSERT_TRUE(hold.wait_held(kHang));  // set() posted the coroutine and sits in its doorbell write
  // Any other ring lets the loop look at what was posted.
  const std::uint64_t one = 1;
  ASSERT_EQ(write(doorbell, &one, sizeof one), static_cast<ssize_t>(sizeof one));
  EXPECT_EQ(bytes_written_after_close(hold, setter, owner, doorbell), 0);
  EXPECT_TRUE(result);
}

TEST(LoopTeardown, StopRacingTheLoopsOwnExitTouchesNoDestroyedLoop) {
  fev::Event event;
  bool result = false;
  LoopOwner owner(
      [&](fev::Loop& loop) {
        loop.spawn(wait_for_event(loop, event, result));
        loop.run_until([&] { return registered_loop_waits() == 1; });
      },
      [](fev::Loop& loop) { loop.run(); });
  if (owner.loop() == nullptr) GTEST_SKIP() << "no io_uring futex waits here";
  const int doorbell = doorbell_of_the_only_loop();
  ASSERT_GE(doorbell, 0);
  HeldWriter stopper(doorbell, [&] { owner.loop()->stop(); });
  if (stopper.listener() < 0) GTEST_SKIP() << "no seccomp user notification here";
  fev::testing::FutexWakeHold hold(stopper.listener());
  owner.go();
  stopper.go();
  ASSERT_TRUE(hold.wait_held(kHang));  // stop() sits in its doorbell write
  event.set();                         // the loop's last task finishes: run() returns
  EXPECT_EQ(bytes_written_after_close(hold, stopper, owner, doorbell), 0);
}

fev::Task<> throw_from_a_spawned_task() {
  throw std::runtime_error("the spawned task's own message");
  co_return;
}

TEST(LoopLifetimeDeathTest, ASpawnedTaskThatThrowsReportsItsException) {
  if (!fev::Loop::supported()) GTEST_SKIP() << "io_uring is not available here";
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        fev::Loop loop;
        loop.spawn(throw_from_a_spawned_task());
        loop.run();
      },
      "fev::Loop: a spawned task ended with an exception: the spawned task's own message");
}

TEST(LoopLifetimeDeathTest, RunningOneLoopOnTwoThreadsAtOnceIsFatal) {
  if (!fev::Loop::supported()) GTEST_SKIP() << "io_uring is not available here";
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        // A hang (the misuse not caught) ends the child without the message.
        std::thread([] {
          std::this_thread::sleep_for(kHang);
          std::_Exit(0);
        }).detach();
        fev::Loop loop;
        fev::Event never;
        bool result = false;
        loop.spawn(wait_for_event(loop, never, result));
        std::atomic<pid_t> first_tid{0};
        std::thread first([&] {
          first_tid = gettid();
          loop.run();
        });
        // The first thread sleeps inside a turn of the loop.
        (void)holds_within(kHang, [&] {
          return first_tid != 0 && fev::testing::blocked_in(first_tid) == SYS_io_uring_enter;
        });
        loop.run();
        first.join();
      },
      "run\\(\\) or run_until\\(\\) entered on a second thread while the loop was turning");
}

}  // namespace
