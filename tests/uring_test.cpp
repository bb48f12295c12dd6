// SPDX-License-Identifier: MIT
// fev::UringEventWaiter: an io_uring loop waits on an Event as one more completion.
// Both paths: the futex op (IORING_OP_FUTEX_WAIT, Linux 6.7+) where the probe found it
// working, and the fallback (`unsupported`, forced here; what a kernel without the op
// gets), which queues nothing and never hangs. Tests that need io_uring or the futex op
// skip with the reason when this machine lacks them. Every CQE wait has a timeout.
#include "fev/uring.hpp"

#include <liburing.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstdio>
#include <cstring>
#include <new>
#include <optional>
#include <ostream>
#include <string>
#include <thread>

#include "fev/event.hpp"
#include "fev/event_access.hpp"
#include "fev/loop.hpp"
#include "fev/shared.hpp"
#include "child_process.hpp"
#include "futex_wake_hold.hpp"
#include "test_backends.hpp"

namespace fev {
// gtest prints the answers by name.
void PrintTo(UringWake wake, std::ostream* out) {
  *out << (wake == UringWake::fired ? "fired" : wake == UringWake::rearmed ? "rearmed" : "ended");
}
}  // namespace fev

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
 public:
  void SetUp() override {
    const int error = io_uring_queue_init(16, &ring_, 0);
    if (error < 0) GTEST_SKIP() << "io_uring unavailable here: io_uring_queue_init: " << std::strerror(-error);
    ready_ = true;
  }
  void TearDown() override {
    fev::detail::force_uring_unsupported(false);
    if (ready_) io_uring_queue_exit(&ring_);
  }


  io_uring& ring() { return ring_; }

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

 protected:
  io_uring ring_{};
  bool ready_ = false;
};

TEST_F(Uring, ReportsWhatTheProbeFound) {
  std::printf("io_uring futex wait for fev::Event (private wake): %s\n", name_of(fev::uring_futex_mode(false)));
  std::printf("io_uring futex wait for fev::SharedEvent (shared wake): %s\n", name_of(fev::uring_futex_mode(true)));
  // The kernel's answer is kept: asking again gives the same one.
  EXPECT_EQ(fev::uring_futex_mode(false), fev::uring_futex_mode(false));
}

// Run only by the test below, in a process of its own: the probe's answer is kept for
// the process, so it must be the process's first.
TEST(UringProbeChild, DISABLED_ProbeThatCouldNotAskIsAskedAgain) {
  rlimit saved{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &saved), 0);
  // A second thread first: the probe then creates none inside the window (Linux 6.16+
  // makes the private futex table at the first one), where UBSan's checks of its state
  // would find no descriptor to test memory with.
  std::thread([] {}).join();
  // Every descriptor below the lowest free one is open: with that as the limit, the
  // probe's scratch ring gets EMFILE, as in a process that has run out of descriptors.
  const int lowest_free = open("/dev/null", O_RDONLY | O_CLOEXEC);
  ASSERT_GE(lowest_free, 0);
  close(lowest_free);
  rlimit tight = saved;
  tight.rlim_cur = static_cast<rlim_t>(lowest_free);
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &tight), 0);
  const fev::UringFutexMode without_descriptors = fev::uring_futex_mode(false);
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &saved), 0);
  EXPECT_EQ(without_descriptors, fev::UringFutexMode::unsupported);
  EXPECT_EQ(fev::uring_futex_mode(false), fev::UringFutexMode::private_futex)
      << "a probe that failed for want of a descriptor was kept for the process";
  const fev::Loop later;
  EXPECT_TRUE(later.futex_waits()) << "a later Loop still polls";
}

