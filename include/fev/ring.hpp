// fev/ring.hpp — a bounded multi-producer multi-consumer ring that parks only when it
// is full or empty.
//
// Protocol (Vyukov's bounded queue with rigtorp's turn numbers):
//  1. `tail_` counts pushes claimed, `head_` pops claimed. Position p lives in slot
//     p % capacity, on lap p / capacity.
//  2. Each slot has a turn: 2*lap means "free for the push of this lap", 2*lap+1 means
//     "holds the value of this lap, ready for its pop". A push claims position p by a
//     CAS of tail_ from p to p+1 once the slot's turn is 2*lap, constructs the value,
//     then publishes turn 2*lap+1 (release). A pop claims p by a CAS of head_ once the
//     turn is 2*lap+1, moves the value out, then frees the slot: turn 2*lap+2.
//  3. Turn numbers make capacity 1 work (a plain sequence number cannot tell "full"
//     from "free" when there is one slot) and any capacity, not only powers of two.
//  4. close() sets the top bit of tail_: no push can be claimed after it, so every push
//     that returned true is claimed before close and is popped; pops report `closed`
//     only when the ring is closed and every claimed push has been popped.
//  5. Parking: consumers park on `not_empty_`, producers on `not_full_`. Each word is
//     (sequence << 1) | parked. A thread that found nothing to do sets `parked` with a
//     seq_cst CAS, then re-reads the other side's counter (seq_cst) and parks only if
//     the ring is still empty (full). The other side claims with a seq_cst CAS and then
//     reads the word (seq_cst): in the single total order of seq_cst operations either
//     the parker sees the claim or the claimer sees `parked`, and then bumps the
//     sequence (so the futex value changes) and wakes. The hot path (ring neither full
//     nor empty) adds one load of a word that lives on the claimer's own cache line and
//     is written only when someone parks: no syscall, no extra shared write.
//
// Guarantees: every value pushed (push/try_push returned true) is popped exactly once;
// values from one producer come out in the order it pushed them; the destructor
// destroys whatever is still inside. Blocking operations spin for fev::spin_limit(),
// then park. T must be nothrow move-constructible and nothrow move-assignable (so a
// claimed slot is always filled and emptied; a throwing copy happens before the claim).
//
// Memory ordering: everything a producer did before a successful push happens-before
// everything the consumer that pops that value does after the pop.
#pragma once

#include "fev/cxx20.hpp"  // first: below C++20, one clear error instead of many

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <stdexcept>
#include <thread>
#include <type_traits>
#include <utility>

#include "fev/config.hpp"
#include "fev/deadline.hpp"
#include "fev/spin.hpp"
#include "fev/wait.hpp"

namespace fev {

enum class Status { ok, timeout, closed };

// Test hooks for fev's own stress harness; the defaults compile to nothing.
struct RingHooks {
  // Called between the atomic steps of every operation (a chaos hook can yield/sleep).
  static void step() noexcept {}
  // Whether a push wakes parked consumers. Only the harness's deliberately broken
  // variant turns this off, to prove that the harness detects lost wakeups.
  static constexpr bool kWakeConsumers = true;
};

namespace detail {
// Producer and consumer counters live this far apart: x86-64's adjacent-line
// prefetcher fetches 64-byte lines in aligned pairs, so two hot counters within the
// same 128 bytes still bounce between cores. Slots use one 64-byte line each: a slot
// is written by one producer and then one consumer, not both at once.
inline constexpr std::size_t kCounterAlign = 128;
inline constexpr std::size_t kSlotAlign = 64;
}  // namespace detail

template <class T, class Wait = DefaultWait, class Hooks = RingHooks>
class BasicRing {
  static_assert(std::is_nothrow_move_constructible_v<T>,
                "fev::Ring<T> needs a noexcept move constructor: a claimed slot must always be filled");
  static_assert(std::is_nothrow_move_assignable_v<T>,
                "fev::Ring<T> needs a noexcept move assignment: pop(T&) assigns into the caller's object");
  static_assert(std::is_nothrow_destructible_v<T>, "fev::Ring<T> needs a noexcept destructor");

 public:
  using value_type = T;

  explicit BasicRing(std::size_t capacity) : BasicRing(capacity, nullptr) {}

  // Places the slots in caller-provided memory (for example a mapping shared between
  // processes): `slot_storage` holds storage_bytes(capacity) bytes aligned to
  // kStorageAlignment and outlives the ring. nullptr means "allocate them".
  static constexpr std::size_t kStorageAlignment = detail::kSlotAlign;
  static std::size_t storage_bytes(std::size_t capacity) { return checked(capacity) * sizeof(Slot); }

