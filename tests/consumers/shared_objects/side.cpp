// SPDX-License-Identifier: MIT
// One shared object of a process that has two, each with its own copy of libfev.a linked
// in. Built twice by tools/ci/consumers.sh (consumer-shared-objects), as libside_a.so
// (SIDE(name) = side_a_name) and libside_b.so (side_b_name); main.cpp sets an event
// through one and waits on it through the other.
#include <fev/async_event.hpp>
#include <fev/event.hpp>
#include <fev/event_access.hpp>

#include <atomic>
#include <coroutine>
#include <cstdint>
#include <exception>

#ifndef SIDE
#error "build with -DSIDE(name)=side_a_##name (or side_b_##name)"
#endif

namespace {

using PortableEvent = fev::BasicEvent<fev::backend::Portable>;

// A coroutine nobody awaits: starts at once, frees its frame when it ends.
struct Detached {
  struct promise_type {
    Detached get_return_object() noexcept { return {}; }
    std::suspend_never initial_suspend() noexcept { return {}; }
    std::suspend_never final_suspend() noexcept { return {}; }
    void return_void() noexcept {}
    void unhandled_exception() noexcept { std::terminate(); }
  };
};

Detached wait_then_mark(fev::Event& event, std::atomic<int>& done) {
  const bool set = co_await fev::async_wait(fev::inline_executor{}, event);
  // release: main's acquire load of `done` reads the result.
  done.store(set ? 1 : 2, std::memory_order_release);
}

}  // namespace

// kind 0: fev::Event (the default backend), kind 1: an Event on the portable backend.
// Never destroyed: a waiter that the must-fail twin leaves asleep still has it.
extern "C" void* SIDE(new_event)(int kind) {
  if (kind == 0) return new fev::Event;
  return new PortableEvent;
}

// Whether a waiter has announced that it parks on the event (its parked bit).
extern "C" bool SIDE(parked)(int kind, void* event) {
  const std::uint32_t word = kind == 0
      ? fev::detail::EventAccess::word(*static_cast<fev::Event*>(event)).load(std::memory_order_relaxed)
      : fev::detail::EventAccess::word(*static_cast<PortableEvent*>(event)).load(std::memory_order_relaxed);
  // relaxed above: a snapshot; the caller also waits for the thread to sleep.
  return (word & fev::detail::EventAccess::kParked) != 0;
}

// kind 0: fev::Event (the default backend), kind 1: an Event on the portable backend.
extern "C" void SIDE(set)(int kind, void* event) {
  if (kind == 0) {
    static_cast<fev::Event*>(event)->set();
  } else {
    static_cast<PortableEvent*>(event)->set();
  }
}

// Blocks until the event is set; parks at once (no polling before it).
extern "C" void SIDE(wait)(int kind, void* event) {
  const fev::WaitOptions park_at_once{.spin = std::chrono::nanoseconds(0)};
  if (kind == 0) {
    static_cast<fev::Event*>(event)->wait(park_at_once);
  } else {
    static_cast<PortableEvent*>(event)->wait(park_at_once);
  }
}

// Starts a coroutine that waits on `event` through fev's side table of waiting
// coroutines and stores 1 in `done` when set() resumes it.
extern "C" void SIDE(start_async_wait)(void* event, std::atomic<int>* done) {
  wait_then_mark(*static_cast<fev::Event*>(event), *done);
}
