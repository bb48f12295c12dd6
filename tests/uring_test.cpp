// fev::UringEventWaiter: an io_uring loop waits on an Event as one more completion.
// Both paths: the futex op (IORING_OP_FUTEX_WAIT, Linux 6.7+) where the probe found it
// working, and the fallback (`unsupported`, forced here; what a kernel without the op
// gets), which queues nothing and never hangs. Tests that need io_uring or the futex op
// skip with the reason when this machine lacks them. Every CQE wait has a timeout.
#include "fev/uring.hpp"

#include <liburing.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string>
#include <thread>

#include "fev/event.hpp"
#include "fev/event_access.hpp"
#include "fev/shared.hpp"
#include "futex_wake_hold.hpp"
#include "test_backends.hpp"

namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using fev::testing::eventually;

// Skips the test (from the test body: GTEST_SKIP returns from the enclosing function)
// when the probe found no way to wait on such futex words in a ring.
#define REQUIRE_FUTEX_OP(shared)                                                   \
  do {                                                                             \
    if (fev::uring_futex_mode(shared) == fev::UringFutexMode::unsupported)        \
      GTEST_SKIP() << "this kernel's io_uring cannot wait on "                     \
                   << ((shared) ? "shared" : "private")                            \
                   << " futex words (IORING_OP_FUTEX_WAIT needs Linux 6.7+)";      \
  } while (false)

const char* name_of(fev::UringFutexMode mode) {
  switch (mode) {
    case fev::UringFutexMode::private_futex: return "IORING_OP_FUTEX_WAIT with FUTEX2_PRIVATE";
    case fev::UringFutexMode::shared_futex: return "IORING_OP_FUTEX_WAIT without FUTEX2_PRIVATE";
    case fev::UringFutexMode::unsupported: return "unsupported (arm() returns UringArm::unsupported)";
  }
  return "?";
}

template <class Event>
bool parked(Event& event) {
  return (fev::detail::EventAccess::word(event).load() & fev::detail::EventAccess::kParked) != 0;
}

struct Completion {
  std::uint64_t user_data;
  int res;
};

class Uring : public ::testing::Test {
 protected:
  void SetUp() override {
    const int error = io_uring_queue_init(16, &ring_, 0);
    if (error < 0) GTEST_SKIP() << "io_uring unavailable here: io_uring_queue_init: " << std::strerror(-error);
    ready_ = true;
  }
  void TearDown() override {
    fev::detail::force_uring_unsupported(false);
    if (ready_) io_uring_queue_exit(&ring_);
  }


  // The next CQE within `limit`, or nullopt.
  std::optional<Completion> next(std::chrono::milliseconds limit = 10s) {
    __kernel_timespec timeout{};
    timeout.tv_sec = limit.count() / 1000;
    timeout.tv_nsec = (limit.count() % 1000) * 1000000;
    io_uring_cqe* cqe = nullptr;
    const auto deadline = Clock::now() + limit;
    int error = 0;
    do {
      error = io_uring_wait_cqe_timeout(&ring_, &cqe, &timeout);
    } while (error == -EINTR && Clock::now() < deadline);
    if (error != 0 || cqe == nullptr) return std::nullopt;
    const Completion completion{cqe->user_data, cqe->res};
    io_uring_cqe_seen(&ring_, cqe);
    return completion;
  }

  io_uring ring_{};
  bool ready_ = false;
};

TEST_F(Uring, ReportsWhatTheProbeFound) {
  std::printf("io_uring futex wait for fev::Event (private wake): %s\n", name_of(fev::uring_futex_mode(false)));
  std::printf("io_uring futex wait for fev::SharedEvent (shared wake): %s\n", name_of(fev::uring_futex_mode(true)));
  // The probe is cached: asking again is instant and gives the same answer.
  const auto start = Clock::now();
  EXPECT_EQ(fev::uring_futex_mode(false), fev::uring_futex_mode(false));
  EXPECT_LT(Clock::now() - start, 100ms);
}

// ---- The futex op. ----

TEST_F(Uring, ArmOnASetEventCompletesAtOnce) {
  REQUIRE_FUTEX_OP(false);
  fev::Event event(true);
  fev::UringEventWaiter waiter(ring_);
  ASSERT_EQ(waiter.arm(event, 7), fev::UringArm::armed);
  const auto completion = next();
  ASSERT_TRUE(completion);
  EXPECT_EQ(completion->user_data, 7u);
  EXPECT_TRUE(fev::UringEventWaiter::fired(completion->res)) << completion->res;
  EXPECT_FALSE(parked(event)) << "no parked bit on a set event";
}

