// SPDX-License-Identifier: MIT
/// \file
/// Wait until any one of several operations can proceed, then perform exactly one of
/// them: pop from one of several rings, push to one of several rings, or see an event
/// set. Go's `select`, crossbeam's `Select`, for fev::Ring and fev::Event.
///
/// ```
///   Selected select(case...)                          blocks until one case fires
///   Selected select(std::stop_token, case...)         ... or a stop is requested
///   Selected select_for(timeout, case...)             ... or the timeout passes
///   Selected select_until(time_point, case...)        ... or the time point passes
///   Selected select_until(time_point, stop, case...)
///   Selected try_select(case...)                      looks once, never blocks
///
///   on_pop(ring, out)      pops one value of `ring` into `out` (move-assigned)
///   on_push(ring, value)   pushes `value` into `ring` (moved from only if this case fires)
///   on_set(event)          the event counts as set (as for Event::wait: not consumed)
/// ```
///
/// ```
///   fev::Ring<Command> control(16);
///   fev::Ring<Job> jobs(1024);
///   fev::Event stop;
///   Command command;
///   Job job;
///   for (;;) {
///     const fev::Selected s = fev::select(fev::on_pop(control, command), fev::on_pop(jobs, job),
///                                         fev::on_set(stop));
///     if (s.index == 2 || s.status != fev::Status::ok) break;  // stop, or a ring closed
///     if (s.index == 0) apply(command); else run(job);
///   }
/// ```
///
/// The result, fev::Selected: `index` is the case that fired (0 for the first argument
/// after the token or deadline), `status` says how:
///  - Status::ok: that case's operation was performed: the value was popped into its
///    `out`, or its `value` was pushed, or its event counted as set. Exactly one case
///    fires per call; no other case's ring or value is touched.
///  - Status::closed: that case's ring is closed (a pop case: closed and every value
///    popped; a push case: closed). Nothing was performed. A closed ring stays ready,
///    as a closed Go channel does: a later select with it answers closed again.
///  - Status::timeout (select_for, select_until, try_select) and Status::cancelled
///    (a stop was requested): no case fired; `index` is Selected::none.
///
/// Fairness: when several cases are ready, the one tried first rotates with each call of
/// the calling thread (the first call starts at case 0, the next at case 1, ...), so no
/// ready case waits more than (number of cases - 1) calls of that thread for its turn,
/// whatever the load on the others. For a priority (serve `control` first whenever it
/// has a value) try it first: `if (control.try_pop(c)) ...; else select(...)`.
///
/// How it waits: the cases are tried; then it polls within fev::spin_limit(), as a ring's
/// pop does; then it registers as a sleeper on every ring's parking word (the ring's own
/// protocol, fev/ring.hpp steps 5 and 6, one registration per case), announces "parked"
/// on every event's word (as Event::wait does), and sleeps once:
///  - Linux 5.16+, on the futex backends: one futex_waitv(2) on all the words, and on a
///    word of its own that a stop request changes. A push to any of the rings, a pop from
///    any (for push cases), a set() of any event, a close(), a stop, or the deadline
///    wakes it.
///  - elsewhere (other backends, older kernels, a seccomp filter that refuses
///    futex_waitv): it parks on one word at a time in rotation with a timed wait of
///    50 us doubling up to 1 ms, as fev::wait_any does: a case on a word it is not
///    parked on, and a stop request, are seen within the current slice (at most about
///    1 ms late).
/// A ring whose wake went to this select passes it on when the select leaves having
/// taken from another case (the ring's relay): no value is left beside a parked consumer.
/// Plain push() and pop() pay nothing for select: it is one more registered sleeper.
///
/// Requirements: every ring and event of one call uses the same wait backend and lives
/// in this process (no SharedRing or SharedEvent); a call takes 1 to 127 cases; a
/// push case's T must be nothrow move constructible (as for Ring::push), a pop case's T
/// nothrow move assignable. The rings and events must outlive the call.
///
/// Memory ordering: a fired pop case is a pop (everything the pushing thread did before
/// its push happens-before the code after the select); a fired push case is a push; a
/// fired event case is Event::wait returning true.
#pragma once