TEST(UringProbe, ProbeThatCouldNotAskIsAskedAgain) {
  if (fev::uring_futex_mode(false) != fev::UringFutexMode::private_futex)
    GTEST_SKIP() << "no private io_uring futex waits here: nothing to find again";
  char self[] = "/proc/self/exe";
  char filter[] = "--gtest_filter=UringProbeChild.DISABLED_ProbeThatCouldNotAskIsAskedAgain";
  char disabled[] = "--gtest_also_run_disabled_tests";
  char* argv[] = {self, filter, disabled, nullptr};
  pid_t child = 0;
  ASSERT_EQ(posix_spawn(&child, self, nullptr, nullptr, argv, environ), 0);
  const int status = fev::testing::reap(child);
  ASSERT_TRUE(WIFEXITED(status)) << "status " << status;
  EXPECT_EQ(WEXITSTATUS(status), 0) << "the child's test failed (its output is above)";
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
  EXPECT_EQ(waiter.complete(completion->res), fev::UringWake::fired) << completion->res;
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
  EXPECT_EQ(waiter.complete(completion->res), fev::UringWake::fired);
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
    _exit(cqe->user_data == 3 && waiter.complete(cqe->res) == fev::UringWake::fired ? 0 : 5);
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
  EXPECT_EQ(waiter.complete(completion->res), fev::UringWake::fired) << completion->res;
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
  EXPECT_EQ(waiter.complete(completion->res), fev::UringWake::fired);
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
      EXPECT_EQ(waiter.complete(completion->res), fev::UringWake::ended);
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
      EXPECT_EQ(waiter.complete(completion->res), fev::UringWake::fired);
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
    fev::UringWake wake = fev::UringWake::rearmed;
    while (wake == fev::UringWake::rearmed) {  // a late wake of the previous round's set()
      const auto completion = next();
      if (!completion) {
        stop = true;
        ack.set();
        setter.join();
        FAIL() << "round " << round << ": no completion within 10 s";
      }
      EXPECT_EQ(completion->user_data, static_cast<std::uint64_t>(round));
      wake = waiter.complete(completion->res);
      ASSERT_NE(wake, fev::UringWake::ended) << completion->res;
    }
    ++fired;
    event.clear();
    ack.set();
  }
  setter.join();
  EXPECT_EQ(fired, kRounds);
}

// A set() held between its CAS and its futex wake (a seccomp filter holds the wake):
// the first request, prepared before the set() and submitted now, completes with
// -EAGAIN and fires; the loop clears and arms a second request; then the held wake runs
// and completes the second one with 0. No set() happened since that arm().
// `hold` holds the setter's wake; the first request is prepared with user_data 1.
// Returns the second request's CQE (user_data 2), the one the late wake completed.
template <class AnyEvent>
std::optional<Completion> late_wake_on_second_arm(Uring& test, fev::UringEventWaiter& waiter, AnyEvent& event,
                                                  fev::testing::FutexWakeHold& hold) {
  if (!hold.wait_held(10s)) {
    ADD_FAILURE() << "set() did not reach its futex wake";
    return std::nullopt;
  }
  EXPECT_TRUE(event.is_set()) << "the setter is past its CAS";
  EXPECT_EQ(io_uring_submit(&test.ring()), 1);
  const auto first = test.next();
  if (!first) {
    ADD_FAILURE() << "no CQE for the first request";
    return std::nullopt;
  }
  EXPECT_EQ(first->user_data, 1u);
  EXPECT_EQ(first->res, -EAGAIN) << "the word changed before the first request was armed";
  EXPECT_EQ(waiter.complete(first->res), fev::UringWake::fired);

  event.clear();
  EXPECT_EQ(waiter.arm(event, 2), fev::UringArm::armed);
  EXPECT_FALSE(test.next(30ms)) << "the second request waits: nothing set the event since it was armed";
  EXPECT_TRUE(hold.release());  // the late wake runs now
  const auto late = test.next();
  EXPECT_TRUE(late) << "the late wake did not complete the second request";
  if (late) {
    EXPECT_EQ(late->user_data, 2u);
  }
  return late;
}

// The setter: a thread of this process, whose futex wakes on the word are held.
class HeldSetterThread {
 public:
  explicit HeldSetterThread(fev::Event& event) {
    thread_ = std::thread([this, &event] {
      const int fd = fev::testing::hold_futex_wakes_on(&fev::detail::EventAccess::word(event));
      listener_.store(fd, std::memory_order_release);
      if (fd >= 0) event.set();  // the CAS, then the wake, which the filter holds
    });
    // release/acquire: hands the fd over; a plain atomic, so no futex wake is involved.
    (void)eventually([&] { return listener_.load(std::memory_order_acquire) != kNotYet; });
  }
  HeldSetterThread(const HeldSetterThread&) = delete;
  HeldSetterThread& operator=(const HeldSetterThread&) = delete;
  // The hold is destroyed first (declared later): a still-held wake fails, join never hangs.
  ~HeldSetterThread() { thread_.join(); }
  // The listener fd, or -errno when no filter could be installed (then nothing was set).
  int listener() const { return listener_.load(std::memory_order_acquire); }

