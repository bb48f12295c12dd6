// SPDX-License-Identifier: MIT
// fev/shared.hpp — Events and Rings in memory shared between processes (Linux).
//
//   fev::SharedRegion region = fev::SharedRegion::create(1 << 20);    // memfd + mmap
//   fev::SharedEvent* ready = fev::construct_shared<fev::SharedEvent>(region);
//   auto* ring = fev::construct_shared_ring<Message>(region, 1024);
//   if (fork() == 0) { ready->wait_for(5s); ...; _exit(0); }         // child
//   ...; ready->set();                                                  // parent
//
// SharedEvent is BasicEvent on backend::FutexShared: the same one-word protocol as
// fev::Event, on futexes without FUTEX_PRIVATE_FLAG, which the kernel keys by the
// mapped page rather than by the address, so processes that map the region at
// different addresses still wake each other. SharedRing<T> is BasicRing on the same
// backend with its slots inside the region.
//
// When a peer process dies (killed at any instruction), every window between a
// decision and the system call that acts on it, and what it leaves behind:
//  - SharedEvent: every change of the word is one atomic instruction, so the word is
//    never half-written and the survivors' set/clear/wait keep working.
//    * killed while parked (after announcing "parked"): the parked bit stays; the next
//      set() makes one futex wake that finds nobody.
//    * killed between set()'s CAS and its futex wake: the waiters it owed a wake stay
//      asleep, but the word says a wake is owed, so the next set() by any survivor
//      (after a clear(), or on the still-set event) wakes them. Until then an untimed
//      wait() sleeps; a timed wait finds the event set at its deadline and returns true.
//    * killed after the wake: nothing is left behind.
//  - AutoResetEvent on FutexShared (BasicAutoResetEvent<backend::FutexShared>): killed
//    between set()'s CAS and its wake, the signal stays pending and a registered waiter
//    asleep; the next set() by a survivor wakes one registered waiter (process-shared
//    words wake whenever a waiter is registered, not only when the signal appears).
//    Killed while registered as a waiter: the registration stays, and every later
//    set() makes one futex wake that may find nobody.
//  - SharedRing<T>:
//    * killed between a claim and its wake call (a producer right after publishing a
//      value, a consumer right after freeing a slot): the sleepers it owed a wake stay
//      asleep until the next push or pop by a survivor, which wakes a sleeper even
//      though the word says a wake is on its way; and a survivor about to sleep on one
//      side first wakes the other side if it could proceed, so two survivors never
//      both sleep with work between them. If no survivor calls the ring again, a
//      timed wait finds the value (room) at its deadline. This costs a futex wake per
//      claim while a thread sleeps on a process-shared ring.
//    * killed while registered as a sleeper: the count stays one too high, so every
//      later claim on that side makes one futex wake that may find nobody.
//    * killed between claiming a position and publishing its value (or a consumer
//      between claiming and freeing a slot): that position stays claimed for ever. No
//      value is corrupted or delivered twice, but the ring can no longer pass that
//      position: pops (pushes, once the ring wraps around to the slot) fail with
//      Status::timeout at their deadline, spinning and yielding meanwhile. Recover by
//      creating a new ring; the dead process is found with waitpid/pidfd.
//    * killed in close() after its first step (the consumers' copy of the closed bit)
//      and before its second (tail_'s closed bit): the ring stays open. Pushes and pops
//      go on as before and closed() is false; the only trace is that a pop finding the
//      ring empty also reads tail_. The next close() by a survivor closes it.
//    * killed in close() after tail_'s closed bit, before or between its wakes: the
//      ring is closed (pushes fail, pops drain what is left); threads still asleep are
//      woken by the next close() (close() is idempotent) or their deadline.
//  Waiting on a peer should still use a timeout (wait_for, wait_until, pop_for): that is
//  the only way to notice that the peer is gone.
// Nothing here cleans up after a dead peer (no robust-futex list): detection is by
// timeout, recovery is the application's.
//
// Memory ordering: as for fev::Event and fev::Ring, across processes as within one (the
// atomics are lock-free and address-free; static_asserts below check it).
#pragma once