  BasicRing(std::size_t capacity, void* slot_storage)
      : capacity_(checked(capacity)),
        owns_slots_(slot_storage == nullptr),
        slots_offset_(offset_from_this(owns_slots_ ? allocate(capacity_) : static_cast<Slot*>(slot_storage))) {
    if (!owns_slots_ && reinterpret_cast<std::uintptr_t>(slot_storage) % kStorageAlignment != 0)
      throw std::invalid_argument("fev::Ring: slot storage must be aligned to kStorageAlignment");
    static_assert(offsetof(BasicRing, head_) - offsetof(BasicRing, tail_) >= detail::kCounterAlign,
                  "producer and consumer counters must not share a prefetched line pair");
    static_assert(offsetof(BasicRing, tail_) - offsetof(BasicRing, slots_offset_) >= sizeof(slots_offset_),
                  "the read-only fields stay off the producers' line");
    static_assert(offsetof(BasicRing, end_padding_) - offsetof(BasicRing, head_) >= detail::kCounterAlign,
                  "whatever follows the ring stays off the consumers' line");
    if (power_of_two_) {
      mask_ = capacity_ - 1;
      while ((std::size_t{1} << shift_) < capacity_) ++shift_;
    }
    for (std::size_t i = 0; i < capacity_; ++i) ::new (&slots()[i]) Slot{};
  }

  BasicRing(const BasicRing&) = delete;
  BasicRing& operator=(const BasicRing&) = delete;

  // Destroys the values still inside. No other thread may use the ring any more.
  ~BasicRing() {
    const std::size_t tail = tail_.load(std::memory_order_relaxed) & ~kClosed;
    for (std::size_t pos = head_.load(std::memory_order_relaxed); pos != tail; ++pos) {
      value_at(slot_of(pos)).~T();
    }
    for (std::size_t i = 0; i < capacity_; ++i) slots()[i].~Slot();
    if (owns_slots_) ::operator delete(slots(), std::align_val_t{alignof(Slot)});
  }

  // ---- Non-blocking. False when full (push) / empty (pop), or closed. ----
  bool try_push(const T& value) { return try_emplace(value); }
  bool try_push(T&& value) noexcept { return try_emplace(std::move(value)); }

  template <class... Args>
  bool try_emplace(Args&&... args) noexcept(std::is_nothrow_constructible_v<T, Args...>) {
    if constexpr (std::is_nothrow_constructible_v<T, Args...>) {
      return claim_push([&](void* where) noexcept { ::new (where) T(std::forward<Args>(args)...); }) == Step::done;
    } else {
      // Build the value first: if that throws, the ring is untouched.
      T value(std::forward<Args>(args)...);
      return claim_push([&](void* where) noexcept { ::new (where) T(std::move(value)); }) == Step::done;
    }
  }

  bool try_pop(T& out) noexcept { return claim_pop(out) == Step::done; }

  // ---- Blocking. push: false iff closed, and then the value is not taken (an rvalue
  // argument is left as it was). pop: false iff closed and drained. ----
  bool push(const T& value) {
    T copy(value);
    return push(std::move(copy));
  }
  bool push(T&& value) noexcept { return push_until_deadline(value, Deadline::max()) == Status::ok; }
  bool pop(T& out) noexcept { return pop_until_deadline(out, Deadline::max()) == Status::ok; }

  // ---- Timed. A timeout of zero or below tries once. ----
  template <class Rep, class Period>
  Status push_for(T&& value, const std::chrono::duration<Rep, Period>& timeout) noexcept {
    return push_until_deadline(value, timeout <= timeout.zero() ? Deadline::min() : detail::deadline_after(timeout));
  }
  template <class Rep, class Period>
  Status push_for(const T& value, const std::chrono::duration<Rep, Period>& timeout) {
    T copy(value);
    return push_for(std::move(copy), timeout);
  }
  template <class Rep, class Period>
  Status pop_for(T& out, const std::chrono::duration<Rep, Period>& timeout) noexcept {
    return pop_until_deadline(out, timeout <= timeout.zero() ? Deadline::min() : detail::deadline_after(timeout));
  }
  template <class Clock, class Duration>
  Status push_until(T&& value, const std::chrono::time_point<Clock, Duration>& when) noexcept {
    return push_until_deadline(value, detail::to_deadline(when));
  }
  template <class Clock, class Duration>
  Status push_until(const T& value, const std::chrono::time_point<Clock, Duration>& when) {
    T copy(value);
    return push_until(std::move(copy), when);
  }
  template <class Clock, class Duration>
  Status pop_until(T& out, const std::chrono::time_point<Clock, Duration>& when) noexcept {
    return pop_until_deadline(out, detail::to_deadline(when));
  }

