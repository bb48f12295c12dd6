// SPDX-License-Identifier: MIT
// The wait backends themselves: wait/wake_one/wake_all and deadlines.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <thread>
#include <vector>

#include "fev/config.hpp"
#include "fev/wait.hpp"
#include "test_backends.hpp"

namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

template <class Backend>
class WaitBackendTest : public ::testing::Test {};
using RealBackends = typename fev::testing::TypesOf<fev::BuiltWaitBackends>::type;
TYPED_TEST_SUITE(WaitBackendTest, RealBackends, fev::testing::BackendNames);

TEST(WaitBackend, ReportsTheLiveBackend) {
  std::printf("default wait backend: %.*s\n", static_cast<int>(fev::DefaultWait::name.size()),
              fev::DefaultWait::name.data());
  EXPECT_FALSE(fev::DefaultWait::name.empty());
}

TYPED_TEST(WaitBackendTest, ReturnsAtOnceWhenTheWordDiffers) {
  std::atomic<std::uint32_t> word{1};
  const auto start = Clock::now();
  EXPECT_EQ(TypeParam::wait(word, 0, Clock::now() + 30s), fev::WaitResult::woken);
  EXPECT_EQ(TypeParam::wait(word, 0, fev::Deadline::max()), fev::WaitResult::woken);
  EXPECT_LT(Clock::now() - start, 10s);
}

TYPED_TEST(WaitBackendTest, TimesOutNoEarlierThanTheDeadline) {
  std::atomic<std::uint32_t> word{0};
  EXPECT_EQ(TypeParam::wait(word, 0, Clock::now() - 1s), fev::WaitResult::timeout);
  const auto deadline = Clock::now() + 20ms;
  fev::WaitResult result = fev::WaitResult::woken;
  while ((result = TypeParam::wait(word, 0, deadline)) == fev::WaitResult::woken) {
    // spurious wakes are allowed; loop on the same deadline
  }
  EXPECT_EQ(result, fev::WaitResult::timeout);
  EXPECT_GE(Clock::now(), deadline);
}

TYPED_TEST(WaitBackendTest, WakeAllReleasesEveryParkedThread) {
  std::atomic<std::uint32_t> word{0};
  std::atomic<int> done{0};
  std::vector<std::thread> waiters;
  for (int i = 0; i < 4; ++i) {
    waiters.emplace_back([&] {
      while (word.load() == 0) (void)TypeParam::wait(word, 0, fev::Deadline::max());
      done.fetch_add(1);
    });
  }
  std::this_thread::sleep_for(20ms);
  EXPECT_EQ(done.load(), 0);
  word.store(1);
  TypeParam::wake_all(word);
  for (auto& waiter : waiters) waiter.join();
  EXPECT_EQ(done.load(), 4);
}

TYPED_TEST(WaitBackendTest, WakeOneReleasesAParkedThread) {
  std::atomic<std::uint32_t> word{0};
  std::thread waiter([&] {
    while (word.load() == 0) (void)TypeParam::wait(word, 0, Clock::now() + 60s);
  });
  std::this_thread::sleep_for(10ms);
  word.store(1);
  TypeParam::wake_one(word);
  waiter.join();
}

TYPED_TEST(WaitBackendTest, WakeWithNobodyParkedIsHarmless) {
  std::atomic<std::uint32_t> word{0};
  TypeParam::wake_one(word);
  TypeParam::wake_all(word);
  EXPECT_EQ(word.load(), 0u);
}

}  // namespace