#include "fev/cxx20.hpp"  // first: below C++20, one clear error instead of many

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <stop_token>
#include <tuple>
#include <type_traits>
#include <utility>

#include "fev/deadline.hpp"
#include "fev/event.hpp"
#include "fev/event_access.hpp"
#include "fev/ring.hpp"
#include "fev/ring_access.hpp"
#include "fev/spin.hpp"
#include "fev/wait.hpp"
#include "fev/wait_many.hpp"

namespace fev {

/// Which case of a select fired, and how (see fev/select.hpp).
struct Selected {
  /// `index` when no case fired (timeout, cancelled).
  static constexpr std::size_t none = static_cast<std::size_t>(-1);
  /// The case, counted from 0 in the order given; none for timeout and cancelled.
  std::size_t index = none;
  /// ok: the case was performed; closed: the case's ring is closed (nothing performed);
  /// timeout or cancelled: no case fired.
  Status status = Status::timeout;

  friend bool operator==(const Selected&, const Selected&) = default;
};

/// The most cases one select takes (one futex_waitv word is the select's own).
inline constexpr std::size_t kMaxSelectCases = kMaxWaitMany - 1;

namespace detail {

// What a case needs while the select waits, the same for every kind of case.
struct SelectWaitState {
  std::atomic<std::uint32_t>* word = nullptr;  // the ring's parking word, or the event's word
  std::uint32_t seen = 0;                      // the last value read (or written)
  std::uint32_t entry = 0;                     // events: the word on entry (its generation)
  bool ring = false;                           // a ring's parking word (else an event's word)
  bool registered = false;                     // rings: counted in the word's sleepers
  bool took_wake = false;                      // rings: took an issued wake over (relay it)
};

// A pop case: one claim_pop, the consumers' word, pop_blocking's re-check.
template <class T, class W, class H>
struct PopCase {
  using Wait = W;
  static constexpr bool kRing = true;
  static constexpr RingSide kSide = RingSide::consumers;
  BasicRing<T, W, H>* ring;
  T* out;

  std::atomic<std::uint32_t>& word() const noexcept { return RingAccess::consumers_word(*ring); }
  RingClaim attempt(SelectWaitState&) const noexcept {
    return RingAccess::claim_pop(*ring, [out = out](T& value) noexcept { *out = std::move(value); });
  }
  bool must_wait() const noexcept { return RingAccess::consumers_must_wait(*ring); }
  void relay() const noexcept { RingAccess::notify(*ring, word()); }
};

// A push case: one claim_push of *value, the producers' word, push_blocking's re-check.
template <class T, class W, class H>
struct PushCase {
  using Wait = W;
  static constexpr bool kRing = true;
  static constexpr RingSide kSide = RingSide::producers;
  BasicRing<T, W, H>* ring;
  T* value;

  std::atomic<std::uint32_t>& word() const noexcept { return RingAccess::producers_word(*ring); }
  RingClaim attempt(SelectWaitState&) const noexcept {
    return RingAccess::claim_push(*ring, [value = value](void* slot) noexcept { ::new (slot) T(std::move(*value)); });
  }
  bool must_wait() const noexcept { return RingAccess::producers_must_wait(*ring); }
  void relay() const noexcept { RingAccess::notify(*ring, word()); }
};

// An event case: released when its word says a set() came after the select's first read.
template <class W>
struct SetCase {
  using Wait = W;
  static constexpr bool kRing = false;
  static constexpr RingSide kSide = RingSide::none;
  BasicEvent<W>* event;

