// SPDX-License-Identifier: MIT
// Internal: setting up and tearing down the io_uring rings that src/ owns (fev::Loop's,
// and the scratch rings of the futex probe), so that ThreadSanitizer sees them right.
//
// liburing maps and unmaps a ring's memory with raw system calls that ThreadSanitizer
// does not intercept. A ring mapped where another thread's ring was just unmapped then
// looks to it like memory two threads wrote without synchronizing. The kernel does
// order them (the unmap happens before the address is handed out again), so every
// teardown releases, and every setup acquires, one token: a new ring's first writes
// happen after every earlier ring's last ones. Without ThreadSanitizer these are plain
// liburing calls.
#pragma once

#include <liburing.h>

#if defined(__SANITIZE_THREAD__)
#define FEV_THREAD_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define FEV_THREAD_SANITIZER 1
#endif
#endif

#if defined(FEV_THREAD_SANITIZER)
extern "C" void __tsan_acquire(void* address);
extern "C" void __tsan_release(void* address);
#endif

namespace fev::detail {

#if defined(FEV_THREAD_SANITIZER)
inline char ring_memory_handoff = 0;  // the token: only its address is used
#endif

// io_uring_queue_init_params; 0 or a negative errno.
inline int setup_ring(unsigned entries, io_uring& ring, io_uring_params& params) noexcept {
  const int result = io_uring_queue_init_params(entries, &ring, &params);
#if defined(FEV_THREAD_SANITIZER)
  __tsan_acquire(&ring_memory_handoff);
#endif
  return result;
}

inline int setup_ring(unsigned entries, io_uring& ring) noexcept {
  io_uring_params params{};
  return setup_ring(entries, ring, params);
}

// io_uring_queue_exit.
inline void teardown_ring(io_uring& ring) noexcept {
#if defined(FEV_THREAD_SANITIZER)
  __tsan_release(&ring_memory_handoff);
#endif
  io_uring_queue_exit(&ring);
}

}  // namespace fev::detail
