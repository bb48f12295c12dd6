// SPDX-License-Identifier: MIT
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
//     only when the ring is closed and every claimed push has been popped. close()
//     first sets a copy of the bit on the consumers' line; a pop that finds its slot
//     empty reads tail_ only once the copy is set, so an empty pop of an open ring
//     leaves the producers' line alone.
//  5. Parking: consumers park on `not_empty_`, producers on `not_full_`. Each word
//     counts the threads registered to sleep on it (`sleepers`) and carries a `waking`
//     bit and a sequence. A thread that found nothing to do registers with a seq_cst
//     RMW (every parker, not only the first), then re-reads the other side's counter
//     (seq_cst) and sleeps only if the ring is still empty (full). The other side
//     claims with a seq_cst CAS and then reads the word (seq_cst): in the single total
//     order of seq_cst operations either the parker sees the claim or the claimer sees
//     the sleeper.
//  6. Precise wakeups: a claimer that sees sleepers and no `waking` sets `waking`,
//     bumps the sequence (so the futex value changes) and wakes ONE sleeper; while
//     `waking` is set, further claims make no syscall. A registered thread that finds
//     `waking` set takes it over (clears it with a seq_cst CAS) before it re-checks the
//     ring, and when it leaves it passes the wake on (a relay): if there is still
//     something to take, it wakes the next sleeper itself. So the pusher pays one wake
//     per transition from empty, not one per item, and never wakes a herd. close()
//     bumps both sequences and wakes everyone.
//  7. The hot path (ring neither full nor empty) adds one load of a word that lives on
//     the claimer's own cache line and is written only when someone parks: no
//     syscall, no extra shared write.
//
//  8. Bulk calls (try_push_n, try_pop_n, pop_n) check that the turns of k consecutive
//     slots are ready, then claim all k positions with one CAS of tail_ (head_) from p
//     to p+k. A ready turn stays ready until its position is claimed, and the CAS
//     succeeds only if nobody claimed p or later, so the k slots are ours. A bulk push
//     wakes at most one consumer (step 6): the woken consumer relays while values
//     remain.
//  9. Cancellation (push/pop with a std::stop_token): the parking loop checks the token
//     before every sleep. A stop_callback bumps the parking word's sequence (an RMW)
//     and wakes everyone on it, so a waiter that checked the token just before the
//     request then sleeps on a value the word no longer holds (see block()).
//
// The contract (guarantees, closed or empty, cancellation, spurious failures,
// capacity, memory ordering) is documented on BasicRing below.
#pragma once

#include "fev/cxx20.hpp"  // first: below C++20, one clear error instead of many

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <iosfwd>
#include <iterator>
#include <limits>
#include <memory>
#include <new>
#include <optional>
#include <stdexcept>
#include <stop_token>
#include <string_view>
#include <thread>
#include <type_traits>
#include <utility>

#include "fev/config.hpp"
#include "fev/deadline.hpp"
#include "fev/detail_cache_line.hpp"
#include "fev/detail_error.hpp"
#include "fev/spin.hpp"
#include "fev/wait.hpp"

namespace fev {

/// What a blocking or timed operation ended with:
/// - `ok`: it pushed or popped;
/// - `timeout`: the deadline passed first (only the timed forms return it);
/// - `closed`: the ring is closed (a push), or closed and drained (a pop);
/// - `cancelled`: a std::stop_token asked the operation to stop while it waited (only
///   the stop_token overloads return it).
enum class Status { ok, timeout, closed, cancelled };

/// The name of `status` as written in the enum ("ok", "timeout", "closed", "cancelled"),
/// for logs and test messages; "unknown" for a value outside the enum.
[[nodiscard]] constexpr std::string_view to_string(Status status) noexcept {
  switch (status) {
    case Status::ok: return "ok";
    case Status::timeout: return "timeout";
    case Status::closed: return "closed";
    case Status::cancelled: return "cancelled";
  }
  return "unknown";
}

/// Writes to_string(status) to `out` (GoogleTest prints a Status with it too).
template <class CharT, class Traits>
std::basic_ostream<CharT, Traits>& operator<<(std::basic_ostream<CharT, Traits>& out, Status status) {
  const std::string_view name = to_string(status);
  for (const char c : name) out.put(out.widen(c));
  return out;
}

/// Test hooks for fev's own stress harness; the defaults compile to nothing.
struct RingHooks {
  /// Called between the atomic steps of every operation (a chaos hook can yield/sleep).
  static void step() noexcept {}
  /// Whether a push, once it published its value, wakes parked consumers. Only test
  /// variants say no: the stress harness's broken one (to prove that it detects lost
  /// wakeups) and the memory-model check's peer that dies between publish and wake.
  static constexpr bool wake_consumers() noexcept { return true; }
  /// Whether a pop, once it freed its slot, wakes parked producers (test variants only).
  static constexpr bool wake_producers() noexcept { return true; }
};

namespace detail {
// Producer and consumer counters live kHotWordDistance apart (128 bytes, 256 on
// s390x; see fev/detail_cache_line.hpp for each target's reason). Slots take one cache
// line each (64 bytes on x86-64, 128 on aarch64 and POWER): a slot is written by one
// producer and then one consumer, not both at once, but neighbouring slots are written
// by different threads at the same time.
inline constexpr std::size_t kCounterAlign = kHotWordDistance;
inline constexpr std::size_t kSlotAlign = kCacheLine;
// Claims and parking words for waiters that are no thread (fev/ring_access.hpp).
struct RingAccess;
}  // namespace detail

/// A bounded multi-producer multi-consumer queue of T that parks a thread only when it
/// is full (push) or empty (pop). Any capacity from 1 (not only powers of two).
///
/// Guarantees: every value pushed (push/try_push returned true) is popped exactly once;
/// values from one producer come out in the order it pushed them (a bulk push's values
/// in the iterator's order); the destructor destroys whatever is still inside. Blocking
/// operations poll as fev/spin.hpp's policy allows (within fev::spin_limit(), or
/// the WaitOptions given to the constructor; never past their deadline), then park. T must be nothrow
/// move-constructible (so a claimed slot is always filled); pop(T&) and the other pops
/// into a caller's T also need a nothrow move assignment, the optional forms (try_pop(),
/// pop()) do not, nor does T need a default constructor for them.
///
/// Closed or empty? try_pop() returns nullopt (try_pop(T&) false) in both cases. To tell
/// them apart without blocking: pop_for(v, 0s) tries once and returns Status::closed only
/// when the ring is closed and drained, Status::timeout when it is open and has nothing
/// ready now. Or test closed() before empty(): closed() is final, and once it is true
/// and empty() is too, no value will ever come (every push that succeeded was claimed
/// before close()).
///
/// Cancellation: push(T&&, std::stop_token) and pop(T&, std::stop_token) return
/// Status::cancelled once a stop is requested while they would have to wait. An
/// operation that can complete without waiting completes (Status::ok), as
/// std::condition_variable_any's stop_token waits do; a cancelled push kept its value
/// and a cancelled pop took nothing.
///
/// try_push and try_pop can fail spuriously: try_push on a ring that is not full, and
/// try_pop on one that is not empty, while another thread is between claiming a
/// position and publishing it (protocol step 2 in fev/ring.hpp) at the slot they need. Where "full" or "empty"
/// must be certain, or room or a value must be waited for, use push/pop or the timed
/// forms (push_for, pop_for, ...): they wait for that thread to finish.
///
/// Capacity: each slot takes max(64, alignof(T)) bytes or more. A capacity of zero, or
/// one whose slots would not fit in memory (more than PTRDIFF_MAX bytes), is refused
/// before anything is allocated: std::invalid_argument, or, built with -fno-exceptions,
/// a one-line message on stderr and std::abort(). The same holds for caller storage not
/// aligned to kStorageAlignment.
///
/// What each call returns (every result is [[nodiscard]]: ignoring one loses a value or
/// an error):
/// - try_push, try_emplace, try_pop(T&): bool, false when it could not (full, empty,
///   closed, or spuriously, see below);
/// - push(v), emplace(args...), pop(T&): bool, false only when the ring is closed (a push)
///   or closed and drained (a pop). They can neither time out nor be cancelled, so a
///   bool says all there is;
/// - the timed forms (push_for, push_until, pop_for(T&, ...), pop_until(T&, ...)) and the
///   cancellable ones (push(v, stop), pop(T&, stop)): a Status that says which of ok,
///   closed, timeout or cancelled ended them;
/// - the std::optional forms (try_pop(), pop(), pop_for(timeout), pop_until(when),
///   pop(stop)): the value, or nullopt for every way of taking nothing. Use them where
///   why does not matter (a worker loop that ends on nullopt), the Status forms where it
///   does;
/// - the bulk forms (try_push_n, try_pop_n, pop_n): how many values moved.
/// to_string(Status) names a Status for logs.
///
/// Memory ordering: everything a producer did before a successful push happens-before
/// everything the consumer that pops that value does after the pop; everything a thread
/// did before close() happens-before everything a thread does after a pop that reported
/// the ring closed (false, nullopt, Status::closed).
///
/// Template parameters: `Wait` is the wait backend (a type from fev::backend); `Hooks` is
/// for fev's own stress harness. fev::Ring<T> has the defaults.
template <class T, class Wait = DefaultWait, class Hooks = RingHooks>
class BasicRing {
  static_assert(std::is_nothrow_move_constructible_v<T>,
                "fev::Ring<T> needs a noexcept move constructor: a claimed slot must always be filled");
  static_assert(std::is_nothrow_destructible_v<T>, "fev::Ring<T> needs a noexcept destructor");

