// Spin policy: how long a waiter polls before it parks, and the pause instruction.
#include <atomic>

#include "fev/wait.hpp"

namespace fev {
namespace {

// Nanoseconds of spinning before parking. relaxed: a tuning knob, read once per wait;
// no other data is published through it.
std::atomic<long long> spin_limit_ns{4000};

}  // namespace

std::chrono::nanoseconds spin_limit() noexcept {
  return std::chrono::nanoseconds(spin_limit_ns.load(std::memory_order_relaxed));
}

void set_spin_limit(std::chrono::nanoseconds limit) noexcept {
  spin_limit_ns.store(limit.count() < 0 ? 0 : limit.count(), std::memory_order_relaxed);
}

namespace detail {

void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__) || defined(__arm__)
  asm volatile("yield");
#endif
}

}  // namespace detail
}  // namespace fev