  // Closes the ring: pushes fail from now on (blocked ones return false), pops drain
  // what is left and then report closed. Wakes every parked thread. Idempotent.
  void close() noexcept {
    // seq_cst: ordered with every push's claim CAS on tail_ (a push either claimed
    // before this or sees the bit and fails) and with parkers' re-checks of tail_.
    tail_.fetch_or(kClosed, std::memory_order_seq_cst);
    // Change both words so that a thread about to park on an old value returns at
    // once, then wake everyone already parked. seq_cst: pairs with a parker's seq_cst
    // announce CAS and tail_ re-check (protocol step 5). A parker that missed the closed
    // bit announced before the fetch_or above in the seq_cst order, so this fetch_add
    // comes after its CAS and changes the value it is about to sleep on.
    not_empty_.fetch_add(kSequenceOne, std::memory_order_seq_cst);
    Wait::wake_all(not_empty_);
    not_full_.fetch_add(kSequenceOne, std::memory_order_seq_cst);
    Wait::wake_all(not_full_);
  }

  bool closed() const noexcept {
    // acquire: pairs with close()'s fetch_or, so a caller that sees "closed" also sees
    // the pushes claimed before it.
    return (tail_.load(std::memory_order_acquire) & kClosed) != 0;
  }

  std::size_t capacity() const noexcept { return capacity_; }

  // Values inside (claimed pushes minus claimed pops); approximate under concurrency.
  std::size_t size() const noexcept {
    // relaxed: a snapshot for monitoring; it synchronizes with nothing.
    const std::size_t head = head_.load(std::memory_order_relaxed);
    const std::size_t tail = tail_.load(std::memory_order_relaxed) & ~kClosed;
    if (tail <= head) return 0;
    return tail - head > capacity_ ? capacity_ : tail - head;
  }

  // For the stress harness's watchdog report: raw counters and parking words.
  struct Snapshot {
    std::size_t head, tail;
    bool closed;
    std::uint32_t not_empty, not_full;
  };
  Snapshot snapshot() const noexcept {
    const std::size_t tail = tail_.load(std::memory_order_relaxed);
    return {head_.load(std::memory_order_relaxed), tail & ~kClosed, (tail & kClosed) != 0,
            not_empty_.load(std::memory_order_relaxed), not_full_.load(std::memory_order_relaxed)};
  }

 private:
  struct alignas(detail::kSlotAlign) Slot {
    // Turn of this slot (see the protocol above). Written with release after the value
    // is constructed (push) or moved out (pop); read with acquire before touching it.
    std::atomic<std::size_t> turn{0};
    alignas(T) unsigned char storage[sizeof(T)];
  };

  enum class Step { done, busy, closed };

  static constexpr std::size_t kClosed = std::size_t{1} << (sizeof(std::size_t) * 8 - 1);
  static constexpr std::uint32_t kParked = 1u;
  static constexpr std::uint32_t kSequenceOne = 2u;

  static std::size_t checked(std::size_t capacity) {
    if (capacity == 0) throw std::invalid_argument("fev::Ring: capacity must be at least 1");
    if (capacity > (kClosed >> 2)) throw std::invalid_argument("fev::Ring: capacity too large");
    return capacity;
  }

  static Slot* allocate(std::size_t capacity) {
    return static_cast<Slot*>(::operator new(capacity * sizeof(Slot), std::align_val_t{alignof(Slot)}));
  }

  // Position -> slot and lap. Powers of two (the common case) avoid the division.
  Slot& slot_of(std::size_t pos) const noexcept { return slots()[power_of_two_ ? (pos & mask_) : pos % capacity_]; }

  // The slots are found relative to the ring itself, so a ring and its slots placed in
  // one shared mapping work at whatever address each process maps it.
  std::uintptr_t offset_from_this(Slot* slots) const noexcept {
    return reinterpret_cast<std::uintptr_t>(slots) - reinterpret_cast<std::uintptr_t>(this);
  }
  Slot* slots() const noexcept {
    return reinterpret_cast<Slot*>(reinterpret_cast<std::uintptr_t>(this) + slots_offset_);
  }
  std::size_t lap_of(std::size_t pos) const noexcept { return power_of_two_ ? (pos >> shift_) : pos / capacity_; }
  static T& value_at(Slot& slot) noexcept { return *std::launder(reinterpret_cast<T*>(slot.storage)); }

