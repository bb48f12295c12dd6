// fev/spin.hpp — the bounded spin every blocking fev operation does before it parks.
#pragma once

#include "fev/cxx20.hpp"  // first: below C++20, one clear error instead of many

#include <chrono>

#include "fev/wait.hpp"

namespace fev::detail {

// Calls `done()` until it returns true or spin_limit() of steady_clock time has passed,
// with a pause instruction between calls. Returns done()'s last answer. The clock is
// read once per batch of polls, so the bound holds whatever the pause latency is.
template <class Done>
bool spin_until(Done&& done) noexcept(noexcept(done())) {
  if (done()) return true;
  const std::chrono::nanoseconds limit = spin_limit();
  if (limit <= std::chrono::nanoseconds::zero()) return false;
  constexpr int kPollsPerClockRead = 16;
  const auto start = std::chrono::steady_clock::now();
  for (;;) {
    for (int poll = 0; poll < kPollsPerClockRead; ++poll) {
      cpu_relax();
      if (done()) return true;
    }
    if (std::chrono::steady_clock::now() - start >= limit) return false;
  }
}

}  // namespace fev::detail