TEST_F(Uring, SetFromAnotherThreadCompletesTheArmedWait) {
  REQUIRE_FUTEX_OP(false);
  fev::Event event;
  fev::UringEventWaiter waiter(ring_);
  ASSERT_EQ(waiter.arm(event, 42), fev::UringArm::armed);
  EXPECT_TRUE(parked(event)) << "arm() sets the parked bit, so set() will wake";
  EXPECT_FALSE(next(30ms)) << "nothing completes before set()";
  std::thread setter([&] { event.set(); });
  const auto completion = next();
  setter.join();
  ASSERT_TRUE(completion) << "set() did not complete the armed request";
  EXPECT_EQ(completion->user_data, 42u);
  EXPECT_EQ(completion->res, 0);
  EXPECT_TRUE(fev::UringEventWaiter::fired(completion->res));
  EXPECT_TRUE(event.is_set());
}

// Linux 6.16+: a process's first extra thread moves its private futexes to a table of
// its own. A forked child starts single-threaded without that table: there, a request
// armed before the child's first thread must still be completed by a set() from that
// thread (arm() makes the kernel create the table first).
TEST_F(Uring, ArmedWaitSurvivesTheFirstThreadOfAForkedChild) {
  REQUIRE_FUTEX_OP(false);
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    io_uring ring{};
    if (io_uring_queue_init(4, &ring, 0) < 0) _exit(2);
    fev::Event event;
    fev::UringEventWaiter waiter(ring);
    if (waiter.arm(event, 3) != fev::UringArm::armed) _exit(3);
    std::thread setter([&] { event.set(); });  // the child's first thread, after the arm
    setter.join();
    __kernel_timespec timeout{5, 0};
    io_uring_cqe* cqe = nullptr;
    if (io_uring_wait_cqe_timeout(&ring, &cqe, &timeout) != 0) _exit(4);  // stranded
    _exit(cqe->user_data == 3 && fev::UringEventWaiter::fired(cqe->res) ? 0 : 5);
  }
  int status = 0;
  const auto deadline = Clock::now() + 30s;
  while (waitpid(child, &status, WNOHANG) == 0) {
    if (Clock::now() > deadline) {
      kill(child, SIGKILL);
      (void)waitpid(child, &status, 0);
      FAIL() << "the child did not finish";
    }
    std::this_thread::sleep_for(1ms);
  }
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
      << "wait status " << status << " (exit 4: the set() never completed the request)";
}

// Python's rule: the set() fired the request even though clear() followed at once.
TEST_F(Uring, SetThenClearStillFires) {
  REQUIRE_FUTEX_OP(false);
  fev::Event event;
  fev::UringEventWaiter waiter(ring_);
  ASSERT_EQ(waiter.arm(event, 1), fev::UringArm::armed);
  event.set();
  event.clear();
  const auto completion = next();
  ASSERT_TRUE(completion);
  EXPECT_TRUE(fev::UringEventWaiter::fired(completion->res)) << completion->res;
  EXPECT_FALSE(event.is_set());
}

// prepare() leaves the SQE queued; a set() before the submit changes the word, and the
// kernel completes the request with -EAGAIN when it arms it: no lost wakeup.
TEST_F(Uring, SetBetweenPrepareAndSubmitFiresWithEagain) {
  REQUIRE_FUTEX_OP(false);
  fev::Event event;
  fev::UringEventWaiter waiter(ring_);
  ASSERT_EQ(waiter.prepare(event, 5), fev::UringArm::armed);
  EXPECT_EQ(io_uring_sq_ready(&ring_), 1u) << "prepare() does not submit";
  event.set();
  event.clear();
  ASSERT_EQ(io_uring_submit(&ring_), 1);
  const auto completion = next();
  ASSERT_TRUE(completion);
  EXPECT_EQ(completion->res, -EAGAIN);
  EXPECT_TRUE(fev::UringEventWaiter::fired(completion->res));
}

TEST_F(Uring, CancelEndsTheArmedWait) {
  REQUIRE_FUTEX_OP(false);
  fev::Event event;
  fev::UringEventWaiter waiter(ring_);
  ASSERT_EQ(waiter.arm(event, 10), fev::UringArm::armed);
  ASSERT_EQ(waiter.cancel(10, 11), fev::UringArm::armed);
  bool wait_done = false, cancel_done = false;
  for (int i = 0; i < 2; ++i) {
    const auto completion = next();
    ASSERT_TRUE(completion);
    if (completion->user_data == 10) {
      EXPECT_EQ(completion->res, -ECANCELED);
      EXPECT_FALSE(fev::UringEventWaiter::fired(completion->res));
      wait_done = true;
    } else {
      EXPECT_EQ(completion->user_data, 11u);
      EXPECT_GE(completion->res, 0) << "the cancel found the request";
      cancel_done = true;
    }
  }
  EXPECT_TRUE(wait_done && cancel_done);
  event.set();  // the leftover parked bit only costs one empty wake
  EXPECT_FALSE(next(20ms)) << "a cancelled request completes once only";
}