 private:
  static constexpr int kNotYet = INT_MIN;
  std::atomic<int> listener_{kNotYet};
  std::thread thread_;
};

#define REQUIRE_LISTENER(fd)                                                                           \
  do {                                                                                                  \
    if ((fd) < 0) GTEST_SKIP() << "no seccomp user notification here: " << std::strerror(-(fd));      \
  } while (false)

TEST_F(Uring, LateWakeOfAnEarlierSetDoesNotFireTheNextArm) {
  REQUIRE_FUTEX_OP(false);
  fev::Event event;
  fev::UringEventWaiter waiter(ring_);
  // The first request stays queued: the kernel compares the word only when it arms it.
  ASSERT_EQ(waiter.prepare(event, 1), fev::UringArm::armed);
  HeldSetterThread setter(event);
  REQUIRE_LISTENER(setter.listener());
  fev::testing::FutexWakeHold hold(setter.listener());
  const auto late = late_wake_on_second_arm(*this, waiter, event, hold);
  ASSERT_TRUE(late);
  EXPECT_EQ(late->res, 0);
  EXPECT_EQ(waiter.complete(late->res), fev::UringWake::rearmed)
      << "a late wake counted as a set(); is_set() " << event.is_set();
  EXPECT_TRUE(waiter.in_flight());
  EXPECT_FALSE(next(30ms)) << "re-armed: still waiting for a set()";
  event.set();
  const auto fired = next();
  ASSERT_TRUE(fired) << "the set() after the re-arm did not complete it";
  EXPECT_EQ(fired->user_data, 2u);
  EXPECT_EQ(waiter.complete(fired->res), fev::UringWake::fired);
}

// The same late wake, but a set() and clear() come between it and complete(): the
// waiter was released since arm(), so complete() says fired (and queues nothing).
TEST_F(Uring, SetBetweenALateWakeAndCompleteFires) {
  REQUIRE_FUTEX_OP(false);
  fev::Event event;
  fev::UringEventWaiter waiter(ring_);
  ASSERT_EQ(waiter.prepare(event, 1), fev::UringArm::armed);
  HeldSetterThread setter(event);
  REQUIRE_LISTENER(setter.listener());
  fev::testing::FutexWakeHold hold(setter.listener());
  const auto late = late_wake_on_second_arm(*this, waiter, event, hold);
  ASSERT_TRUE(late);
  event.set();
  event.clear();
  EXPECT_EQ(waiter.complete(late->res), fev::UringWake::fired);
  EXPECT_FALSE(waiter.in_flight());
  EXPECT_EQ(io_uring_sq_ready(&ring_), 0u) << "nothing re-armed";
  EXPECT_FALSE(next(20ms));
}

// The caller cancels while the late wake's CQE is already queued: the cancel finds
// nothing in flight, so complete() must not re-arm, or the request would outlive it.
TEST_F(Uring, CancelBeforeCompletingALateWakeEndsTheWait) {
  REQUIRE_FUTEX_OP(false);
  fev::Event event;
  fev::UringEventWaiter waiter(ring_);
  ASSERT_EQ(waiter.prepare(event, 1), fev::UringArm::armed);
  HeldSetterThread setter(event);
  REQUIRE_LISTENER(setter.listener());
  fev::testing::FutexWakeHold hold(setter.listener());
  const auto late = late_wake_on_second_arm(*this, waiter, event, hold);
  ASSERT_TRUE(late);
  ASSERT_EQ(waiter.cancel(2, 3), fev::UringArm::armed);
  const auto cancel = next();
  ASSERT_TRUE(cancel);
  EXPECT_EQ(cancel->user_data, 3u);
  EXPECT_EQ(cancel->res, -ENOENT) << "the request had completed already";
  EXPECT_EQ(waiter.complete(late->res), fev::UringWake::ended);
  EXPECT_FALSE(waiter.in_flight());
  EXPECT_EQ(io_uring_sq_ready(&ring_), 0u) << "nothing re-armed";
  event.set();
  EXPECT_FALSE(next(20ms)) << "a cancelled wait completes no more";
}