 public:
  /// The element type.
  using value_type = T;

  /// Creates an empty, open ring of `capacity` slots, allocated here (see "Capacity").
  explicit BasicRing(std::size_t capacity) : BasicRing(capacity, nullptr) {}

  /// As above; every blocking call on this ring polls before it parks as `options`
  /// says (fev::WaitOptions: for example `.spin = 0ns` never polls, for threads that
  /// share a CPU; a larger `.spin` for threads on dedicated cores).
  BasicRing(std::size_t capacity, const WaitOptions& options) : BasicRing(capacity, nullptr) {
    wait_options_ = options;
  }

  /// The alignment that caller-provided slot storage needs. A slot takes one cache line
  /// or more (64 bytes on x86-64, 128 on aarch64; a T aligned above that raises both
  /// the slot's size and kStorageAlignment to its alignment).
  static constexpr std::size_t kStorageAlignment =
      alignof(T) > detail::kSlotAlign ? alignof(T) : detail::kSlotAlign;  // alignof(Slot)
  /// Bytes of slot storage for `capacity`; std::invalid_argument as for the constructor.
  // The product never wraps: checked() refuses every capacity whose size does not fit.
  [[nodiscard]] static std::size_t storage_bytes(std::size_t capacity) { return checked(capacity) * sizeof(Slot); }

