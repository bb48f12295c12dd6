// SPDX-License-Identifier: MIT
// The fast paths never reach the wait backend: proven with a counting backend.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "fev/event.hpp"
#include "test_backends.hpp"

namespace {

using namespace std::chrono_literals;
using Counting = fev::testing::CountingWait<fev::DefaultWait>;

TEST(FastPath, EventOperationsWithoutWaitersMakeNoBackendCall) {
  Counting::reset();
  fev::BasicEvent<Counting> event;
  EXPECT_FALSE(event.is_set());
  EXPECT_FALSE(event.wait_for(0s));
  event.set();             // nobody parked: no wake
  event.set();
  EXPECT_TRUE(event.is_set());
  event.wait();            // set: returns at once
  EXPECT_TRUE(event.wait_for(1s));
  EXPECT_TRUE(event.wait_until(std::chrono::steady_clock::now() + 1s));
  event.clear();
  event.clear();
  EXPECT_EQ(Counting::waits.load(), 0);
  EXPECT_EQ(Counting::wakes.load(), 0);
}

TEST(FastPath, AutoResetEventOperationsWithoutWaitersMakeNoBackendCall) {
  Counting::reset();
  fev::BasicAutoResetEvent<Counting> event;
  EXPECT_FALSE(event.try_wait());
  EXPECT_FALSE(event.wait_for(0s));
  event.set();
  event.set();
  EXPECT_TRUE(event.try_wait());
  event.set();
  event.wait();
  EXPECT_EQ(Counting::waits.load(), 0);
  EXPECT_EQ(Counting::wakes.load(), 0);
}

TEST(FastPath, SetWakesOnlyWhenSomeoneIsParked) {
  Counting::reset();
  fev::BasicEvent<Counting> event;
  std::thread waiter([&] { event.wait(); });
  ASSERT_TRUE(fev::testing::eventually([&] { return Counting::waits.load() >= 1; }));
  event.set();
  waiter.join();
  EXPECT_EQ(Counting::wakes.load(), 1);
  event.set();  // nobody parked any more
  EXPECT_EQ(Counting::wakes.load(), 1);
}

TEST(FastPath, SpinLimitIsTunable) {
  const auto before = fev::spin_limit();
  fev::set_spin_limit(0ns);
  EXPECT_EQ(fev::spin_limit(), 0ns);
  fev::set_spin_limit(-5ns);
  EXPECT_EQ(fev::spin_limit(), 0ns) << "negative limits clamp to zero";
  // With spinning off, a waiter parks at once and still gets released.
  fev::Event event;
  std::thread setter([&] {
    std::this_thread::sleep_for(2ms);
    event.set();
  });
  EXPECT_TRUE(event.wait_for(30s));
  setter.join();
  fev::set_spin_limit(before);
  EXPECT_EQ(fev::spin_limit(), before);
}

TEST(Layout, EventsAreOneWord) {
  EXPECT_EQ(sizeof(fev::Event), 4u);
  EXPECT_EQ(sizeof(fev::AutoResetEvent), 4u);
}

}  // namespace
