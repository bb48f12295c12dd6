// SPDX-License-Identifier: MIT
// fev::SharedRegion and fev::SharedEvent: process-shared futex words, two processes
// (fork) ping-ponging, and what a dead peer leaves behind. Every wait has a timeout and
// every child is reaped (killed first if needed): a failing test never hangs.
#include "fev/shared.hpp"

#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <new>
#include <optional>
#include <stdexcept>
#include <system_error>
#include <thread>

#include "fev/event_access.hpp"
#include "fev/wait_many.hpp"
#include "child_process.hpp"
#include "test_backends.hpp"

namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using fev::testing::eventually;

bool parked(fev::SharedEvent& event) {
  return (fev::detail::EventAccess::word(event).load() & fev::detail::EventAccess::kParked) != 0;
}

using fev::testing::exited_ok;
using fev::testing::reap;

TEST(SharedRegion, CreateAllocateAndMapAgain) {
  fev::SharedRegion region = fev::SharedRegion::create(10000);
  ASSERT_NE(region.data(), nullptr);
  EXPECT_GE(region.size(), 10000u);
  EXPECT_GE(region.fd(), 0);

  auto* first = static_cast<unsigned char*>(region.allocate(3, 1));
  void* aligned = region.allocate(100, 256);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(aligned) % 256, 0u);
  EXPECT_GE(static_cast<unsigned char*>(aligned), first + 3);
  EXPECT_THROW((void)region.allocate(1, 3), std::invalid_argument);
  EXPECT_THROW((void)region.allocate(region.size(), 1), std::bad_alloc);

  auto* event = fev::construct_shared<fev::SharedEvent>(region, true);
  const std::size_t offset = region.offset_of(event);
  EXPECT_EQ(region.at<fev::SharedEvent>(offset), event);

  // A second mapping of the same memfd (as another process would make from the fd): at
  // another address, the same bytes, and the same allocation cursor.
  fev::SharedRegion view = fev::SharedRegion::map(region.fd());
  EXPECT_NE(view.data(), region.data());
  EXPECT_EQ(view.size(), region.size());
  fev::SharedEvent* alias = view.at<fev::SharedEvent>(offset);
  EXPECT_TRUE(alias->is_set());
  event->clear();
  EXPECT_FALSE(alias->is_set());
  void* next_here = region.allocate(8, 8);
  void* next_there = view.allocate(8, 8);
  EXPECT_NE(region.offset_of(next_here), view.offset_of(next_there)) << "one cursor for every mapping";

  // Moving keeps the mapping; the moved-from region owns nothing.
  fev::SharedRegion moved = std::move(region);
  EXPECT_EQ(moved.at<fev::SharedEvent>(offset), event);
  EXPECT_EQ(region.data(), nullptr);  // NOLINT(bugprone-use-after-move): checking exactly that
  EXPECT_EQ(region.fd(), -1);
}

TEST(SharedRegion, MapRejectsWhatIsNotARegion) {
  int pipe_fds[2];
  ASSERT_EQ(pipe(pipe_fds), 0);
  EXPECT_THROW((void)fev::SharedRegion::map(pipe_fds[0]), std::exception);
  close(pipe_fds[0]);
  close(pipe_fds[1]);
  const int fd = memfd_create("not-fev", MFD_CLOEXEC);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(ftruncate(fd, 4096), 0);
  EXPECT_THROW((void)fev::SharedRegion::map(fd), std::invalid_argument);
  close(fd);
  EXPECT_THROW((void)fev::SharedRegion::map(-1), std::system_error);
}

TEST(SharedRegion, AnonymousRegionHasNoDescriptor) {
  fev::SharedRegion region = fev::SharedRegion::anonymous(100);
  EXPECT_EQ(region.fd(), -1);
  EXPECT_GE(region.size(), 100u);
  EXPECT_NE(fev::construct_shared<fev::SharedEvent>(region), nullptr);
}

// Shared futexes are keyed by the page, not the address: a waiter on one mapping is
// woken by a set() through another mapping of the same memory, at another address.
TEST(SharedEvent, WakesAcrossMappingsAtDifferentAddresses) {
  fev::SharedRegion region = fev::SharedRegion::create(4096);
  auto* event = fev::construct_shared<fev::SharedEvent>(region);
  fev::SharedRegion view = fev::SharedRegion::map(region.fd());
  fev::SharedEvent* alias = view.at<fev::SharedEvent>(region.offset_of(event));
  ASSERT_NE(static_cast<void*>(alias), static_cast<void*>(event));
  bool woken = false;
  std::thread waiter([&] { woken = alias->wait_for(60s); });
  ASSERT_TRUE(eventually([&] { return parked(*event); }));
  std::this_thread::sleep_for(10ms);
  const auto set_at = Clock::now();
  event->set();
  waiter.join();
  EXPECT_TRUE(woken);
  EXPECT_LT(Clock::now() - set_at, 10s);
}