  /// Places the slots in caller-provided memory (for example a mapping shared between
  /// processes): `slot_storage` holds storage_bytes(capacity) bytes aligned to
  /// kStorageAlignment and outlives the ring. nullptr means "allocate them".
  BasicRing(std::size_t capacity, void* slot_storage)
      : capacity_(checked(capacity)),
        owns_slots_(slot_storage == nullptr),
        slots_offset_(offset_from_this(owns_slots_ ? allocate(capacity_) : static_cast<Slot*>(slot_storage))) {
    static_assert(kStorageAlignment == alignof(Slot), "caller storage is checked against the slots' alignment");
    if (!owns_slots_ && reinterpret_cast<std::uintptr_t>(slot_storage) % alignof(Slot) != 0)
      detail::fail_invalid_argument("fev::Ring: slot storage must be aligned to kStorageAlignment");
    static_assert(offsetof(BasicRing, head_) - offsetof(BasicRing, tail_) >= detail::kCounterAlign,
                  "producer and consumer counters must not share a prefetched line pair");
    static_assert(offsetof(BasicRing, tail_) - offsetof(BasicRing, wait_options_) >= sizeof(wait_options_),
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

  /// Destroys the values still inside. No other thread may use the ring any more:
  /// close() it, and join every thread (finish every coroutine) that uses it, first.
  ///
  /// What is detected: a thread or a coroutine registered as a sleeper, that is, one in
  /// a blocking or timed push/pop (or fev::async_pop/async_push) whose attempts found
  /// the ring full (empty) and whose spin before parking has ended. Destroying the ring
  /// under it is a fatal error: one line on stderr that says to close the ring and join
  /// its users first, then abort. Not detected, and undefined (the thread reads freed
  /// memory, or sleeps for ever): a thread still in its first attempt or in that spin
  /// (up to the spin limit after it entered), or in any try_ call, since seeing those
  /// would cost every push and pop a shared write. Process-shared rings are not checked
  /// (a dead peer may have left its registration behind).
  ~BasicRing() {
    if constexpr (!detail::process_shared<Wait>) {
      // relaxed: whoever destroys the ring comes after every waiter left (joined with
      // it, or resumed by the loop), so it reads the words those waiters left.
      const std::uint32_t sleepers =
          (not_empty_.load(std::memory_order_relaxed) | not_full_.load(std::memory_order_relaxed)) & kSleepersMask;
      if (sleepers != 0)
        detail::fatal_error(
            "fev: a Ring was destroyed while threads or coroutines were still waiting on it: close() the ring "
            "and join every thread (finish every coroutine) that uses it before destroying it");
    }
    const std::size_t tail = tail_.load(std::memory_order_relaxed) & ~kClosed;
    for (std::size_t pos = head_.load(std::memory_order_relaxed); pos != tail; ++pos) {
      value_at(slot_of(pos)).~T();
    }
    for (std::size_t i = 0; i < capacity_; ++i) slots()[i].~Slot();
    if (owns_slots_) ::operator delete(slots(), std::align_val_t{alignof(Slot)});
  }

  // ---- Non-blocking. False when full (push) / empty (pop), or closed, and also, at
  // times, while another thread is between claiming and publishing the slot these
  // need: a false from try_push does not prove the ring full, nor one from try_pop
  // that it is empty. To wait for room or a value, use the blocking or timed forms. ----
  /// Copies `value` in if a slot is ready; false when full or closed (or spuriously).
  [[nodiscard]] bool try_push(const T& value) { return try_emplace(value); }
  /// Moves `value` in if a slot is ready; false, leaving `value` as it was, when full or
  /// closed (or spuriously).
  [[nodiscard]] bool try_push(T&& value) noexcept { return try_emplace(std::move(value)); }

  /// Constructs a T from `args` in a ready slot; false when full or closed (or
  /// spuriously). A T whose construction may throw is built first: if that throws, the
  /// ring is untouched.
  template <class... Args>
  [[nodiscard]] bool try_emplace(Args&&... args) noexcept(std::is_nothrow_constructible_v<T, Args...>) {
    if constexpr (std::is_nothrow_constructible_v<T, Args...>) {
      return claim_push([&](void* where) noexcept { ::new (where) T(std::forward<Args>(args)...); }) == Step::done;
    } else {
      // Build the value first: if that throws, the ring is untouched.
      T value(std::forward<Args>(args)...);
      return claim_push([&](void* where) noexcept { ::new (where) T(std::move(value)); }) == Step::done;
    }
  }

  /// Moves the next value into `out` if one is ready; false when empty or closed and
  /// drained (or spuriously), leaving `out` as it was.
  [[nodiscard]] bool try_pop(T& out) noexcept { return claim_pop(move_into(out)) == Step::done; }

  // ---- Blocking. push: false iff closed, and then the value is not taken (an rvalue
  // argument is left as it was). pop: false iff closed and drained. ----
  /// Waits for room, then copies `value` in. False iff the ring is closed.
  [[nodiscard]] bool push(const T& value) {
    T copy(value);
    return push(std::move(copy));
  }
  /// Waits for room, then moves `value` in. False iff the ring is closed; `value` is then
  /// left as it was.
  [[nodiscard]] bool push(T&& value) noexcept { return push_until_deadline(value, Deadline::max()) == Status::ok; }
  /// Waits for the next value and moves it into `out`. False iff the ring is closed and
  /// drained.
  [[nodiscard]] bool pop(T& out) noexcept { return pop_until_deadline(out, Deadline::max()) == Status::ok; }

  // ---- Timed. A timeout of zero or below tries once. ----
  /// As push(T&&), waiting at most `timeout`: Status::ok, Status::closed, or
  /// Status::timeout (the value was not taken).
  template <class Rep, class Period>
  [[nodiscard]] Status push_for(T&& value, const std::chrono::duration<Rep, Period>& timeout) noexcept {
    return push_until_deadline(value, timeout <= timeout.zero() ? Deadline::min() : detail::deadline_after(timeout));
  }
  /// As push(const T&), waiting at most `timeout` (see push_for(T&&, timeout)).
  template <class Rep, class Period>
  [[nodiscard]] Status push_for(const T& value, const std::chrono::duration<Rep, Period>& timeout) {
    T copy(value);
    return push_for(std::move(copy), timeout);
  }
  /// As pop(T&), waiting at most `timeout`: Status::ok, Status::closed (closed and
  /// drained), or Status::timeout (nothing taken).
  template <class Rep, class Period>
  [[nodiscard]] Status pop_for(T& out, const std::chrono::duration<Rep, Period>& timeout) noexcept {
    return pop_until_deadline(out, timeout <= timeout.zero() ? Deadline::min() : detail::deadline_after(timeout));
  }
  /// As push_for(), until a time point of steady_clock or system_clock (converted once).
  template <class Clock, class Duration>
  [[nodiscard]] Status push_until(T&& value, const std::chrono::time_point<Clock, Duration>& when) noexcept {
    return push_until_deadline(value, detail::to_deadline(when));
  }
  /// As push_for(), until a time point of steady_clock or system_clock (converted once).
  template <class Clock, class Duration>
  [[nodiscard]] Status push_until(const T& value, const std::chrono::time_point<Clock, Duration>& when) {
    T copy(value);
    return push_until(std::move(copy), when);
  }
  /// As pop_for(), until a time point of steady_clock or system_clock (converted once).
  template <class Clock, class Duration>
  [[nodiscard]] Status pop_until(T& out, const std::chrono::time_point<Clock, Duration>& when) noexcept {
    return pop_until_deadline(out, detail::to_deadline(when));
  }

  // ---- Values by std::optional: T needs no default constructor and no assignment. ----
  /// The next value, or nullopt when there is none ready or the ring is closed (to tell
  /// which, see "Closed or empty?" above). Can fail spuriously, as try_pop(T&).
  [[nodiscard]] std::optional<T> try_pop() noexcept {
    std::optional<T> result;
    (void)claim_pop(emplace_into(result));
    return result;
  }
  /// Blocks for the next value; nullopt iff the ring is closed and drained.
  [[nodiscard]] std::optional<T> pop() noexcept { return pop_optional(Deadline::max(), {}); }
  /// As pop(), waiting at most `timeout`: nullopt when the ring is closed and drained or
  /// when the timeout passed with nothing taken (pop_for(T&, timeout) tells which). A
  /// timeout of zero or below tries once.
  template <class Rep, class Period>
  [[nodiscard]] std::optional<T> pop_for(const std::chrono::duration<Rep, Period>& timeout) noexcept {
    return pop_optional(timeout <= timeout.zero() ? Deadline::min() : detail::deadline_after(timeout), {});
  }
  /// As pop_for(timeout), until a time point of steady_clock or system_clock (converted
  /// once).
  template <class Clock, class Duration>
  [[nodiscard]] std::optional<T> pop_until(const std::chrono::time_point<Clock, Duration>& when) noexcept {
    return pop_optional(detail::to_deadline(when), {});
  }
  /// As pop(), cancelled by `stop` (see "Cancellation"): nullopt when the ring is closed
  /// and drained, or once a stop is requested while it would wait (nothing taken;
  /// pop(T&, std::stop_token) tells which).
  [[nodiscard]] std::optional<T> pop(std::stop_token stop) noexcept {
    return pop_optional(Deadline::max(), std::move(stop));
  }

  /// Blocking try_emplace: waits for room, then constructs T from `args` in its slot.
  /// False iff the ring is closed. A T that may throw while being constructed from
  /// `args` is built before waiting (if that throws, the ring is untouched; if the ring
  /// turns out closed, that T is destroyed); otherwise `args` are used only once room is
  /// claimed, and are left as they were when this returns false.
  template <class... Args>
  [[nodiscard]] bool emplace(Args&&... args) noexcept(std::is_nothrow_constructible_v<T, Args...>) {
    if constexpr (std::is_nothrow_constructible_v<T, Args...>) {
      const auto construct = [&](void* where) noexcept { ::new (where) T(std::forward<Args>(args)...); };
      return push_blocking([&] { return claim_push(construct); }, Deadline::max(), {}) == Status::ok;
    } else {
      T value(std::forward<Args>(args)...);
      return push(std::move(value));
    }
  }

  /// Whether no value is inside; approximate under concurrency, like size().
  [[nodiscard]] bool empty() const noexcept { return size() == 0; }

  // ---- Bulk. One atomic claim for several positions (protocol step 8), one wake of
  // the other side per call. ----
  /// Moves up to `n` values, taken in order from `first` (std::ranges::iter_move), into
  /// the ring without waiting, and returns how many went in: the first k values of the
  /// range, k < n when the ring had fewer free slots ready (or was closed: 0). The
  /// values not taken are left as they were. The iterator's operations and T's
  /// construction from its values must not throw: a claimed slot must be filled.
  /// One atomic claim for all k positions, at most one wake of a consumer.
  template <class It>
  [[nodiscard]] std::size_t try_push_n(It first, std::size_t n) noexcept {
    static_assert(std::input_iterator<It>, "fev::Ring::try_push_n takes an input iterator");
    static_assert(std::is_nothrow_constructible_v<T, std::iter_rvalue_reference_t<It>>,
                  "fev::Ring::try_push_n: T must be nothrow constructible from the iterator's values "
                  "(use a mutable iterator so they are moved, not copied)");
    std::size_t pushed = 0;
    (void)claim_push_n(first, n, pushed);
    return pushed;
  }
  /// Moves up to `max` values out of the ring into `out` (`*out = value; ++out;`, in
  /// ring order) without waiting, and returns how many: 0 when none was ready or the
  /// ring is closed and drained. If writing to `out` throws, the exception propagates and
  /// the values this call took but had not written yet are destroyed.
  template <class Out>
  [[nodiscard]] std::size_t try_pop_n(Out out, std::size_t max) {
    static_assert(std::output_iterator<Out, T>, "fev::Ring::try_pop_n writes T values through `out`");
    PopClaim claim{0, 0};
    if (max == 0 || claim_pop_n(max, claim) != Step::done) return 0;
    drain_into(claim, std::move(out));
    return claim.count;
  }
  /// As try_pop_n, but waits for the first value; then takes up to max - 1 more that
  /// are ready. Returns 0 iff the ring is closed and drained (or max is 0: then at once).
  template <class Out>
  [[nodiscard]] std::size_t pop_n(Out out, std::size_t max) {
    static_assert(std::output_iterator<Out, T>, "fev::Ring::pop_n writes T values through `out`");
    PopClaim claim{0, 0};
    if (max == 0 || pop_blocking([&] { return claim_pop_n(max, claim); }, Deadline::max(), {}) != Status::ok)
      return 0;
    drain_into(claim, std::move(out));
    return claim.count;
  }

  // ---- Cancellable (protocol step 9). Status::cancelled once `stop` is requested while
  // the call would wait; the value was then not taken (push) and nothing was taken
  // (pop). A call that can complete without waiting completes, stop requested or not.
  // A stop request wakes the parked thread promptly (and, as close() does, briefly
  // every other thread parked on the same side). ----
  /// As push(T&&), cancelled by `stop`: Status::ok, Status::closed, or Status::cancelled
  /// once a stop is requested while it would wait (the value is then left as it was).
  /// A stop request wakes the parked thread promptly (and, as close() does, briefly
  /// every other thread parked on the same side).
  [[nodiscard]] Status push(T&& value, std::stop_token stop) noexcept {
    const auto construct = move_from(value);
    return push_blocking([&] { return claim_push(construct); }, Deadline::max(), std::move(stop));
  }
  /// As push(T&&, std::stop_token), with a copy of `value`.
  [[nodiscard]] Status push(const T& value, std::stop_token stop) {
    T copy(value);
    return push(std::move(copy), std::move(stop));
  }
  /// As pop(T&), cancelled by `stop`: Status::ok, Status::closed (closed and drained),
  /// or Status::cancelled once a stop is requested while it would wait (nothing taken).
  [[nodiscard]] Status pop(T& out, std::stop_token stop) noexcept {
    const auto take = move_into(out);
    return pop_blocking([&] { return claim_pop(take); }, Deadline::max(), std::move(stop));
  }

  /// Closes the ring: pushes fail from now on (blocked ones return false), pops drain
  /// what is left and then report closed. Wakes every parked thread. Idempotent.
  void close() noexcept {
    // The consumers' copy first. relaxed: the fetch_or below (seq_cst, so release)
    // publishes it to whoever sees tail_'s closed bit (closed(), a parker's re-check),
    // so a thread that learns "closed" from tail_ finds the copy set too.
    closed_for_consumers_.store(1, std::memory_order_relaxed);
    Hooks::step();
    // seq_cst: ordered with every push's claim CAS on tail_ (a push either claimed
    // before this or sees the bit and fails) and with parkers' re-checks of tail_.
    tail_.fetch_or(kClosed, std::memory_order_seq_cst);
    // Change both words so that a thread about to park on an old value returns at
    // once, then wake everyone already parked. release: pairs with a parker's
    // registration CAS and its acquire re-read of the word after a sleep (block()):
    // whichever reads this bump (or a later value) sees the closed bit set above, and
    // one that read an older value sleeps on a value this bump changes.
    // A close() that dies between these steps leaves sleepers asleep on a closed ring;
    // the next close() (idempotent) by any survivor wakes them.
    not_empty_.fetch_add(kSequenceOne, std::memory_order_release);
    Wait::wake_all(not_empty_);
    not_full_.fetch_add(kSequenceOne, std::memory_order_release);
    Wait::wake_all(not_full_);
  }

  /// Whether close() has been called. Final: once true, stays true. A caller that sees
  /// true also sees every push claimed before the close.
  [[nodiscard]] bool closed() const noexcept {
    // acquire: pairs with close()'s fetch_or, so a caller that sees "closed" also sees
    // the pushes claimed before it.
    return (tail_.load(std::memory_order_acquire) & kClosed) != 0;
  }

  /// The number of slots, as given to the constructor.
  [[nodiscard]] std::size_t capacity() const noexcept { return capacity_; }

  /// Values inside (claimed pushes minus claimed pops); approximate under concurrency.
  [[nodiscard]] std::size_t size() const noexcept {
    // relaxed: a snapshot for monitoring; it synchronizes with nothing.
    const std::size_t head = head_.load(std::memory_order_relaxed);
    const std::size_t tail = tail_.load(std::memory_order_relaxed) & ~kClosed;
    if (tail <= head) return 0;
    return tail - head > capacity_ ? capacity_ : tail - head;
  }

  /// For the stress harness's watchdog report and tests: raw counters, parking words,
  /// and how many threads are registered to sleep on each side.
  struct Snapshot {
    /// Pops claimed, and pushes claimed (without the closed bit).
    ///@{
    std::size_t head, tail;
    ///@}
    /// Whether the ring is closed.
    bool closed;
    /// The consumers' and the producers' parking words.
    ///@{
    std::uint32_t not_empty, not_full;
    ///@}
    /// Threads registered to sleep on each side.
    ///@{
    std::uint32_t consumers_sleeping, producers_sleeping;
    ///@}
  };
  /// Reads the counters and parking words, each with a relaxed load: a report, not a
  /// consistent state.
  [[nodiscard]] Snapshot snapshot() const noexcept {
    // relaxed: a snapshot for reports; it synchronizes with nothing.
    const std::size_t tail = tail_.load(std::memory_order_relaxed);
    const std::uint32_t not_empty = not_empty_.load(std::memory_order_relaxed);
    const std::uint32_t not_full = not_full_.load(std::memory_order_relaxed);
    return {head_.load(std::memory_order_relaxed), tail & ~kClosed, (tail & kClosed) != 0, not_empty, not_full,
            (not_empty & kSleepersMask) / kSleeperOne, (not_full & kSleepersMask) / kSleeperOne};
  }

 private:
  friend struct detail::RingAccess;

  struct alignas(kStorageAlignment) Slot {  // max(kCacheLine, alignof(T))
    // Turn of this slot (see the protocol above). Written with release after the value
    // is constructed (push) or moved out (pop); read with acquire before touching it.
    std::atomic<std::size_t> turn{0};
    alignas(T) unsigned char storage[sizeof(T)];
  };

  enum class Step { done, busy, closed };

  static constexpr std::size_t kClosed = std::size_t{1} << (sizeof(std::size_t) * 8 - 1);
  // Parking words (not_empty_, not_full_), protocol steps 5 and 6:
  //   bit 0       kWaking   a wake_one was issued and no registered thread has taken
  //                         it over yet; claimers make no syscall while it is set.
  //   bits 1..15  sleepers  threads registered to sleep on this side. Each adds
  //                         kSleeperOne before its final re-check and removes it when
  //                         it leaves. At most kSleepersMax at once; more threads
  //                         poll with yields instead of registering.
  //   bits 16..31 sequence  +1 on every wake issued and on close(), so a thread about
  //                         to sleep on an older value returns at once.
  static constexpr std::uint32_t kWaking = 1u;
  static constexpr std::uint32_t kSleeperOne = 2u;
  static constexpr std::uint32_t kSleepersMask = 0xFFFEu;
  static constexpr std::uint32_t kSequenceOne = 1u << 16;

  // The largest capacity: positions keep two bits clear below kClosed, and the slots'
  // bytes fit in one object (no object, hence no operator new request, may exceed
  // PTRDIFF_MAX bytes), so capacity * sizeof(Slot) never wraps.
  static constexpr std::size_t kMaxCapacity = std::min<std::size_t>(
      kClosed >> 2, static_cast<std::size_t>(std::numeric_limits<std::ptrdiff_t>::max()) / sizeof(Slot));

  // Before anything is allocated or constructed.
  static std::size_t checked(std::size_t capacity) {
    if (capacity == 0) detail::fail_invalid_argument("fev::Ring: capacity must be at least 1");
    if (capacity > kMaxCapacity) detail::fail_invalid_argument("fev::Ring: capacity too large for memory");
    return capacity;
  }

  // `capacity` is checked(): the product fits.
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
          if (Hooks::wake_consumers()) {
            if (notify(not_empty_)) detail::note_woke_ring_side(detail::RingSide::consumers);
          }
          return Step::done;
        }
      } else if (static_cast<std::ptrdiff_t>(turn - free_turn) < 0) {
        return Step::busy;  // full: the value of the previous lap is still there
      } else {
        pos = tail_.load(std::memory_order_relaxed);  // another producer took pos
      }
    }
  }

  // How a pop hands a value over: `take(value)` moves it out (noexcept); the ring then
  // destroys what is left in the slot.
  static auto move_into(T& out) noexcept {
    static_assert(std::is_nothrow_move_assignable_v<T>,
                  "fev::Ring<T>: popping into a T& needs a noexcept move assignment; "
                  "the std::optional forms (try_pop(), pop()) and pop_n need none");
    return [&out](T& value) noexcept { out = std::move(value); };
  }
  static auto emplace_into(std::optional<T>& out) noexcept {
    return [&out](T& value) noexcept { out.emplace(std::move(value)); };
  }
  // How a push fills a claimed slot from a caller's value.
  static auto move_from(T& value) noexcept {
    return [&value](void* where) noexcept { ::new (where) T(std::move(value)); };
  }

  // One attempt to claim up to `n` consecutive push positions with one CAS (protocol
  // step 8) and fill them from `first`; `pushed` says how many.
  template <class It>
  Step claim_push_n(It& first, std::size_t n, std::size_t& pushed) noexcept {
    if (n == 0) return Step::busy;
    const std::size_t most = n < capacity_ ? n : capacity_;  // positions p..p+most-1 use distinct slots
    std::size_t pos = tail_.load(std::memory_order_relaxed);
    for (;;) {
      if (pos & kClosed) return Step::closed;
      // acquire: pairs with the release of the pop that freed this slot, so its move
      // out and destruction happen-before our construction (and so for each slot below).
      const std::size_t turn = slot_of(pos).turn.load(std::memory_order_acquire);
      const std::size_t free_turn = 2 * lap_of(pos);
      if (turn == free_turn) {
        std::size_t count = 1;
        while (count < most &&
               slot_of(pos + count).turn.load(std::memory_order_acquire) == 2 * lap_of(pos + count))
          ++count;
        Hooks::step();
        // seq_cst: as claim_push's CAS (protocol step 5, and ordered with close()).
        // A free turn stays free until its position is claimed, and this succeeds only
        // if nobody claimed pos or later: the `count` slots are ours. relaxed on
        // failure: we only retry.
        if (tail_.compare_exchange_weak(pos, pos + count, std::memory_order_seq_cst, std::memory_order_relaxed)) {
          for (std::size_t i = 0; i < count; ++i, ++first) {
            Slot& slot = slot_of(pos + i);
            ::new (static_cast<void*>(slot.storage)) T(std::ranges::iter_move(first));
            Hooks::step();
            // release: publishes the value to the pop that acquires this turn.
            slot.turn.store(2 * lap_of(pos + i) + 1, std::memory_order_release);
          }
          if (Hooks::wake_consumers()) {
            // one wake; woken consumers relay
            if (notify(not_empty_)) detail::note_woke_ring_side(detail::RingSide::consumers);
          }
          pushed = count;
          return Step::done;
        }
      } else if (static_cast<std::ptrdiff_t>(turn - free_turn) < 0) {
        return Step::busy;  // full
      } else {
        pos = tail_.load(std::memory_order_relaxed);  // another producer took pos
      }
    }
  }

  // Positions [first, first + count) claimed by one pop_n/try_pop_n.
  struct PopClaim {
    std::size_t first;
    std::size_t count;
  };

  // One attempt to claim up to `max` (>= 1) consecutive pop positions whose values are
  // published, with one CAS (protocol step 8). The caller then drains them.
  Step claim_pop_n(std::size_t max, PopClaim& claim) noexcept {
    const std::size_t most = max < capacity_ ? max : capacity_;
    std::size_t pos = head_.load(std::memory_order_relaxed);
    for (;;) {
      // acquire: pairs with the push's release of this turn (the value is complete),
      // and so for each slot below.
      const std::size_t turn = slot_of(pos).turn.load(std::memory_order_acquire);
      const std::size_t full_turn = 2 * lap_of(pos) + 1;
      if (turn == full_turn) {
        std::size_t count = 1;
        while (count < most &&
               slot_of(pos + count).turn.load(std::memory_order_acquire) == 2 * lap_of(pos + count) + 1)
          ++count;
        Hooks::step();
        // seq_cst: as claim_pop's CAS (protocol step 5). A published value stays until
        // its position is claimed, and this succeeds only if nobody claimed pos or
        // later. relaxed on failure: we only retry.
        if (head_.compare_exchange_weak(pos, pos + count, std::memory_order_seq_cst, std::memory_order_relaxed)) {
          claim = {pos, count};
          return Step::done;
        }
      } else if (static_cast<std::ptrdiff_t>(turn - full_turn) < 0) {
        return empty_or_drained();
      } else {
        pos = head_.load(std::memory_order_relaxed);  // another consumer took pos
      }
    }
  }

  // A pop found the ring empty at its position: closed and drained only when the ring
  // is closed and no claimed push is outstanding; otherwise busy. An open ring is told
  // from the consumers' own line, so spinning pops (and, at 1P1C, nearly every pop)
  // leave the producers' line alone.
  Step empty_or_drained() const noexcept {
    // relaxed: a hint; "closed" is decided from tail_ below. A pop that misses a
    // concurrent close() reports busy and finds out on its next attempt (a blocking pop
    // re-checks tail_ before it sleeps, and close() wakes it).
    if (closed_for_consumers_.load(std::memory_order_relaxed) == 0) return Step::busy;
    // acquire: pairs with close()'s fetch_or, so close() happens-before a pop that
    // reports closed (the contract); relaxed would do for the count alone.
    const std::size_t tail = tail_.load(std::memory_order_acquire);
    if ((tail & kClosed) && (tail & ~kClosed) == head_.load(std::memory_order_relaxed)) return Step::closed;
    return Step::busy;
  }

  // Destroys what is left of the value at a claimed pop position and frees its slot.
  void free_slot(std::size_t pos) noexcept {
    Slot& slot = slot_of(pos);
    value_at(slot).~T();
    Hooks::step();
    // release: our move-out and destruction happen-before the next push here.
    slot.turn.store(2 * lap_of(pos) + 2, std::memory_order_release);
  }

  // Writes the claimed values to `out` in ring order, frees their slots, and wakes one
  // parked producer (producers relay). If writing throws, the slots not yet written are
  // still freed (their values destroyed): the ring stays whole.
  template <class Out>
  void drain_into(PopClaim claim, Out out) {
    struct FreeRemaining {
      BasicRing& ring;
      std::size_t next, end;
      ~FreeRemaining() {
        for (; next != end; ++next) ring.free_slot(next);
        if (Hooks::wake_producers() && ring.notify(ring.not_full_))
          detail::note_woke_ring_side(detail::RingSide::producers);
      }
    } remaining{*this, claim.first, claim.first + claim.count};
    for (; remaining.next != remaining.end; ++remaining.next) {
      *out = std::move(value_at(slot_of(remaining.next)));
      ++out;
      free_slot(remaining.next);
    }
  }

  // One attempt to claim a pop position and hand its value to `take`.
  template <class Take>
  Step claim_pop(Take&& take) noexcept {
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
          take(value);
          value.~T();
          Hooks::step();
          // release: our move-out and destruction happen-before the next push here.
          slot.turn.store(full_turn + 1, std::memory_order_release);
          if (Hooks::wake_producers() && notify(not_full_))
            detail::note_woke_ring_side(detail::RingSide::producers);
          return Step::done;
        }
      } else if (static_cast<std::ptrdiff_t>(turn - full_turn) < 0) {
        return empty_or_drained();
      } else {
        pos = head_.load(std::memory_order_relaxed);  // another consumer took pos
      }
    }
  }

  // After a claim (or as a relay): wake one sleeper of the other side, unless nobody
  // sleeps or a wake is already on its way (protocol steps 5 and 6).
  // Returns whether it woke someone (made the wake call).
  bool notify(std::atomic<std::uint32_t>& word) noexcept {
    // seq_cst: the second half of the handshake with a sleeper's seq_cst registration
    // and with the seq_cst CAS that takes a wake over (the taker re-checks the ring).
    std::uint32_t seen = word.load(std::memory_order_seq_cst);
    for (;;) {
      if (!(seen & kSleepersMask)) return false;  // nobody sleeps: the hot path ends here
      // A wake is on its way and whoever takes it re-checks the ring. Between
      // processes the thread that issued it may have died before its wake syscall,
      // so a process-shared ring wakes again rather than trust it.
      if ((seen & kWaking) && !detail::process_shared<Wait>) return false;
      // relaxed: the handshake is the seq_cst load above and the taker's seq_cst CAS,
      // which reads this value: that load read an earlier value of the word, so it
      // precedes the taker's CAS in the seq_cst order, and so does the claim before it;
      // the taker's re-check then sees the claim. relaxed on failure: we recompute.
      if (word.compare_exchange_weak(seen, (seen + kSequenceOne) | kWaking, std::memory_order_relaxed,
                                     std::memory_order_relaxed))
        break;
    }
    Wait::wake_one(word);
    return true;
  }

  static bool passed(Deadline deadline) noexcept {
    return deadline != Deadline::max() && std::chrono::steady_clock::now() >= deadline;
  }

  // Spin, then park on `word` until `attempt` is not busy or the deadline passes.
  // `nothing_pending` tells, after registering, whether sleeping is safe: true when the
  // other side has claimed nothing we could still take and the ring is open (step 5).
  // `other_word` is the word the other side sleeps on, and `other_can_proceed` whether
  // it could make progress now (room for producers, values for consumers).
  // `stop`: instead of waiting any longer, return Status::cancelled once a stop is
  // requested (protocol step 9); an empty token never stops.
  template <class Attempt, class NothingPending, class OtherCanProceed>
  Status block(std::atomic<std::uint32_t>& word, Attempt&& attempt, NothingPending&& nothing_pending,
               std::atomic<std::uint32_t>& other_word, OtherCanProceed&& other_can_proceed,
               Deadline deadline, const std::stop_token& stop) noexcept {
    Step step = attempt();
    if (step == Step::busy && deadline != Deadline::min() && !stop.stop_requested()) {
      // Producers park on not_full_, consumers on not_empty_.
      const detail::RingSide side = &word == &not_full_ ? detail::RingSide::producers : detail::RingSide::consumers;
      detail::spin_until([&] { return (step = attempt()) != Step::busy; }, deadline, side, wait_options_);
    }
    if (step != Step::busy) return step == Step::done ? Status::ok : Status::closed;
    if (stop.stop_requested()) return Status::cancelled;

    // Register as a sleeper. relaxed: only a starting value for the CAS.
    std::uint32_t seen = word.load(std::memory_order_relaxed);
    for (;;) {
      if (passed(deadline)) return Status::timeout;
      if ((seen & kSleepersMask) == kSleepersMask) {
        // Every sleeper place is taken: poll instead of registering.
        detail::yield_cpu();
        if ((step = attempt()) != Step::busy) return step == Step::done ? Status::ok : Status::closed;
        if (stop.stop_requested()) return Status::cancelled;
        seen = word.load(std::memory_order_relaxed);
        continue;
      }
      // seq_cst: the registration half of the handshake (protocol step 5), an RMW for
      // every sleeper. relaxed on failure: we retry from the new value.
      if (word.compare_exchange_weak(seen, seen + kSleeperOne, std::memory_order_seq_cst,
                                     std::memory_order_relaxed)) {
        seen += kSleeperOne;
        break;
      }
    }

    // A stop request changes the word (an RMW: the sequence moves, so a sleep on any
    // value read before it returns at once) and then wakes everyone on it. Registered
    // only now: a stop before this point is seen by the checks above and below.
    const std::stop_callback wake_on_stop(stop, WakeOnStop{&word});
    bool took_wake = false;
    bool cancelled = false;
    for (;;) {
      if (seen & kWaking) {
        // Take the issued wake over: we are awake and re-check the ring next, and we
        // pass it on when we leave. seq_cst: ordered before our re-check's seq_cst
        // loads, against a claimer's claim-then-load (protocol step 6). relaxed on
        // failure: we retry from the new value.
        if (!word.compare_exchange_weak(seen, seen & ~kWaking, std::memory_order_seq_cst,
                                        std::memory_order_relaxed))
          continue;
        seen &= ~kWaking;
        took_wake = true;
      }
      Hooks::step();
      if ((step = attempt()) != Step::busy || passed(deadline)) break;
      if (stop.stop_possible()) {
        // "Stop requested between our check and our sleep": acquire, so that if this
        // reads WakeOnStop's bump (or any later RMW of the word: all are in its release
        // sequence) the request happens-before the check below, which then sees it; if
        // it reads an older value, the bump comes later and changes the word from the
        // value we sleep on. So either we see the stop here, or the sleep returns.
        const std::uint32_t now = word.load(std::memory_order_acquire);
        if (stop.stop_requested()) {
          cancelled = true;
          break;
        }
        if (now != seen) {
          seen = now;  // the word moved since we read it: look again instead of sleeping
          continue;
        }
      }
      if (nothing_pending()) {
        // Between processes, a peer that died between its claim and its wake call may
        // have left the other side asleep although it could proceed (a consumer died
        // right after freeing a slot of a full ring): wake it before sleeping, or both
        // sides would sleep for good.
        if (detail::process_shared<Wait> && other_can_proceed()) notify(other_word);
        (void)Wait::wait(word, seen, deadline);
      } else {
        // The other side claimed a position but has not published it yet (it was
        // preempted between claim and publish): let it run instead of sleeping.
        detail::yield_cpu();
      }
      // The value to take over or sleep on. acquire: pairs with close()'s release bump;
      // a bump read here makes the closed bit visible to the re-check that follows
      // (relaxed, a sleeper woken by close() could read the bump, miss the bit, and
      // sleep on the bumped value for good).
      seen = word.load(std::memory_order_acquire);
    }

    // Leave. relaxed: no decision rests on when others see one sleeper fewer: a
    // claimer that still counts us makes one wake that finds nobody, and the wake we
    // took over is passed on below from our own seq_cst re-check.
    word.fetch_sub(kSleeperOne, std::memory_order_relaxed);
    // The relay: claimers that saw `waking` left their wake to whoever took it, which
    // is us. If there is still something to take, wake the next sleeper.
    // Also after a cancellation: a cancelled waiter took nothing, so the value (room)
    // the wake announced is still there for the next sleeper.
    if (took_wake && !nothing_pending()) notify(word);
    if (cancelled) return Status::cancelled;
    if (step == Step::busy) return Status::timeout;
    return step == Step::done ? Status::ok : Status::closed;
  }

  // The stop_callback of a cancellable wait (protocol step 9).
  struct WakeOnStop {
    std::atomic<std::uint32_t>* word;
    void operator()() const noexcept {
      // release: the stop request (made before this callback runs) happens-before
      // whatever acquires this value or a later one; pairs with block()'s acquire
      // re-read before it sleeps. The bump changes the value a parker is about to
      // sleep on, so its futex wait returns at once.
      word->fetch_add(kSequenceOne, std::memory_order_release);
      Wait::wake_all(*word);
    }
  };

  Status push_until_deadline(T& value, Deadline deadline) noexcept {
    const auto construct = move_from(value);
    return push_blocking([&] { return claim_push(construct); }, deadline, {});
  }

  Status pop_until_deadline(T& out, Deadline deadline) noexcept {
    const auto take = move_into(out);
    return pop_blocking([&] { return claim_pop(take); }, deadline, {});
  }

  // The std::optional pops: the value, or nullopt on closed-and-drained, timeout or stop.
  std::optional<T> pop_optional(Deadline deadline, std::stop_token stop) noexcept {
    std::optional<T> result;
    (void)pop_blocking([&] { return claim_pop(emplace_into(result)); }, deadline, std::move(stop));
    return result;
  }

  // Waits for room until `attempt` (one claim_push or claim_push_n) is not busy.
  template <class Attempt>
  Status push_blocking(Attempt&& attempt, Deadline deadline, std::stop_token stop) noexcept {
    const auto nothing_pending = [&] {
      // seq_cst: the re-check half of the handshake with claim_pop's head_ CAS.
      const std::size_t head = head_.load(std::memory_order_seq_cst);
      // relaxed: the closed bit reaches a parker through close()'s bump of not_full_ (read
      // by our registration CAS or acquire re-read, or it ends our sleep); a stale count of
      // claimed pushes only makes the ring look less full: the producer yields, not sleeps.
      const std::size_t tail = tail_.load(std::memory_order_relaxed);
      // Full with every pop claimed so far finished... or closed: nothing to wait for
      // in the closed case, attempt() reports it.
      return !(tail & kClosed) && (tail & ~kClosed) - head >= capacity_;
    };
    const auto consumers_can_proceed = [&] {
      // Claimed pushes not yet popped. seq_cst: reading a dead producer's claim puts
      // it before our notify()'s seq_cst load of not_empty_ in the seq_cst order, after
      // the re-check of the consumer that missed the claim and so after its
      // registration: notify() sees that sleeper. relaxed: head_ only grows, so a stale
      // head_ can only make us wake the consumers once too often.
      const std::size_t tail = tail_.load(std::memory_order_seq_cst);
      return (tail & ~kClosed) != head_.load(std::memory_order_relaxed);
    };
    return block(not_full_, attempt, nothing_pending, not_empty_, consumers_can_proceed, deadline, stop);
  }

  // Waits for a value until `attempt` (one claim_pop or claim_pop_n) is not busy.
  template <class Attempt>
  Status pop_blocking(Attempt&& attempt, Deadline deadline, std::stop_token stop) noexcept {
    const auto nothing_pending = [&] {
      // seq_cst: the re-check half of the handshake with claim_push's tail_ CAS.
      const std::size_t tail = tail_.load(std::memory_order_seq_cst);
      return !(tail & kClosed) && (tail & ~kClosed) == head_.load(std::memory_order_relaxed);
    };
    const auto producers_can_proceed = [&] {
      // Free positions for a push. seq_cst: as consumers_can_proceed in push_blocking,
      // for a dead consumer's claim on head_. relaxed: tail_ only grows and is never
      // below the head_ read here (the push of a slot happens before the claim of its
      // pop, which our head_ load reads or follows), so a stale tail_ can only make us
      // wake the producers once too often.
      const std::size_t head = head_.load(std::memory_order_seq_cst);
      return (tail_.load(std::memory_order_relaxed) & ~kClosed) - head < capacity_;
    };
    return block(not_empty_, attempt, nothing_pending, not_full_, producers_can_proceed, deadline, stop);
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
  // How blocking calls poll before they park (set by the constructor only).
  WaitOptions wait_options_{};

  // Producers' line: claimed pushes (top bit: closed), and the word consumers park on
  // (read by every push, written only when a consumer parks or is woken).
  alignas(detail::kCounterAlign) std::atomic<std::size_t> tail_{0};
  std::atomic<std::uint32_t> not_empty_{0};

  // Consumers' line: claimed pops, the word producers park on, and a copy of tail_'s
  // closed bit (1 once close() has begun; never cleared) that empty pops read instead
  // of tail_.
  alignas(detail::kCounterAlign) std::atomic<std::size_t> head_{0};
  std::atomic<std::uint32_t> not_full_{0};
  std::atomic<std::uint32_t> closed_for_consumers_{0};

  // Keeps whatever follows the ring in memory off the consumers' line.
  alignas(detail::kCounterAlign) char end_padding_ = 0;
};

