// SPDX-License-Identifier: MIT
// fev/detail_loop_waits.hpp — internal: the registry of fev::Loop coroutines waiting on
// in-process Events through io_uring futex waits (async_wait(loop, event)).
//
// Such a waiter leaves nothing in the Event's word that tells it from a stale parked
// bit, so the word alone cannot say whether destroying the event would strand it. Each
// one registers here by the word's address while its wait is in flight, and an
// in-process event's destructor looks its address up (only while any is registered:
// one relaxed load otherwise) and refuses, with one line and abort, to be destroyed
// under a waiting coroutine.
#pragma once

#include "fev/cxx20.hpp"

#include <atomic>
#include <cstddef>

namespace fev::detail {

// One registration, kept in the awaiter (the coroutine's frame).
struct LoopEventWait {
  const void* address = nullptr;  // the Event's word while registered, else nullptr
  LoopEventWait* prev = nullptr;
  LoopEventWait* next = nullptr;
};

// Registrations in the process. relaxed for its readers: a registration that
// happens-before an event's destruction is seen by it (write-read coherence), and one
// that races with it is a use of a dying event the program must not make anyway.
extern std::atomic<std::size_t> loop_event_waits;

// In src/loop_event_waits.cpp. Each takes one bucket's lock.
void register_loop_event_wait(LoopEventWait& wait, const void* address) noexcept;
void unregister_loop_event_wait(LoopEventWait& wait) noexcept;  // no-op when not registered
bool loop_event_wait_registered(const void* address) noexcept;

}  // namespace fev::detail