  // One attempt to claim a push position and fill it with `construct`.
  template <class Construct>
  Step claim_push(Construct&& construct) noexcept {
    std::size_t pos = tail_.load(std::memory_order_relaxed);
    for (;;) {
      if (pos & kClosed) return Step::closed;
      Slot& slot = slot_of(pos);
      // acquire: pairs with the release of the pop that freed this slot, so its move
      // out and destruction happen-before our construction.
      const std::size_t turn = slot.turn.load(std::memory_order_acquire);
      const std::size_t free_turn = 2 * lap_of(pos);
      if (turn == free_turn) {
        Hooks::step();
        // seq_cst: the claim is one half of the parking handshake (protocol step 5)
        // and is ordered with close()'s fetch_or. relaxed on failure: we only retry.
        if (tail_.compare_exchange_weak(pos, pos + 1, std::memory_order_seq_cst, std::memory_order_relaxed)) {
          construct(static_cast<void*>(slot.storage));
          Hooks::step();
          // release: publishes the value to the pop that acquires this turn.
          slot.turn.store(free_turn + 1, std::memory_order_release);
          if constexpr (Hooks::kWakeConsumers) notify(not_empty_);
          return Step::done;
        }
      } else if (static_cast<std::ptrdiff_t>(turn - free_turn) < 0) {
        return Step::busy;  // full: the value of the previous lap is still there
      } else {
        pos = tail_.load(std::memory_order_relaxed);  // another producer took pos
      }
    }
  }

  // One attempt to claim a pop position and move its value into `out`.
  Step claim_pop(T& out) noexcept {
    std::size_t pos = head_.load(std::memory_order_relaxed);
    for (;;) {
      Slot& slot = slot_of(pos);
      // acquire: pairs with the push's release of this turn (the value is complete).
      const std::size_t turn = slot.turn.load(std::memory_order_acquire);
      const std::size_t full_turn = 2 * lap_of(pos) + 1;
      if (turn == full_turn) {
        Hooks::step();
        // seq_cst: the claim is one half of the parking handshake (protocol step 5).
        if (head_.compare_exchange_weak(pos, pos + 1, std::memory_order_seq_cst, std::memory_order_relaxed)) {
          T& value = value_at(slot);
          out = std::move(value);
          value.~T();
          Hooks::step();
          // release: our move-out and destruction happen-before the next push here.
          slot.turn.store(full_turn + 1, std::memory_order_release);
          notify(not_full_);
          return Step::done;
        }
      } else if (static_cast<std::ptrdiff_t>(turn - full_turn) < 0) {
        // Empty here. Closed and drained only when no claimed push is outstanding.
        // acquire: pairs with close(); relaxed would do for the count alone.
        const std::size_t tail = tail_.load(std::memory_order_acquire);
        if ((tail & kClosed) && (tail & ~kClosed) == head_.load(std::memory_order_relaxed)) return Step::closed;
        return Step::busy;
      } else {
        pos = head_.load(std::memory_order_relaxed);  // another consumer took pos
      }
    }
  }

  // After a claim: wake the other side if it announced that it parks (protocol step 5).
  void notify(std::atomic<std::uint32_t>& word) noexcept {
    // seq_cst: the second half of the handshake with the parker's seq_cst CAS.
    std::uint32_t seen = word.load(std::memory_order_seq_cst);
    if (!(seen & kParked)) return;
    // New sequence, nobody parked. relaxed: the woken threads re-read the ring through
    // the slot turns, which carry the data. If the CAS fails, another thread already
    // bumped the word and woke everyone parked on it.
    if (word.compare_exchange_strong(seen, (seen + kSequenceOne) & ~kParked, std::memory_order_relaxed,
                                     std::memory_order_relaxed))
      Wait::wake_all(word);
  }