#include "fev/cxx20.hpp"  // first: below C++20, one clear error instead of many

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <new>
#include <type_traits>
#include <utility>

#include "fev/event.hpp"
#include "fev/ring.hpp"
#include "fev/wait.hpp"

namespace fev {

/// An Event that works between processes (Linux): BasicEvent on backend::FutexShared,
/// placed in a SharedRegion with construct_shared(). The contract is fev::Event's
/// (BasicEvent), across processes that map the region at any address. A peer may die at
/// any instruction: the event keeps working for the survivors (a wake a dead setter owed
/// is made by the next set()), but only a timed wait notices that a peer is gone.
///
/// \code
/// #include <fev/shared.hpp>
///
/// fev::SharedRegion region = fev::SharedRegion::create(1 << 20);  // memfd + mmap, MAP_SHARED
/// fev::SharedEvent* ready = fev::construct_shared<fev::SharedEvent>(region);
/// if (fork() == 0) {                                              // the child inherits the mapping
///   _exit(ready->wait_for(std::chrono::seconds(5)) ? 0 : 1);
/// }
/// ready->set();                                                   // wakes the child
/// \endcode
///
/// Not a fork? Pass region.fd() to the other process (SCM_RIGHTS, pidfd_getfd) and map it
/// there with SharedRegion::map(fd). What a dying peer leaves behind, window by window:
/// the comment at the top of fev/shared.hpp.
using SharedEvent = BasicEvent<backend::FutexShared>;

/// A bounded MPMC Ring that works between processes (Linux): BasicRing on
/// backend::FutexShared, with the ring and its slots inside a SharedRegion, made with
/// construct_shared_ring(). T must be trivially copyable (a value is bytes both processes
/// can read). The contract is fev::Ring's (BasicRing): every value pushed is popped
/// exactly once, per-producer FIFO, close() and the timed and cancellable forms, across
/// processes.
///
/// \code
/// #include <fev/shared.hpp>
///
/// struct Message { int id; char text[56]; };                    // trivially copyable
/// fev::SharedRegion region = fev::SharedRegion::create(1 << 20);
/// fev::SharedRing<Message>* ring = fev::construct_shared_ring<Message>(region, 256);
/// if (fork() == 0) {
///   while (std::optional<Message> m = ring->pop_for(std::chrono::seconds(1))) handle(*m);
///   _exit(0);                                                   // nullopt: closed and drained, or a quiet second
/// }
/// if (!ring->push(Message{1, "hello"})) report("closed");
/// ring->close();
/// \endcode
///
/// A peer that dies between claiming a slot and publishing it leaves that position
/// claimed for ever: pops then end with Status::timeout at their deadline. Wait with a
/// timeout (pop_for, push_for) wherever a peer may die; the other windows and what they
/// leave behind: the comment at the top of fev/shared.hpp.
template <class T>
using SharedRing = BasicRing<T, backend::FutexShared, RingHooks>;

static_assert(std::atomic<std::uint32_t>::is_always_lock_free && std::atomic<std::size_t>::is_always_lock_free,
              "process-shared fev objects need lock-free (hence address-free) atomics");

/// A read/write MAP_SHARED mapping, unmapped (and its descriptor closed) on destruction,
/// with a bump allocator for the objects placed in it. The region's first 64 bytes are a
/// header (a magic number, the size, and the allocation cursor, itself an atomic in the
/// region, so any process mapping it may allocate). Move-only.
class SharedRegion {
 public:
  /// A new memfd (memfd_create, MFD_CLOEXEC) of at least `bytes` usable bytes (rounded up
  /// to whole pages), mapped shared. Share it with children forked after this call (they
  /// inherit the mapping at the same address), or pass fd() to another process
  /// (SCM_RIGHTS, /proc/PID/fd/N), which opens it with map(). std::system_error on failure.
  [[nodiscard]] static SharedRegion create(std::size_t bytes, const char* name = "fev");

  /// A MAP_SHARED | MAP_ANONYMOUS mapping: shared only with children forked after this
  /// call; fd() is -1.
  [[nodiscard]] static SharedRegion anonymous(std::size_t bytes);

