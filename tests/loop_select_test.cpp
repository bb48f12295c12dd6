// SPDX-License-Identifier: MIT
// fev::async_select: a coroutine on a fev::Loop selects over rings and events. Every test
// runs with IORING_OP_FUTEX_WAITV where the kernel has io_uring futex waits, and on the
// forced fallback path (polling timers). A hang stops the loop and fails the test.
#include "fev/loop_select.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <stop_token>
#include <string>
#include <thread>

#include "fev/event.hpp"
#include "fev/loop.hpp"
#include "fev/ring.hpp"
#include "loop_test_support.hpp"

namespace {

using namespace std::chrono_literals;
using fev::Selected;
using fev::Status;
using fev::testing::run_all;

class LoopSelectTest : public fev::testing::LoopPathTest {
 protected:
  void TearDown() override {
    if (loop_ && !GetParam()) {
      EXPECT_TRUE(loop_->futex_waits()) << "the kernel refused an IORING_OP_FUTEX_WAITV request";
    }
  }
};

INSTANTIATE_TEST_SUITE_P(Paths, LoopSelectTest, ::testing::Values(false, true),
                         [](const ::testing::TestParamInfo<bool>& info) {
                           return std::string(info.param ? "Fallback" : "FutexWaitv");
                         });

template <class Done>
void await(Done done) {
  while (!done()) std::this_thread::sleep_for(1ms);
}

TEST_P(LoopSelectTest, APushFromAnotherThreadFiresItsCaseOnTheLoopThread) {
  for (std::size_t which = 0; which < 2; ++which) {
    fev::Ring<int> a(4);
    fev::Ring<std::string> b(4);
    int x = 0;
    std::string y;
    Selected result;
    bool elsewhere = false;
    const auto loop_thread = std::this_thread::get_id();
    loop().spawn([](fev::Loop& loop, fev::Ring<int>& a, fev::Ring<std::string>& b, int& x, std::string& y,
                    Selected& result, bool& elsewhere, std::thread::id loop_thread) -> fev::Task<> {
      result = co_await fev::async_select(loop, fev::on_pop(a, x), fev::on_pop(b, y));
      elsewhere = std::this_thread::get_id() != loop_thread;
    }(loop(), a, b, x, y, result, elsewhere, loop_thread));
    std::jthread pusher([&] {
      await([&] { return a.snapshot().consumers_sleeping == 1 && b.snapshot().consumers_sleeping == 1; });
      if (which == 0) {
        EXPECT_TRUE(a.try_push(5));
      } else {
        EXPECT_TRUE(b.try_push("five"));
      }
    });
    ASSERT_TRUE(run_all(loop()));
    EXPECT_EQ(result, (Selected{which, Status::ok}));
    EXPECT_EQ(which == 0 ? x : static_cast<int>(y.size()), which == 0 ? 5 : 4);
    EXPECT_FALSE(elsewhere);
    EXPECT_EQ(a.snapshot().consumers_sleeping, 0u);
    EXPECT_EQ(b.snapshot().consumers_sleeping, 0u);
  }
}

TEST_P(LoopSelectTest, AnEventSetOrARingClosedEndsIt) {
  fev::Ring<int> a(4);
  fev::Event stop;
  fev::Ring<int> b(4);
  int x = 0;
  Selected first, second;
  loop().spawn([](fev::Loop& loop, fev::Ring<int>& a, fev::Ring<int>& b, fev::Event& stop, int& x, Selected& first,
                  Selected& second) -> fev::Task<> {
    first = co_await fev::async_select(loop, fev::on_pop(a, x), fev::on_set(stop));
    second = co_await fev::async_select(loop, fev::on_pop(a, x), fev::on_pop(b, x));
  }(loop(), a, b, stop, x, first, second));
  std::jthread other([&] {
    await([&] { return a.snapshot().consumers_sleeping == 1; });
    stop.set();
    await([&] { return b.snapshot().consumers_sleeping == 1; });
    b.close();
  });
  ASSERT_TRUE(run_all(loop()));
  EXPECT_EQ(first, (Selected{1, Status::ok}));
  EXPECT_EQ(second, (Selected{1, Status::closed}));
}

TEST_P(LoopSelectTest, ReadyCasesAnswerWithoutSuspendingAndTakeTurns) {
  fev::Ring<int> a(64), b(64);
  int fired[2] = {};
  loop().spawn([](fev::Loop& loop, fev::Ring<int>& a, fev::Ring<int>& b, int* fired) -> fev::Task<> {
    int value = 0;
    for (int i = 0; i < 40; ++i) {
      (void)a.try_push(0);
      (void)b.try_push(1);
      const Selected s = co_await fev::async_select(loop, fev::on_pop(a, value), fev::on_pop(b, value));
      if (s.status == Status::ok && static_cast<int>(s.index) == value) ++fired[s.index];
    }
  }(loop(), a, b, fired));
  ASSERT_TRUE(run_all(loop()));
  EXPECT_EQ(fired[0], 20);
  EXPECT_EQ(fired[1], 20);
}

TEST_P(LoopSelectTest, TimesOutAndIsCancelledLeavingTheRings) {
  fev::Ring<int> a(4), b(4);
  std::stop_source source;
  int x = 0;
  Selected timed, zero, cancelled;
  loop().spawn([](fev::Loop& loop, fev::Ring<int>& a, fev::Ring<int>& b, std::stop_token stop, int& x,
                  Selected& timed, Selected& zero, Selected& cancelled) -> fev::Task<> {
    timed = co_await fev::async_select_for(loop, 5ms, fev::on_pop(a, x), fev::on_pop(b, x));
    zero = co_await fev::async_select_for(loop, 0ms, fev::on_pop(a, x));
    cancelled = co_await fev::async_select(loop, stop, fev::on_pop(a, x), fev::on_pop(b, x));
  }(loop(), a, b, source.get_token(), x, timed, zero, cancelled));
  std::jthread stopper([&] {
    // The first select registers, times out and leaves; the third registers again.
    await([&] { return a.snapshot().consumers_sleeping == 1 && b.snapshot().consumers_sleeping == 1; });
    std::this_thread::sleep_for(10ms);
    await([&] { return a.snapshot().consumers_sleeping == 1 && b.snapshot().consumers_sleeping == 1; });
    source.request_stop();
  });
  ASSERT_TRUE(run_all(loop()));
  EXPECT_EQ(timed, (Selected{Selected::none, Status::timeout}));
  EXPECT_EQ(zero, (Selected{Selected::none, Status::timeout}));
  EXPECT_EQ(cancelled, (Selected{Selected::none, Status::cancelled}));
  EXPECT_EQ(a.snapshot().consumers_sleeping, 0u);
  EXPECT_EQ(b.snapshot().consumers_sleeping, 0u);
}

TEST_P(LoopSelectTest, PushCasesWaitForRoom) {
  fev::Ring<int> a(1), b(1);
  ASSERT_TRUE(a.try_push(0));
  ASSERT_TRUE(b.try_push(0));
  int value = 7;
  Selected result;
  loop().spawn([](fev::Loop& loop, fev::Ring<int>& a, fev::Ring<int>& b, int& value, Selected& result) -> fev::Task<> {
    result = co_await fev::async_select(loop, fev::on_push(a, value), fev::on_push(b, value));
  }(loop(), a, b, value, result));
  std::jthread popper([&] {
    await([&] { return b.snapshot().producers_sleeping == 1; });
    int out = 0;
    EXPECT_TRUE(b.try_pop(out));
  });
  ASSERT_TRUE(run_all(loop()));
  EXPECT_EQ(result, (Selected{1, Status::ok}));
  int out = 0;
  ASSERT_TRUE(b.try_pop(out));
  EXPECT_EQ(out, 7);
}

TEST_P(LoopSelectTest, ExactlyOnceBesideThreadConsumers) {
  // A selecting coroutine beside a plain consumer thread on each ring: every value is
  // taken exactly once and everybody finishes.
  constexpr int kItems = 5000;
  fev::Ring<int> a(4), b(4);
  std::vector<std::atomic<int>> seen(2 * kItems);
  loop().spawn([](fev::Loop& loop, fev::Ring<int>& a, fev::Ring<int>& b,
                  std::vector<std::atomic<int>>& seen) -> fev::Task<> {
    bool a_open = true, b_open = true;
    int x = 0;
    while (a_open && b_open) {
      const Selected s = co_await fev::async_select(loop, fev::on_pop(a, x), fev::on_pop(b, x));
      if (s.status == Status::closed) {
        (s.index == 0 ? a_open : b_open) = false;
      } else {
        seen[x].fetch_add(1);
      }
    }
    while (auto value = co_await fev::async_pop(loop, a_open ? a : b)) seen[*value].fetch_add(1);
  }(loop(), a, b, seen));
  auto plain = [&](fev::Ring<int>& ring) {
    int value = 0;
    while (ring.pop(value)) seen[value].fetch_add(1);
  };
  std::jthread consumers[] = {std::jthread(plain, std::ref(a)), std::jthread(plain, std::ref(b))};
  std::jthread producer([&] {
    for (int i = 0; i < kItems; ++i) {
      EXPECT_TRUE(a.push(i));
      EXPECT_TRUE(b.push(kItems + i));
    }
    a.close();
    b.close();
  });
  ASSERT_TRUE(run_all(loop()));
  producer.join();
  for (auto& c : consumers) c.join();
  for (std::size_t i = 0; i < seen.size(); ++i) ASSERT_EQ(seen[i].load(), 1) << "value " << i;
}

}  // namespace