  // Spin, then park on `word` until `attempt` is not busy or the deadline passes.
  // `nothing_pending` tells, after the announcement, whether parking is safe: true when
  // the other side has claimed nothing we could still take (protocol step 5).
  // `ready` is a cheap hint polled while spinning; attempt() runs only once it says yes.
  template <class Attempt, class NothingPending, class Ready>
  Status block(std::atomic<std::uint32_t>& word, Attempt&& attempt, NothingPending&& nothing_pending,
               Ready&& ready, Deadline deadline) noexcept {
    Step step = attempt();
    if (step == Step::busy && deadline != Deadline::min()) {
      detail::spin_until([&] { return ready() && (step = attempt()) != Step::busy; });
    }
    while (step == Step::busy) {
      if (deadline != Deadline::max() && std::chrono::steady_clock::now() >= deadline) return Status::timeout;
      // relaxed: only a starting value for the CAS below.
      std::uint32_t seen = word.load(std::memory_order_relaxed);
      if (!(seen & kParked)) {
        // seq_cst: the announcement half of the handshake (protocol step 5).
        // relaxed on failure: we retry from the new value.
        if (!word.compare_exchange_weak(seen, seen | kParked, std::memory_order_seq_cst,
                                        std::memory_order_relaxed))
          continue;
        seen |= kParked;
      }
      Hooks::step();
      if ((step = attempt()) != Step::busy) break;
      if (!nothing_pending()) {
        // The other side claimed a position but has not published it yet (it was
        // preempted between claim and publish): let it run instead of parking.
        std::this_thread::yield();
        step = attempt();
        continue;
      }
      (void)Wait::wait(word, seen, deadline);
      step = attempt();
    }
    return step == Step::done ? Status::ok : Status::closed;
  }

  Status push_until_deadline(T& value, Deadline deadline) noexcept {
    const auto attempt = [&] {
      return claim_push([&](void* where) noexcept { ::new (where) T(std::move(value)); });
    };
    const auto nothing_pending = [&] {
      // seq_cst: the re-check half of the handshake with claim_pop's head_ CAS.
      const std::size_t head = head_.load(std::memory_order_seq_cst);
      const std::size_t tail = tail_.load(std::memory_order_seq_cst);
      // Full with every pop claimed so far finished... or closed: nothing to wait for
      // in the closed case, attempt() reports it.
      return !(tail & kClosed) && (tail & ~kClosed) - head >= capacity_;
    };
    return block(not_full_, attempt, nothing_pending, [] { return true; }, deadline);
  }

  Status pop_until_deadline(T& out, Deadline deadline) noexcept {
    const auto attempt = [&] { return claim_pop(out); };
    const auto nothing_pending = [&] {
      // seq_cst: the re-check half of the handshake with claim_push's tail_ CAS.
      const std::size_t tail = tail_.load(std::memory_order_seq_cst);
      return !(tail & kClosed) && (tail & ~kClosed) == head_.load(std::memory_order_relaxed);
    };
    const auto ready = [&] {
      // While spinning on an empty ring, poll only the next slot's turn: claim_pop()'s
      // empty branch also loads tail_ (for close()), which would pull the producers'
      // line away from them on every poll. relaxed: a hint; attempt() re-reads with
      // acquire. A close() during the spin is seen by attempt() in the parking loop.
      const std::size_t pos = head_.load(std::memory_order_relaxed);
      return slot_of(pos).turn.load(std::memory_order_relaxed) == 2 * lap_of(pos) + 1;
    };
    return block(not_empty_, attempt, nothing_pending, ready, deadline);
  }

  // Read-only after construction.
  const std::size_t capacity_;
  const bool power_of_two_ = (capacity_ & (capacity_ - 1)) == 0;
  std::size_t mask_ = 0;   // capacity - 1 when capacity is a power of two
  std::size_t shift_ = 0;  // log2(capacity) when capacity is a power of two
  const bool owns_slots_;  // false when the caller provided the slot storage
  // Address of the slots minus the address of this ring (modulo 2^64): position
  // independent when both live in one mapping shared between processes.
  const std::uintptr_t slots_offset_;

  // Producers' line: claimed pushes (top bit: closed), and the word consumers park on
  // (read by every push, written only when a consumer parks or is woken).
  alignas(detail::kCounterAlign) std::atomic<std::size_t> tail_{0};
  std::atomic<std::uint32_t> not_empty_{0};

  // Consumers' line: claimed pops, and the word producers park on.
  alignas(detail::kCounterAlign) std::atomic<std::size_t> head_{0};
  std::atomic<std::uint32_t> not_full_{0};

  // Keeps whatever follows the ring in memory off the consumers' line.
  alignas(detail::kCounterAlign) char end_padding_ = 0;
};

// The ring of the public contract, on the backend this library was built with.
template <class T>
class Ring : public BasicRing<T, DefaultWait, RingHooks> {
 public:
  using BasicRing<T, DefaultWait, RingHooks>::BasicRing;
};

}  // namespace fev