  /// Maps a region that SharedRegion::create made, from its descriptor (duplicated; the
  /// caller keeps `fd`). The mapping may land at another address than the creator's:
  /// find the objects with at<T>(offset). std::system_error if mmap fails,
  /// std::invalid_argument if `fd` is not such a region.
  [[nodiscard]] static SharedRegion map(int fd);

  /// Takes over `other`'s mapping; `other` then maps nothing.
  SharedRegion(SharedRegion&& other) noexcept;
  /// Unmaps this region's mapping, then takes over `other`'s.
  SharedRegion& operator=(SharedRegion&& other) noexcept;
  SharedRegion(const SharedRegion&) = delete;
  SharedRegion& operator=(const SharedRegion&) = delete;
  ~SharedRegion();

  /// The start of this process's mapping (the region's header comes first).
  void* data() const noexcept { return base_; }
  /// The mapping's length in bytes.
  std::size_t size() const noexcept { return size_; }
  /// The memfd's descriptor, to pass to another process; -1 for anonymous().
  int fd() const noexcept { return fd_; }

  /// `bytes` of the region aligned to `align` (a power of two, at most the page size),
  /// never handed out before, by this process or any other. std::bad_alloc when full.
  [[nodiscard]] void* allocate(std::size_t bytes, std::size_t align);

  /// The offset of `where` from the start of the region: the same in every process's
  /// mapping.
  std::size_t offset_of(const void* where) const noexcept {
    return static_cast<std::size_t>(static_cast<const unsigned char*>(where) - static_cast<unsigned char*>(base_));
  }
  /// The T at `offset` (from offset_of() in any process) in this process's mapping.
  template <class T>
  T* at(std::size_t offset) const noexcept {
    return std::launder(reinterpret_cast<T*>(static_cast<unsigned char*>(base_) + offset));
  }

 private:
  SharedRegion(void* base, std::size_t size, int fd) noexcept : base_(base), size_(size), fd_(fd) {}
  void release() noexcept;

  void* base_ = nullptr;
  std::size_t size_ = 0;
  int fd_ = -1;
};

/// Constructs a T in the region and returns it. Objects in a region are never destroyed
/// (the region outlives any one process's use of it), hence trivially destructible only.
/// T must not hold pointers into one process's memory (SharedEvent does not).
template <class T, class... Args>
[[nodiscard]] T* construct_shared(SharedRegion& region, Args&&... args) {
  static_assert(std::is_trivially_destructible_v<T>,
                "objects in a SharedRegion are never destroyed: use a trivially destructible type");
  return ::new (region.allocate(sizeof(T), alignof(T))) T(std::forward<Args>(args)...);
}

/// A SharedRing<T> of `capacity` with its slots in the region. T is trivially copyable
/// (values are bytes that any process can read). The ring finds its slots relative to
/// its own address, so it works in every process that maps the region, at whatever
/// address (children forked after this call, or processes that map() the region's
/// descriptor). Never destroyed, like every object in a region. The slots take
/// SharedRing<T>::storage_bytes(capacity) bytes of the region, aligned to
/// SharedRing<T>::kStorageAlignment (a cache line, or alignof(T) if larger). A capacity
/// of zero, or one whose slots could not fit in memory, is refused as Ring's constructor refuses
/// it (std::invalid_argument) before anything is taken from the region; std::bad_alloc
/// when the region has no room left. As with Ring, try_push/try_pop can fail while a
/// peer is between claiming and publishing a slot; use the timed forms to wait.
template <class T>
[[nodiscard]] SharedRing<T>* construct_shared_ring(SharedRegion& region, std::size_t capacity) {
  static_assert(std::is_trivially_copyable_v<T>, "a process-shared ring carries trivially copyable values only");
  void* slots = region.allocate(SharedRing<T>::storage_bytes(capacity), SharedRing<T>::kStorageAlignment);
  return ::new (region.allocate(sizeof(SharedRing<T>), alignof(SharedRing<T>))) SharedRing<T>(capacity, slots);
}

}  // namespace fev