  std::atomic<std::uint32_t>& word() const noexcept { return EventAccess::word(*event); }
  RingClaim attempt(SelectWaitState& state) const noexcept {
    // acquire: pairs with set()'s release (directly, or through clear()'s RMW).
    state.seen = state.word->load(std::memory_order_acquire);
    return EventAccess::released(state.entry, state.seen) ? RingClaim::done : RingClaim::busy;
  }
};

template <class C>
struct IsSelectCase : std::false_type {};
template <class T, class W, class H>
struct IsSelectCase<PopCase<T, W, H>> : std::true_type {};
template <class T, class W, class H>
struct IsSelectCase<PushCase<T, W, H>> : std::true_type {};
template <class W>
struct IsSelectCase<SetCase<W>> : std::true_type {};
template <class C>
concept SelectCase = IsSelectCase<std::remove_cvref_t<C>>::value;

// src/select.cpp. One futex_waitv(2) on `count` words (the cases' and the select's own
// stop word): returns when one of them no longer holds its `expected` value, on a wake
// of any of them, or at `deadline`. False when this process cannot (no futex_waitv:
// another backend, an older kernel, a seccomp filter): the caller parks on one word at
// a time instead.
bool select_sleep(std::atomic<std::uint32_t>* const* words, const std::uint32_t* expected, std::size_t count,
                  ManyKind kind, Deadline deadline) noexcept;

// The case the calling thread's next select tries first: rotates per call.
inline std::size_t select_rotation(std::size_t cases) noexcept {
  thread_local std::size_t calls = 0;
  return calls++ % cases;
}

// One select's cases and their wait states, and the steps of the ring and event
// protocols over all of them: what the thread form below and the coroutine form
// (fev/loop_select.hpp) share.
template <class... Cases>
class SelectSet {
 public:
  static constexpr std::size_t kCount = sizeof...(Cases);
  using Wait = typename std::tuple_element_t<0, std::tuple<Cases...>>::Wait;
  static_assert(kCount >= 1 && kCount <= kMaxSelectCases, "fev::select takes 1 to 127 cases");
  static_assert((std::is_same_v<typename Cases::Wait, Wait> && ...),
                "all rings and events of one select must use the same wait backend");
  static_assert(!process_shared<Wait>, "fev::select works on in-process rings and events only");

  explicit SelectSet(const Cases&... cases) noexcept : cases_(cases...), first_(select_rotation(kCount)) {
    for_each([&]<std::size_t I>(const auto& one) {
      SelectWaitState& state = states_[I];
      state.word = &one.word();
      state.ring = std::remove_cvref_t<decltype(one)>::kRing;
      // relaxed: the value a set() must move past (rings: none); the event case's
      // attempt() re-reads the word with acquire before it reports a set().
      if constexpr (!std::remove_cvref_t<decltype(one)>::kRing)
        state.entry = state.seen = state.word->load(std::memory_order_relaxed);
    });
  }

  static constexpr RingSide side() noexcept {
    if constexpr (((Cases::kSide == RingSide::consumers) && ...)) {
      return RingSide::consumers;
    } else if constexpr (((Cases::kSide == RingSide::producers) && ...)) {
      return RingSide::producers;
    } else {
      return RingSide::none;
    }
  }

  // Every case once, starting with this call's first_.
  Selected try_each() noexcept {
    for (std::size_t k = 0; k < kCount; ++k) {
      const std::size_t i = (first_ + k) % kCount;
      const RingClaim claim = attempt(i);
      if (claim == RingClaim::done) return {i, Status::ok};
      if (claim == RingClaim::closed) return {i, Status::closed};
    }
    return {};
  }