// The event loop of the README: a pipe read and an event in one ring.
TEST_F(Uring, PipeReadAndEventInOneRing) {
  REQUIRE_FUTEX_OP(false);
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  fev::Event event;
  fev::UringEventWaiter waiter(ring_);
  char buffer[16] = {};
  io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
  io_uring_prep_read(sqe, fds[0], buffer, sizeof buffer, 0);
  io_uring_sqe_set_data64(sqe, 100);
  ASSERT_EQ(waiter.arm(event, 200), fev::UringArm::armed);
  std::thread other([&] {
    std::this_thread::sleep_for(10ms);
    EXPECT_EQ(write(fds[1], "hi", 2), 2);
    std::this_thread::sleep_for(10ms);
    event.set();
  });
  bool read_done = false, event_done = false;
  for (int i = 0; i < 2; ++i) {
    const auto completion = next();
    ASSERT_TRUE(completion);
    if (completion->user_data == 100) {
      EXPECT_EQ(completion->res, 2);
      EXPECT_EQ(std::string(buffer, 2), "hi");
      read_done = true;
    } else {
      EXPECT_EQ(completion->user_data, 200u);
      EXPECT_TRUE(fev::UringEventWaiter::fired(completion->res));
      event_done = true;
    }
  }
  other.join();
  close(fds[0]);
  close(fds[1]);
  EXPECT_TRUE(read_done && event_done);
}

// Arm, set from another thread, reap, clear, acknowledge, again: a lost wakeup leaves
// a round without its CQE and fails it (10 s timeout) instead of hanging.
TEST_F(Uring, RearmLoopLosesNoWakeup) {
  REQUIRE_FUTEX_OP(false);
  fev::Event event, ack;
  fev::UringEventWaiter waiter(ring_);
  constexpr int kRounds = 2000;
  std::atomic<bool> stop{false};
  std::thread setter([&] {
    for (int round = 0; round < kRounds && !stop.load(); ++round) {
      if (round % 16 == 0) std::this_thread::sleep_for(50us);
      event.set();
      if (!ack.wait_for(10s)) return;
      ack.clear();
    }
  });
  int fired = 0;
  for (int round = 0; round < kRounds; ++round) {
    ASSERT_EQ(waiter.arm(event, static_cast<std::uint64_t>(round)), fev::UringArm::armed);
    const auto completion = next();
    if (!completion) {
      stop = true;
      ack.set();
      setter.join();
      FAIL() << "round " << round << ": no completion within 10 s";
    }
    EXPECT_EQ(completion->user_data, static_cast<std::uint64_t>(round));
    ASSERT_TRUE(fev::UringEventWaiter::fired(completion->res)) << completion->res;
    ++fired;
    event.clear();
    ack.set();
  }
  setter.join();
  EXPECT_EQ(fired, kRounds);
}

// A set() held between its CAS and its futex wake (a seccomp filter holds the wake):
// request #1 sees the CAS's new word and fires with -EAGAIN; the loop clears and arms #2;
// then the held wake runs and completes #2 with 0. No set() happened since arm #2, so
// #2 must not count as fired.
TEST_F(Uring, LateWakeOfAnEarlierSetDoesNotFireTheNextArm) {
  REQUIRE_FUTEX_OP(false);
  fev::Event event;
  fev::UringEventWaiter waiter(ring_);
  // #1 stays queued: the kernel compares the word only when it is submitted.
  ASSERT_EQ(waiter.prepare(event, 1), fev::UringArm::armed);
  constexpr int kNotYet = INT_MIN;
  std::atomic<int> listener{kNotYet};  // release/acquire: hands the fd over, nothing else
  std::thread setter([&] {
    const int fd = fev::testing::hold_futex_wakes_on(&fev::detail::EventAccess::word(event));
    listener.store(fd, std::memory_order_release);
    if (fd >= 0) event.set();  // the CAS, then the wake, which the filter holds
  });
  ASSERT_TRUE(eventually([&] { return listener.load(std::memory_order_acquire) != kNotYet; }));
  const int fd = listener.load(std::memory_order_acquire);
  if (fd < 0) {
    setter.join();
    GTEST_SKIP() << "no seccomp user notification here: " << std::strerror(-fd);
  }
  struct JoinAfterRelease {  // closing the listener lets a still-held wake fail: join never hangs
    std::thread& thread;
    ~JoinAfterRelease() { thread.join(); }
  } join_setter{setter};
  fev::testing::FutexWakeHold hold(fd);
  ASSERT_TRUE(hold.wait_held(10s)) << "set() did not reach its futex wake";
  ASSERT_TRUE(event.is_set()) << "the setter is past its CAS";

  ASSERT_EQ(io_uring_submit(&ring_), 1);
  const auto first = next();
  ASSERT_TRUE(first);
  EXPECT_EQ(first->user_data, 1u);
  EXPECT_EQ(first->res, -EAGAIN) << "the word changed before #1 was armed";
  EXPECT_TRUE(fev::UringEventWaiter::fired(first->res));

  event.clear();
  ASSERT_EQ(waiter.arm(event, 2), fev::UringArm::armed);
  EXPECT_FALSE(next(30ms)) << "#2 waits: nothing set the event since it was armed";
  ASSERT_TRUE(hold.release());  // the late wake runs now
  const auto late = next(200ms);
  const bool fired_by_late_wake = late && fev::UringEventWaiter::fired(late->res);
  EXPECT_FALSE(fired_by_late_wake) << "#2 reported fired (res " << (late ? late->res : 1)
                                   << ") with is_set() " << event.is_set() << " and no set() since it was armed";
}