// A SharedEvent set by another process whose wake is held: the process-shared futex
// path (no FUTEX2_PRIVATE) gets the same answer. The child installs the filter; the
// parent takes the listener from it with pidfd_getfd, and the child closes its own copy
// so that the parent's is the only one (closing it then frees a held wake).
TEST_F(Uring, LateWakeFromAnotherProcessDoesNotFireTheNextArm) {
  REQUIRE_FUTEX_OP(true);
  fev::SharedRegion region = fev::SharedRegion::anonymous(4096);
  auto* event = fev::construct_shared<fev::SharedEvent>(region);
  auto* child_listener = new (region.allocate(sizeof(std::atomic<int>), alignof(std::atomic<int>)))
      std::atomic<int>(INT_MIN);
  auto* taken = new (region.allocate(sizeof(std::atomic<bool>), alignof(std::atomic<bool>))) std::atomic<bool>(false);
  fev::UringEventWaiter waiter(ring_);
  ASSERT_EQ(waiter.prepare(*event, 1), fev::UringArm::armed);
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    const int fd = fev::testing::hold_futex_wakes_on(&fev::detail::EventAccess::word(*event));
    // release/acquire: hand the fd number over and back; plain atomics, no futex wakes.
    child_listener->store(fd, std::memory_order_release);
    if (fd < 0) _exit(0);
    for (int i = 0; i < 30000 && !taken->load(std::memory_order_acquire); ++i) usleep(1000);
    close(fd);
    event->set();  // the CAS, then the wake, which the filter holds
    _exit(0);
  }
  struct Reap {
    pid_t pid;
    ~Reap() { EXPECT_TRUE(fev::testing::exited_ok(fev::testing::reap(pid, 30s))); }
  } reap_child{child};
  ASSERT_TRUE(eventually([&] { return child_listener->load(std::memory_order_acquire) != INT_MIN; }));
  const int child_fd = child_listener->load(std::memory_order_acquire);
  REQUIRE_LISTENER(child_fd);
  const int pidfd = static_cast<int>(syscall(SYS_pidfd_open, child, 0));
  const int listener = pidfd < 0 ? -1 : static_cast<int>(syscall(SYS_pidfd_getfd, pidfd, child_fd, 0));
  if (pidfd >= 0) close(pidfd);
  if (listener < 0) {
    kill(child, SIGKILL);
    GTEST_SKIP() << "pidfd_getfd refused here: " << std::strerror(errno);
  }
  fev::testing::FutexWakeHold hold(listener);
  taken->store(true, std::memory_order_release);
  const auto late = late_wake_on_second_arm(*this, waiter, *event, hold);
  ASSERT_TRUE(late);
  EXPECT_EQ(waiter.complete(late->res), fev::UringWake::rearmed) << "a late wake counted as a set()";
  event->set();
  const auto fired = next();
  ASSERT_TRUE(fired);
  EXPECT_EQ(waiter.complete(fired->res), fev::UringWake::fired);
}

TEST_F(Uring, OneRequestPerWaiter) {
  REQUIRE_FUTEX_OP(false);
  fev::Event event, other;
  fev::UringEventWaiter waiter(ring_);
  EXPECT_EQ(waiter.complete(0), fev::UringWake::ended) << "nothing armed yet";
  ASSERT_EQ(waiter.arm(event, 1), fev::UringArm::armed);
  EXPECT_TRUE(waiter.in_flight());
  EXPECT_EQ(waiter.arm(other, 2), fev::UringArm::busy);
  EXPECT_EQ(waiter.prepare(event, 1), fev::UringArm::busy);
  EXPECT_EQ(io_uring_sq_ready(&ring_), 0u) << "busy queues nothing";
  event.set();
  const auto completion = next();
  ASSERT_TRUE(completion);
  EXPECT_EQ(completion->user_data, 1u);
  EXPECT_EQ(waiter.complete(completion->res), fev::UringWake::fired);
  EXPECT_FALSE(waiter.in_flight());
  EXPECT_EQ(waiter.complete(completion->res), fev::UringWake::ended) << "one answer per CQE";
  EXPECT_EQ(waiter.arm(other, 2), fev::UringArm::armed) << "free again after complete()";
  ASSERT_EQ(waiter.cancel(2, 3), fev::UringArm::armed);
  for (int i = 0; i < 2; ++i) {
    const auto done = next();
    ASSERT_TRUE(done);
    if (done->user_data == 2) {
      EXPECT_EQ(waiter.complete(done->res), fev::UringWake::ended);
    }
  }
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
  EXPECT_EQ(waiter.complete(completion->res), fev::UringWake::fired);
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