// Two processes, two events: the child waits for ping and answers pong, many rounds.
TEST(SharedEvent, ForkPingPong) {
  constexpr int kRounds = 20000;
  fev::SharedRegion region = fev::SharedRegion::anonymous(4096);
  auto* ping = fev::construct_shared<fev::SharedEvent>(region);
  auto* pong = fev::construct_shared<fev::SharedEvent>(region);
  auto* rounds_seen = fev::construct_shared<std::atomic<int>>(region, 0);

  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    for (int round = 0; round < kRounds; ++round) {
      if (!ping->wait_for(10s)) _exit(2);  // the parent is gone or stuck
      ping->clear();
      rounds_seen->fetch_add(1, std::memory_order_relaxed);
      pong->set();
    }
    _exit(0);
  }
  int answered = 0;
  for (int round = 0; round < kRounds; ++round) {
    ping->set();
    if (!pong->wait_for(10s)) break;  // the child died or stalled: reap() tells
    pong->clear();
    ++answered;
  }
  const int status = reap(child);
  EXPECT_TRUE(exited_ok(status)) << "child wait status " << status;
  EXPECT_EQ(answered, kRounds);
  EXPECT_EQ(rounds_seen->load(), kRounds);
}

// wait_any across processes, through futex_waitv on shared words where the kernel has it.
TEST(SharedEvent, WaitAnyAcrossProcesses) {
  fev::SharedRegion region = fev::SharedRegion::anonymous(4096);
  auto* a = fev::construct_shared<fev::SharedEvent>(region);
  auto* b = fev::construct_shared<fev::SharedEvent>(region);
  auto* ack = fev::construct_shared<fev::SharedEvent>(region);
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    const auto which = fev::wait_any_for(10s, *a, *b);
    if (which != std::optional<std::size_t>(1)) _exit(3);
    ack->set();
    _exit(0);
  }
  ASSERT_TRUE(eventually([&] { return parked(*a) || parked(*b); }, 10s));
  std::this_thread::sleep_for(10ms);
  b->set();
  EXPECT_TRUE(ack->wait_for(10s));
  EXPECT_TRUE(exited_ok(reap(child)));
}

// A peer that dies never answers: the survivor's timed wait returns false at its
// deadline (that is how a dead peer is detected), and the event stays usable.
TEST(SharedEvent, DeadPeerIsDetectedByTimeout) {
  fev::SharedRegion region = fev::SharedRegion::anonymous(4096);
  auto* request = fev::construct_shared<fev::SharedEvent>(region);
  auto* reply = fev::construct_shared<fev::SharedEvent>(region);
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    (void)request->wait_for(10s);
    _exit(0);  // dies without replying
  }
  request->set();
  const auto start = Clock::now();
  EXPECT_FALSE(reply->wait_for(200ms));
  EXPECT_GE(Clock::now() - start, 200ms);
  EXPECT_TRUE(exited_ok(reap(child)));
  reply->set();
  EXPECT_TRUE(reply->wait_for(0s));
}

// A peer killed while parked leaves the parked bit behind: the next set() makes one
// wake that finds nobody; nothing is corrupted and later waits work.
TEST(SharedEvent, PeerKilledWhileParkedLeavesTheEventUsable) {
  fev::SharedRegion region = fev::SharedRegion::anonymous(4096);
  auto* event = fev::construct_shared<fev::SharedEvent>(region);
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    event->wait();  // killed in here
    _exit(0);
  }
  const bool child_parked = eventually([&] { return parked(*event); }, 10s);
  kill(child, SIGKILL);
  const int status = reap(child);
  ASSERT_TRUE(child_parked);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  EXPECT_TRUE(parked(*event)) << "the dead waiter's bit is still there";
  EXPECT_FALSE(event->is_set());
  event->set();  // wakes nobody, clears the bit
  EXPECT_FALSE(parked(*event));
  EXPECT_TRUE(event->is_set());
  event->clear();
  bool woken = false;
  std::thread waiter([&] { woken = event->wait_for(60s); });
  ASSERT_TRUE(eventually([&] { return parked(*event); }));
  event->set();
  waiter.join();
  EXPECT_TRUE(woken);
}

// A setter that died between set()'s CAS and its wake (simulated: the word is set by a
// plain CAS without the wake) leaves a parked waiter asleep; a timed wait still returns
// true at its deadline, because it re-reads the word then.
TEST(SharedEvent, TimedWaitRecoversFromASetterThatDiedBeforeWaking) {
  fev::SharedRegion region = fev::SharedRegion::anonymous(4096);
  auto* event = fev::construct_shared<fev::SharedEvent>(region);
  bool result = false;
  std::thread waiter([&] { result = event->wait_for(300ms); });
  ASSERT_TRUE(eventually([&] { return parked(*event); }));
  std::this_thread::sleep_for(20ms);
  // What set() writes (new generation, set, parked bit gone), without its wake call.
  auto& word = fev::detail::EventAccess::word(*event);
  std::uint32_t seen = word.load();
  using Access = fev::detail::EventAccess;
  while (!word.compare_exchange_weak(seen, ((seen + Access::kGenerationOne) & ~Access::kParked) | Access::kSet)) {
  }
  waiter.join();
  EXPECT_TRUE(result);
}

}  // namespace