  // Adds this select to every ring word's sleepers (ring protocol step 5). False when a
  // word has every sleeper place taken (the select then polls).
  bool register_all() noexcept {
    bool all = true;
    for_each([&]<std::size_t I>(const auto& one) {
      if constexpr (std::remove_cvref_t<decltype(one)>::kRing) {
        SelectWaitState& state = states_[I];
        std::uint32_t seen = state.word->load(std::memory_order_relaxed);  // a starting value for the CAS
        for (;;) {
          if ((seen & RingAccess::kSleepersMask) == RingAccess::kSleepersMask) {
            all = false;
            break;
          }
          // seq_cst: the registration half of the ring's handshake, as block()'s.
          // relaxed on failure: we retry from the new value.
          if (state.word->compare_exchange_weak(seen, seen + RingAccess::kSleeperOne, std::memory_order_seq_cst,
                                                std::memory_order_relaxed)) {
            state.seen = seen + RingAccess::kSleeperOne;
            state.registered = true;
            break;
          }
        }
      }
    });
    return all;
  }

  // Ring protocol step 6 on every registered word: a wake issued on it is ours now; we
  // re-check every case next and pass it on when we leave.
  void take_over_wakes() noexcept {
    for (SelectWaitState& state : states_) {
      if (!state.registered) continue;
      while (state.seen & RingAccess::kWaking) {
        // seq_cst: as block()'s take-over, ordered before the re-check's seq_cst loads.
        // relaxed on failure: we retry from the new value.
        if (state.word->compare_exchange_weak(state.seen, state.seen & ~RingAccess::kWaking,
                                              std::memory_order_seq_cst, std::memory_order_relaxed)) {
          state.seen &= ~RingAccess::kWaking;
          state.took_wake = true;
        }
      }
    }
  }

  // True when sleeping is safe for every ring case (pop_blocking's and push_blocking's
  // re-check: nothing claimed by the other side that we could still take, ring open).
  bool rings_must_wait() noexcept {
    bool all = true;
    for_each([&]<std::size_t I>(const auto& one) {
      if constexpr (std::remove_cvref_t<decltype(one)>::kRing) {
        if (all && states_[I].registered) all = one.must_wait();
      }
    });
    return all;
  }

  // Event::wait's announce on every event word: the index of one that released us
  // meanwhile, or none with every seen value the one to sleep on.
  std::size_t announce_events() noexcept {
    std::size_t released = Selected::none;
    for_each([&]<std::size_t I>(const auto& one) {
      if constexpr (!std::remove_cvref_t<decltype(one)>::kRing) {
        SelectWaitState& state = states_[I];
        if (released == Selected::none && !EventAccess::announce_parked(*state.word, state.entry, state.seen))
          released = I;
      }
    });
    return released;
  }

  void reload() noexcept {
    for_each([&]<std::size_t I>(const auto& one) {
      SelectWaitState& state = states_[I];
      if constexpr (std::remove_cvref_t<decltype(one)>::kRing) {
        // The value to take over or sleep on. acquire: pairs with close()'s release
        // bump, as BasicRing::block()'s re-read.
        state.seen = state.word->load(std::memory_order_acquire);
      } else {
        state.seen = state.word->load(std::memory_order_relaxed);  // attempt() re-reads with acquire
      }
    });
  }

  // Leaves every ring word (ring protocol step 6): one sleeper fewer, and the relay of
  // a wake we took over while the ring still has something for its other sleepers,
  // also for rings other than the one whose case fired.
  void leave() noexcept {
    for_each([&]<std::size_t I>(const auto& one) {
      if constexpr (std::remove_cvref_t<decltype(one)>::kRing) {
        SelectWaitState& state = states_[I];
        if (!state.registered) return;
        // relaxed, as block()'s leave: a claimer that still counts us makes one wake
        // that finds nobody; the wake we took over is passed on from our re-check.
        state.word->fetch_sub(RingAccess::kSleeperOne, std::memory_order_relaxed);
        state.registered = false;
        if (state.took_wake && !one.must_wait()) one.relay();
      }
    });
  }

  SelectWaitState& state(std::size_t i) noexcept { return states_[i]; }
  // The first value to sleep on for each word: what take_over_wakes(), announce_events()
  // and reload() left.
  void expected_values(std::uint32_t* expected) const noexcept {
    for (std::size_t i = 0; i < kCount; ++i) expected[i] = states_[i].seen;
  }