// A SharedEvent in a shared region, set by another process, completes the ring's request.
TEST_F(Uring, SharedEventSetByAnotherProcess) {
  REQUIRE_FUTEX_OP(true);
  fev::SharedRegion region = fev::SharedRegion::anonymous(4096);
  auto* event = fev::construct_shared<fev::SharedEvent>(region);
  fev::UringEventWaiter waiter(ring_);
  ASSERT_EQ(waiter.arm(*event, 9), fev::UringArm::armed);
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    usleep(10000);
    event->set();
    _exit(0);
  }
  const auto completion = next();
  int status = 0;
  if (!completion) kill(child, SIGKILL);
  (void)waitpid(child, &status, 0);
  ASSERT_TRUE(completion) << "the other process's set() did not complete the request";
  EXPECT_EQ(completion->user_data, 9u);
  EXPECT_TRUE(fev::UringEventWaiter::fired(completion->res));
  EXPECT_TRUE(event->is_set());
}

TEST_F(Uring, FullSubmissionQueueIsReportedAndLeavesNoParkedBit) {
  REQUIRE_FUTEX_OP(false);
  while (io_uring_get_sqe(&ring_) != nullptr) {
  }
  fev::Event event;
  fev::UringEventWaiter waiter(ring_);
  EXPECT_EQ(waiter.arm(event, 1), fev::UringArm::sq_full);
  EXPECT_FALSE(parked(event));
  EXPECT_EQ(waiter.cancel(1, 2), fev::UringArm::sq_full);
}

// ---- The fallback: nothing the ring could wait on. ----

TEST_F(Uring, ForcedFallbackQueuesNothingAndReturnsAtOnce) {
  fev::detail::force_uring_unsupported(true);
  fev::Event event;
  fev::UringEventWaiter waiter(ring_);
  const auto start = Clock::now();
  EXPECT_EQ(waiter.arm(event, 1), fev::UringArm::unsupported);
  EXPECT_EQ(waiter.prepare(event, 1), fev::UringArm::unsupported);
  EXPECT_LT(Clock::now() - start, 1s);
  EXPECT_EQ(io_uring_sq_ready(&ring_), 0u);
  EXPECT_FALSE(parked(event)) << "an unsupported arm changes nothing";
  event.set();
  EXPECT_FALSE(next(20ms));
}

// What a caller does on `unsupported` (examples/uring_pipe_and_event.cpp does the same):
// a helper thread waits on the event and writes to an eventfd-like pipe the ring reads.
TEST_F(Uring, FallbackThroughAHelperThreadStillCompletes) {
  fev::detail::force_uring_unsupported(true);
  fev::Event event;
  fev::UringEventWaiter waiter(ring_);
  ASSERT_EQ(waiter.arm(event, 1), fev::UringArm::unsupported);
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  std::thread helper([&] {
    if (event.wait_for(30s)) {
      EXPECT_EQ(write(fds[1], "e", 1), 1);
    }
  });
  char byte = 0;
  io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
  io_uring_prep_read(sqe, fds[0], &byte, 1, 0);
  io_uring_sqe_set_data64(sqe, 1);
  ASSERT_EQ(io_uring_submit(&ring_), 1);
  event.set();
  const auto completion = next();
  helper.join();
  close(fds[0]);
  close(fds[1]);
  ASSERT_TRUE(completion);
  EXPECT_EQ(completion->res, 1);
  EXPECT_EQ(byte, 'e');
}

TEST_F(Uring, BackendsWithoutFutexWakesAreUnsupported) {
  fev::BasicEvent<fev::backend::Portable> event;
  fev::UringEventWaiter waiter(ring_);
  EXPECT_EQ(waiter.arm(event, 1), fev::UringArm::unsupported);
  EXPECT_EQ(io_uring_sq_ready(&ring_), 0u);
}

}  // namespace
