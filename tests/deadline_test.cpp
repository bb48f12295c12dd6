// SPDX-License-Identifier: MIT
// Timeouts and time points at the edges of what the clocks can represent, through every
// timed entry point: whatever the unit, the clock or the count type, a time point or
// timeout beyond the representable range means "no deadline" (the call blocks until
// released), and one already past, below zero or NaN means "check once" (the call
// returns false at once). Run under UBSan, the conversions must also be free of
// overflow.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <future>
#include <limits>
#include <thread>
#include <type_traits>
#include <vector>

#include "fev/deadline.hpp"
#include "fev/event.hpp"
#include "fev/ring.hpp"
#include "fev/wait_many.hpp"

namespace {

using namespace std::chrono_literals;
using std::chrono::steady_clock;
using std::chrono::system_clock;
using std::chrono::time_point;

template <class T>
struct IsDuration : std::false_type {};
template <class Rep, class Period>
struct IsDuration<std::chrono::duration<Rep, Period>> : std::true_type {};

// Each target is one timed entry point in a state where it must wait (an unset event,
// an empty or full ring), and release() is what lets it return true.
struct EventTarget {
  fev::Event event;
  template <class A>
  bool wait(const A& a) {
    if constexpr (IsDuration<A>::value) {
      return event.wait_for(a);
    } else {
      return event.wait_until(a);
    }
  }
  void release() { event.set(); }
};

struct AutoResetTarget {
  fev::AutoResetEvent event;
  template <class A>
  bool wait(const A& a) {
    if constexpr (IsDuration<A>::value) {
      return event.wait_for(a);
    } else {
      return event.wait_until(a);
    }
  }
  void release() { event.set(); }
};

struct RingPopTarget {
  fev::Ring<int> ring{1};
  template <class A>
  bool wait(const A& a) {
    int value = 0;
    fev::Status status;
    if constexpr (IsDuration<A>::value) {
      status = ring.pop_for(value, a);
    } else {
      status = ring.pop_until(value, a);
    }
    return status == fev::Status::ok && value == 7;
  }
  void release() { ASSERT_TRUE(ring.push(7)); }
};

struct RingPushTarget {
  fev::Ring<int> ring{1};
  RingPushTarget() { EXPECT_TRUE(ring.try_push(1)); }
  template <class A>
  bool wait(const A& a) {
    fev::Status status;
    if constexpr (IsDuration<A>::value) {
      status = ring.push_for(2, a);
    } else {
      status = ring.push_until(2, a);
    }
    return status == fev::Status::ok;
  }
  void release() {
    int value = 0;
    ASSERT_TRUE(ring.pop(value));
  }
};

struct WaitAnyTarget {
  fev::Event first, second;
  template <class A>
  bool wait(const A& a) {
    std::optional<std::size_t> index;
    if constexpr (IsDuration<A>::value) {
      index = fev::wait_any_for(a, first, second);
    } else {
      index = fev::wait_any_until(a, first, second);
    }
    return index == std::optional<std::size_t>(1);
  }
  void release() { second.set(); }
};

struct WaitAllTarget {
  fev::Event first, second;
  WaitAllTarget() { first.set(); }
  template <class A>
  bool wait(const A& a) {
    if constexpr (IsDuration<A>::value) {
      return fev::wait_all_for(a, first, second);
    } else {
      return fev::wait_all_until(a, first, second);
    }
  }
  void release() { second.set(); }
};

struct WaitAnyRangeTarget {
  fev::Event first, second;
  std::vector<fev::Event*> events{&first, &second};
  template <class A>
  bool wait(const A& a) {
    std::optional<std::size_t> index;
    if constexpr (IsDuration<A>::value) {
      index = fev::wait_any_for(a, events);
    } else {
      index = fev::wait_any_until(a, events);
    }
    return index == std::optional<std::size_t>(0);
  }
  void release() { first.set(); }
};

struct WaitAllRangeTarget {
  fev::Event first, second;
  std::vector<fev::Event*> events{&first, &second};
  WaitAllRangeTarget() { second.set(); }
  template <class A>
  bool wait(const A& a) {
    if constexpr (IsDuration<A>::value) {
      return fev::wait_all_for(a, events);
    } else {
      return fev::wait_all_until(a, events);
    }
  }
  void release() { first.set(); }
};

// The call must still be waiting after a while, and return true once released.
template <class Target, class A>
void expect_blocks_until_released(const A& a, const char* what) {
  SCOPED_TRACE(what);
  Target target;
  std::atomic<bool> returned{false};
  bool result = false;
  std::thread waiter([&] {
    result = target.wait(a);
    returned.store(true, std::memory_order_release);  // pairs with the acquire loads below
  });
  std::this_thread::sleep_for(50ms);
  EXPECT_FALSE(returned.load(std::memory_order_acquire)) << "returned although nothing released it";
  target.release();
  waiter.join();
  EXPECT_TRUE(result);
}

// The call must return false without waiting for a release (an upper bound of seconds,
// generous: the failure it catches is a call that blocks until released).
template <class Target, class A>
void expect_expired_at_once(const A& a, const char* what) {
  SCOPED_TRACE(what);
  Target target;
  std::promise<bool> result;
  std::future<bool> done = result.get_future();
  std::thread waiter([&] { result.set_value(target.wait(a)); });
  const bool returned = done.wait_for(10s) == std::future_status::ready;
  EXPECT_TRUE(returned) << "blocked on an expired deadline";
  if (!returned) target.release();
  waiter.join();
  EXPECT_FALSE(done.get());
}

// Far time points: none of them may be taken as "already past".
template <class Target>
void far_time_points() {
  using Seconds = std::chrono::seconds;
  using Minutes = std::chrono::minutes;
  using Hours = std::chrono::hours;
  using DoubleSeconds = std::chrono::duration<double>;
  const auto in_300_years = std::chrono::years(300);
  const double inf = std::numeric_limits<double>::infinity();
  expect_blocks_until_released<Target>(time_point<steady_clock, Seconds>::max(), "steady seconds max");
  expect_blocks_until_released<Target>(time_point<steady_clock, Minutes>::max(), "steady minutes max");
  expect_blocks_until_released<Target>(time_point<steady_clock, Hours>::max(), "steady hours max");
  expect_blocks_until_released<Target>(steady_clock::time_point::max(), "steady max");
  expect_blocks_until_released<Target>(std::chrono::floor<Seconds>(steady_clock::now()) + in_300_years,
                                       "steady now + 300 years, seconds");
  expect_blocks_until_released<Target>(time_point<steady_clock, DoubleSeconds>(DoubleSeconds(inf)),
                                       "steady +inf");
  expect_blocks_until_released<Target>(time_point<steady_clock, DoubleSeconds>(DoubleSeconds(1e300)),
                                       "steady 1e300 s");
  expect_blocks_until_released<Target>(std::chrono::sys_seconds::max(), "sys_seconds max");
  expect_blocks_until_released<Target>(time_point<system_clock, Minutes>::max(), "system minutes max");
  expect_blocks_until_released<Target>(system_clock::time_point::max(), "system max");
  expect_blocks_until_released<Target>(std::chrono::floor<Seconds>(system_clock::now()) + in_300_years,
                                       "system now + 300 years, seconds");
  expect_blocks_until_released<Target>(time_point<system_clock, DoubleSeconds>(DoubleSeconds(inf)), "system +inf");
}

// Huge timeouts: "no deadline", never a wrapped one.
template <class Target>
void huge_timeouts() {
  const double inf = std::numeric_limits<double>::infinity();
  expect_blocks_until_released<Target>(std::chrono::nanoseconds::max(), "nanoseconds max");
  expect_blocks_until_released<Target>(std::chrono::seconds::max(), "seconds max");
  expect_blocks_until_released<Target>(std::chrono::minutes::max(), "minutes max");
  expect_blocks_until_released<Target>(std::chrono::hours::max(), "hours max");
  expect_blocks_until_released<Target>(std::chrono::years(300), "300 years");
  expect_blocks_until_released<Target>(std::chrono::duration<double>(inf), "+inf seconds");
  expect_blocks_until_released<Target>(std::chrono::duration<double>(1e300), "1e300 seconds");
  expect_blocks_until_released<Target>(std::chrono::duration<float, std::ratio<3600>>(3e38f), "3e38 float hours");
  expect_blocks_until_released<Target>(std::chrono::duration<double, std::nano>(9.3e18),
                                       "9.3e18 double nanoseconds");
}

// Past time points, however far: false at once.
template <class Target>
void past_time_points() {
  using Seconds = std::chrono::seconds;
  using DoubleSeconds = std::chrono::duration<double>;
  const auto years_300 = std::chrono::years(300);
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  expect_expired_at_once<Target>(system_clock::time_point::min(), "system min");
  expect_expired_at_once<Target>(std::chrono::sys_seconds::min(), "sys_seconds min");
  expect_expired_at_once<Target>(time_point<system_clock, std::chrono::minutes>::min(), "system minutes min");
  expect_expired_at_once<Target>(std::chrono::floor<Seconds>(system_clock::now()) - years_300,
                                 "system now - 300 years");
  expect_expired_at_once<Target>(system_clock::now() - 1ms, "system now - 1 ms");
  expect_expired_at_once<Target>(time_point<system_clock, DoubleSeconds>(DoubleSeconds(nan)), "system NaN");
  expect_expired_at_once<Target>(time_point<system_clock, DoubleSeconds>(DoubleSeconds(-inf)), "system -inf");
  expect_expired_at_once<Target>(steady_clock::time_point::min(), "steady min");
  expect_expired_at_once<Target>(time_point<steady_clock, Seconds>::min(), "steady seconds min");
  expect_expired_at_once<Target>(time_point<steady_clock, std::chrono::hours>::min(), "steady hours min");
  expect_expired_at_once<Target>(std::chrono::floor<Seconds>(steady_clock::now()) - years_300,
                                 "steady now - 300 years");
  expect_expired_at_once<Target>(steady_clock::now() - 1ms, "steady now - 1 ms");
  expect_expired_at_once<Target>(time_point<steady_clock, DoubleSeconds>(DoubleSeconds(nan)), "steady NaN");
  expect_expired_at_once<Target>(time_point<steady_clock, DoubleSeconds>(DoubleSeconds(-inf)), "steady -inf");
}

// Timeouts of zero, below zero, or NaN: false at once.
template <class Target>
void expired_timeouts() {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  expect_expired_at_once<Target>(std::chrono::nanoseconds::min(), "nanoseconds min");
  expect_expired_at_once<Target>(std::chrono::nanoseconds::min() + std::chrono::nanoseconds(1),
                                 "nanoseconds min + 1");
  expect_expired_at_once<Target>(std::chrono::seconds::min(), "seconds min");
  expect_expired_at_once<Target>(std::chrono::hours::min(), "hours min");
  expect_expired_at_once<Target>(std::chrono::nanoseconds::zero(), "zero");
  expect_expired_at_once<Target>(std::chrono::duration<double>(nan), "NaN seconds");
  expect_expired_at_once<Target>(std::chrono::duration<float, std::milli>(std::numeric_limits<float>::quiet_NaN()),
                                 "NaN float milliseconds");
  expect_expired_at_once<Target>(std::chrono::duration<double>(-inf), "-inf seconds");
  expect_expired_at_once<Target>(std::chrono::duration<double>(-1e300), "-1e300 seconds");
}

// An ordinary deadline in a coarse or floating-point unit is rounded up, never down:
// the call returns false no earlier than the deadline.
template <class Target>
void finite_deadlines_not_early() {
  using DoubleSeconds = std::chrono::duration<double>;
  {
    Target target;
    const auto when = time_point<steady_clock, DoubleSeconds>(steady_clock::now() + 30ms);
    EXPECT_FALSE(target.wait(when));
    EXPECT_GE(steady_clock::now(), when);
  }
  {
    Target target;
    const auto when = time_point<system_clock, DoubleSeconds>(system_clock::now() + 30ms);
    EXPECT_FALSE(target.wait(when));
    EXPECT_GE(system_clock::now(), when);
  }
  {
    Target target;
    const auto start = steady_clock::now();
    EXPECT_FALSE(target.wait(DoubleSeconds(0.0300000001)));
    EXPECT_GE(steady_clock::now() - start, 30ms);
  }
  {
    Target target;
    const auto start = steady_clock::now();
    using Thirtieths = std::chrono::duration<long long, std::ratio<1, 30>>;
    EXPECT_FALSE(target.wait(Thirtieths(1)));
    EXPECT_GE(steady_clock::now() - start, Thirtieths(1));
  }
}

template <class Target>
class DeadlineTest : public ::testing::Test {};

using Targets = ::testing::Types<EventTarget, AutoResetTarget, RingPopTarget, RingPushTarget, WaitAnyTarget,
                                 WaitAllTarget, WaitAnyRangeTarget, WaitAllRangeTarget>;
TYPED_TEST_SUITE(DeadlineTest, Targets);

TYPED_TEST(DeadlineTest, FarTimePointsMeanNoDeadline) { far_time_points<TypeParam>(); }
TYPED_TEST(DeadlineTest, HugeTimeoutsMeanNoDeadline) { huge_timeouts<TypeParam>(); }
TYPED_TEST(DeadlineTest, PastTimePointsExpireAtOnce) { past_time_points<TypeParam>(); }
TYPED_TEST(DeadlineTest, ZeroNegativeAndNaNTimeoutsExpireAtOnce) { expired_timeouts<TypeParam>(); }
TYPED_TEST(DeadlineTest, FiniteDeadlinesNeverEarly) { finite_deadlines_not_early<TypeParam>(); }

// The conversions themselves, where their results can be named exactly.
TEST(DeadlineConversion, Saturates) {
  using fev::Deadline;
  using fev::detail::deadline_after;
  using fev::detail::to_deadline;
  EXPECT_EQ(to_deadline(time_point<steady_clock, std::chrono::seconds>::max()), Deadline::max());
  EXPECT_EQ(to_deadline(time_point<steady_clock, std::chrono::seconds>::min()), Deadline::min());
  EXPECT_EQ(to_deadline(std::chrono::sys_seconds::max()), Deadline::max());
  EXPECT_EQ(to_deadline(system_clock::time_point::min()), Deadline::min());
  EXPECT_EQ(deadline_after(std::chrono::hours::max()), Deadline::max());
  EXPECT_EQ(deadline_after(std::chrono::duration<double>(std::numeric_limits<double>::quiet_NaN())),
            Deadline::min());
  EXPECT_EQ(deadline_after(std::chrono::nanoseconds::min()), Deadline::min());
  // Exact where representable: a steady time point keeps its value, rounded up to a tick.
  const Deadline at{std::chrono::nanoseconds(123456789)};
  EXPECT_EQ(to_deadline(at), at);
  EXPECT_EQ(to_deadline(time_point<steady_clock, std::chrono::seconds>(std::chrono::seconds(5))),
            Deadline(std::chrono::seconds(5)));
  EXPECT_EQ(to_deadline(time_point<steady_clock, std::chrono::duration<long long, std::pico>>(
                std::chrono::duration<long long, std::pico>(1500))),
            Deadline(std::chrono::nanoseconds(2)));
  EXPECT_EQ(to_deadline(time_point<steady_clock, std::chrono::duration<long long, std::pico>>(
                std::chrono::duration<long long, std::pico>(-1500))),
            Deadline(std::chrono::nanoseconds(-1)));
}

}  // namespace