 private:
  template <class F>
  void for_each(F&& f) {
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      (f.template operator()<I>(std::get<I>(cases_)), ...);
    }(std::make_index_sequence<kCount>{});
  }

  // One attempt of case `i`.
  RingClaim attempt(std::size_t i) noexcept {
    RingClaim claim = RingClaim::busy;
    for_each([&]<std::size_t I>(const auto& one) {
      if (I == i) claim = one.attempt(states_[I]);
    });
    return claim;
  }

  std::tuple<Cases...> cases_;
  std::array<SelectWaitState, kCount> states_{};
  const std::size_t first_;  // the case tried first in every round of this call
};

inline bool select_passed(Deadline deadline) noexcept {
  return deadline != Deadline::max() && std::chrono::steady_clock::now() >= deadline;
}

// The fallback's timed slices, as wait_any's: short at first, then longer.
inline constexpr std::chrono::nanoseconds kSelectFirstSlice = std::chrono::microseconds(50);
inline constexpr std::chrono::nanoseconds kSelectLongestSlice = std::chrono::milliseconds(1);

// The thread form: registered on every ring word, as BasicRing::block() for each word at
// once: take over an issued wake, try every case, re-check, sleep on all words in one go.
template <class... Cases>
Selected select_parked(SelectSet<Cases...>& set, Deadline deadline, const std::stop_token& stop) noexcept {
  using Wait = typename SelectSet<Cases...>::Wait;
  constexpr std::size_t kCount = SelectSet<Cases...>::kCount;
  // The select's own word: a stop request changes it and wakes it.
  std::atomic<std::uint32_t> stopped{0};
  struct WakeOnStop {
    std::atomic<std::uint32_t>* word;
    void operator()() const noexcept {
      // relaxed: the futex compares values; the stop itself is read through
      // stop_requested(), which synchronizes with request_stop().
      word->store(1, std::memory_order_relaxed);
      Wait::wake_all(*word);
    }
  };
  const std::stop_callback wake_on_stop(stop, WakeOnStop{&stopped});
  const bool polling = !set.register_all();  // a word with every sleeper place taken: poll
  bool one_sleep = many_kind<Wait>() != ManyKind::other && futex_waitv_live();
  std::size_t rotation = 0;
  std::chrono::nanoseconds slice = kSelectFirstSlice;
  for (;;) {
    set.take_over_wakes();
    if (const Selected fired = set.try_each(); fired.index != Selected::none) return fired;
    if (select_passed(deadline)) return {};
    if (stop.stop_requested()) return {Selected::none, Status::cancelled};
    if (polling || !set.rings_must_wait()) {
      // The other side of a ring claimed but has not published yet (or the select could
      // not register everywhere): let it run instead of sleeping.
      yield_cpu();
    } else if (const std::size_t released = set.announce_events(); released != Selected::none) {
      return {released, Status::ok};
    } else if (one_sleep) {
      std::atomic<std::uint32_t>* words[kCount + 1];
      std::uint32_t expected[kCount + 1];
      for (std::size_t i = 0; i < kCount; ++i) words[i] = set.state(i).word;
      set.expected_values(expected);
      words[kCount] = &stopped;
      expected[kCount] = 0;
      one_sleep = select_sleep(words, expected, kCount + 1, many_kind<Wait>(), deadline);
    } else {
      // One word at a time, for at most the current slice (see fev/select.hpp).
      SelectWaitState& state = set.state(rotation++ % kCount);
      const Deadline now = std::chrono::steady_clock::now();
      const Deadline slice_end = deadline - now > slice ? now + slice : deadline;
      (void)Wait::wait(*state.word, state.seen, slice_end);
      slice = std::min<std::chrono::nanoseconds>(slice * 2, kSelectLongestSlice);
    }
    set.reload();
  }
}

template <class... Cases>
Selected run_select(Deadline deadline, const std::stop_token& stop, const Cases&... cases) noexcept {
  SelectSet<Cases...> set(cases...);
  if (const Selected fired = set.try_each(); fired.index != Selected::none) return fired;
  if (deadline == Deadline::min()) return {};
  if (stop.stop_requested()) return {Selected::none, Status::cancelled};
  Selected fired;
  if (spin_until([&]() noexcept { return (fired = set.try_each()).index != Selected::none; }, deadline,
                 SelectSet<Cases...>::side()))
    return fired;
  if (stop.stop_requested()) return {Selected::none, Status::cancelled};
  fired = select_parked(set, deadline, stop);
  set.leave();
  return fired;
}

}  // namespace detail