/// The bounded multi-producer multi-consumer queue, on the wait backend this library was
/// built with (fev::DefaultWait). Every member is BasicRing's; the contract follows.
///
/// \code
/// #include <fev/ring.hpp>
///
/// fev::Ring<std::unique_ptr<Job>> jobs(64);         // any capacity >= 1
/// std::jthread worker([&] {
///   while (std::optional<std::unique_ptr<Job>> job = jobs.pop())  // nullopt once closed and drained
///     (*job)->run();
/// });
/// for (int i = 0; i < 100; ++i)
///   if (!jobs.push(std::make_unique<Job>(i))) break;  // false only when closed
/// jobs.close();                                     // the worker takes what is left, then ends
/// \endcode
///
/// A consumer with a deadline, and one that must know why it got nothing:
/// \code
/// if (auto job = jobs.pop_for(std::chrono::milliseconds(5))) (*job)->run();  // nullopt: timeout or closed
///
/// std::unique_ptr<Job> job;
/// switch (jobs.pop_for(job, std::chrono::milliseconds(5))) {
///   case fev::Status::ok: job->run(); break;
///   case fev::Status::timeout: break;                 // nothing yet
///   default: return;                                  // closed and drained
/// }
/// \endcode
///
/// \copydetails fev::BasicRing
template <class T>
class Ring : public BasicRing<T, DefaultWait, RingHooks> {
 public:
  using BasicRing<T, DefaultWait, RingHooks>::BasicRing;
};

}  // namespace fev
