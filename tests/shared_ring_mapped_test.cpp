// SPDX-License-Identifier: MIT
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <thread>
#include <utility>

#include "fev/shared.hpp"

namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

struct Item {
  std::uint32_t seq;
  std::uint32_t check;
};

TEST(SharedRingMapped, WorksAtAnotherAddressInAnotherProcess) {
  constexpr std::uint32_t kItems = 200'000;
  fev::SharedRegion region = fev::SharedRegion::create(1 << 20);
  auto* ring = fev::construct_shared_ring<Item>(region, 256);
  const std::size_t ring_offset = region.offset_of(ring);
  void* const creator_base = region.data();

  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    // Map the memfd afresh, then drop the inherited mapping: from here on the ring is
    // only reachable at the new address.
    fev::SharedRegion view = fev::SharedRegion::map(region.fd());
    { fev::SharedRegion gone = std::move(region); }
    if (view.data() == creator_base) _exit(2);  // cannot happen: both were mapped at once
    auto* mapped = view.at<fev::SharedRing<Item>>(ring_offset);
    for (std::uint32_t seq = 0; seq < kItems; ++seq) {
      if (mapped->push_for(Item{seq, ~seq}, 30s) != fev::Status::ok) _exit(3);
    }
    mapped->close();
    _exit(0);
  }
  std::uint32_t next = 0;
  Item item{};
  fev::Status status = fev::Status::ok;
  while ((status = ring->pop_for(item, 30s)) == fev::Status::ok) {
    ASSERT_EQ(item.seq, next);
    ASSERT_EQ(item.check, ~next);
    ++next;
  }
  int wait_status = 0;
  const auto deadline = Clock::now() + 60s;
  while (waitpid(child, &wait_status, WNOHANG) == 0) {
    if (Clock::now() > deadline) {
      kill(child, SIGKILL);
      (void)waitpid(child, &wait_status, 0);
      FAIL() << "the child did not finish";
    }
    std::this_thread::sleep_for(1ms);
  }
  EXPECT_EQ(status, fev::Status::closed);
  EXPECT_EQ(next, kItems);
  EXPECT_TRUE(WIFEXITED(wait_status) && WEXITSTATUS(wait_status) == 0) << "wait status " << wait_status;
}

}  // namespace