/// A select case: pop one value of `ring` into `out` (move-assigned when it fires).
template <class T, class W, class H>
detail::PopCase<T, W, H> on_pop(BasicRing<T, W, H>& ring, T& out) noexcept {
  static_assert(std::is_nothrow_move_assignable_v<T>, "fev::on_pop move-assigns the value into `out`");
  return {&ring, &out};
}

/// A select case: push `value` into `ring` (moved from only when this case fires).
template <class T, class W, class H>
detail::PushCase<T, W, H> on_push(BasicRing<T, W, H>& ring, T& value) noexcept {
  return {&ring, &value};
}

/// A select case: `event` counts as set (is set, or a set() happens during the call; it
/// is not consumed, as for Event::wait).
template <class W>
detail::SetCase<W> on_set(BasicEvent<W>& event) noexcept {
  return {&event};
}

/// Blocks until one case fires and performs it (see fev/select.hpp).
template <detail::SelectCase... Cases>
  requires(sizeof...(Cases) >= 1)
[[nodiscard]] Selected select(const Cases&... cases) noexcept {
  return detail::run_select(Deadline::max(), {}, cases...);
}

/// As select(), or Status::cancelled once a stop is requested on `stop`.
template <detail::SelectCase... Cases>
  requires(sizeof...(Cases) >= 1)
[[nodiscard]] Selected select(std::stop_token stop, const Cases&... cases) noexcept {
  return detail::run_select(Deadline::max(), stop, cases...);
}

/// As select(), or Status::timeout once `timeout` has passed (a timeout of zero or below
/// looks once, as try_select()).
template <class Rep, class Period, detail::SelectCase... Cases>
  requires(sizeof...(Cases) >= 1)
[[nodiscard]] Selected select_for(const std::chrono::duration<Rep, Period>& timeout, const Cases&... cases) noexcept {
  return detail::run_select(detail::many_deadline(timeout), {}, cases...);
}

/// As select_for(), until a time point of steady_clock or system_clock.
template <class Clock, class Duration, detail::SelectCase... Cases>
  requires(sizeof...(Cases) >= 1)
[[nodiscard]] Selected select_until(const std::chrono::time_point<Clock, Duration>& when,
                                    const Cases&... cases) noexcept {
  return detail::run_select(detail::to_deadline(when), {}, cases...);
}

/// As select_until(), and Status::cancelled once a stop is requested on `stop`.
template <class Clock, class Duration, detail::SelectCase... Cases>
  requires(sizeof...(Cases) >= 1)
[[nodiscard]] Selected select_until(const std::chrono::time_point<Clock, Duration>& when, std::stop_token stop,
                                    const Cases&... cases) noexcept {
  return detail::run_select(detail::to_deadline(when), stop, cases...);
}

/// Tries every case once (in this thread's rotating order) and performs the first that
/// can proceed; Status::timeout, index none, when none can. Never blocks.
template <detail::SelectCase... Cases>
  requires(sizeof...(Cases) >= 1)
[[nodiscard]] Selected try_select(const Cases&... cases) noexcept {
  return detail::run_select(Deadline::min(), {}, cases...);
}

}  // namespace fev
