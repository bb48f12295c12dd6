// SPDX-License-Identifier: MIT
// tools/stress: drives fev::Rings hard, from plain and from selecting consumers, and
// checks what comes out (see --help).
#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <new>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "fev/event.hpp"
#include "fev/ring.hpp"
#include "fev/ring_access.hpp"
#include "fev/select.hpp"
#include "fev/wait_many.hpp"
#include "ledger.hpp"
#include "liveness.hpp"
#include "options.hpp"

namespace stress {
namespace {

using Item = std::uint64_t;

// ---- Ring hooks: chaos between atomic steps, and the deliberately broken ring. ----
void chaos_step() noexcept {
  thread_local std::uint64_t state = 0x9E3779B97F4A7C15ull ^ reinterpret_cast<std::uintptr_t>(&state);
  state ^= state << 13;
  state ^= state >> 7;
  state ^= state << 17;
  if (state % 512 == 0) {
    std::this_thread::sleep_for(std::chrono::microseconds(1 + state % 50));
  } else if (state % 16 == 0) {
    std::this_thread::yield();
  }
}

struct ChaosHooks : fev::RingHooks {
  static void step() noexcept { chaos_step(); }
};
struct BrokenHooks : fev::RingHooks {
  static constexpr bool wake_consumers() noexcept { return false; }  // the bug the harness must catch
};
struct BrokenChaosHooks : ChaosHooks {
  static constexpr bool wake_consumers() noexcept { return false; }
};

// ---- The deaf consumer: consumer 0's parking wait ignores wakes. ----
// With --deaf-consumer, consumer 0 parks on a wait that returns only when the run ends,
// as a consumer whose every wake was lost would; the other consumers carry the items,
// so the totals keep moving and only the per-thread watchdog can notice. When the run
// ends (the ring is closed) the wait returns, and the run would pass without that
// watchdog. It parks on a word of its own (asleep in the kernel, as a real lost wake
// leaves a thread), which only release_the_deaf_consumer() changes.
thread_local bool this_thread_is_deaf = false;
std::atomic<bool> deaf_consumer_parked{false};  // set once consumer 0 has parked
std::atomic<std::uint32_t> deaf_wait_released{0};  // 1 when the run ends

struct DeafConsumerWait : fev::DefaultWait {
  static fev::WaitResult wait(const std::atomic<std::uint32_t>& word, std::uint32_t expected,
                              fev::Deadline deadline) noexcept {
    // relaxed (both flags): a self-test's plain signals; the ring re-reads its own
    // state after every return from a wait, so they order nothing it relies on.
    if (!this_thread_is_deaf || deaf_wait_released.load(std::memory_order_relaxed) != 0)
      return fev::DefaultWait::wait(word, expected, deadline);
    // relaxed: like a futex, return at once when the word has already moved on.
    if (word.load(std::memory_order_relaxed) != expected) return fev::WaitResult::woken;
    deaf_consumer_parked.store(true, std::memory_order_relaxed);
    while (deaf_wait_released.load(std::memory_order_relaxed) == 0) {  // relaxed: as above
      if (fev::DefaultWait::wait(deaf_wait_released, 0, deadline) == fev::WaitResult::timeout &&
          deaf_wait_released.load(std::memory_order_relaxed) == 0)
        return fev::WaitResult::timeout;
    }
    return fev::WaitResult::woken;
  }
};

void release_the_deaf_consumer() noexcept {
  // relaxed: see DeafConsumerWait; the wake ends its park.
  if (deaf_wait_released.exchange(1, std::memory_order_relaxed) == 0) fev::DefaultWait::wake_all(deaf_wait_released);
}

enum class Outcome { ok, closed, gave_up };

// The most rings a run drives. A selecting consumer's select takes 2 or 4 ring cases
// (idle rings fill in for rings a run does not have), and one for the event: two
// shapes, so that the select code is compiled twice per kind of ring, not per count.
constexpr int kMaxSelectRings = 4;
static_assert(kMaxSelectRings <= kMaxRings, "a thread's operation names its rings in a mask of kMaxRings bits");

template <class Wait, class Hooks>
class Run {
 public:
  using Ring = fev::BasicRing<Item, Wait, Hooks>;
  using Event = fev::BasicEvent<Wait>;
  // Only the default backend's runs select (--deaf-consumer takes no --selecting): the
  // other instantiations are spared the select code.
  static constexpr bool kSelects = std::is_same_v<Wait, fev::DefaultWait>;

  explicit Run(const Options& options)
      : options_(options),
        ledger_(options.producers, options.max_items),
        pushed_(static_cast<std::size_t>(options.producers)),
        liveness_(static_cast<std::size_t>(options.producers + options.consumers)) {
    for (int r = 0; r < options.rings; ++r) rings_.push_back(std::make_unique<Ring>(options.capacity));
    if (options.selecting != 0) {
      for (std::size_t r = 0; r < ring_cases(); ++r) idle_rings_.push_back(std::make_unique<Ring>(1));
    }
  }

  // Returns an empty string on success, else what went wrong.
  std::string execute() {
    const auto start = Clock::now();
    for (int p = 0; p < options_.producers; ++p) threads_.emplace_back([this, p] { produce(p); });
    for (int c = 0; c < options_.consumers; ++c) {
      if constexpr (kSelects) {
        if (c < options_.selecting) {
          threads_.emplace_back([this, c] { consume_selecting(c); });
          continue;
        }
      }
      threads_.emplace_back([this, c] { consume(c); });
    }
    if (options_.close_early) threads_.emplace_back([this] { close_early(); });

    // On a stall the threads are stuck: they stay unjoined, and the caller ends the
    // process with std::_Exit before this object is destroyed.
    const std::string stall = watch(start);
    if (!stall.empty()) return stall;

    for (auto& thread : threads_) thread.join();
    elapsed_ = Clock::now() - start;
    return verify();
  }

  std::uint64_t total_pushed() const {
    std::uint64_t total = 0;
    for (const auto& count : pushed_) total += count.load(std::memory_order_relaxed);
    return total;
  }
  std::uint64_t total_popped() const { return popped_.load(std::memory_order_relaxed); }
  // Items the selecting consumers popped, and the select calls they made (after join).
  std::uint64_t selected_pops() const { return selected_pops_.load(std::memory_order_relaxed); }
  std::uint64_t select_calls() const {
    std::uint64_t total = 0;
    for (int c = 0; c < options_.selecting; ++c)
      total += liveness_[static_cast<std::size_t>(options_.producers + c)].calls();
    return total;
  }
  // Ring calls by the producers (first) or the consumers.
  std::uint64_t total_calls(Role role) const {
    std::uint64_t total = 0;
    const std::size_t producers = static_cast<std::size_t>(options_.producers);
    for (std::size_t i = 0; i < liveness_.size(); ++i) {
      if ((i < producers) == (role == Role::producer)) total += liveness_[i].calls();
    }
    return total;
  }
  std::uint64_t total_calls() const { return total_calls(Role::producer) + total_calls(Role::consumer); }
  // True when a --min-ops run stopped at --max-seconds before making that many calls.
  bool stopped_short() const { return stopped_short_; }
  double seconds() const { return std::chrono::duration<double>(elapsed_).count(); }

 private:
  std::mt19937_64 rng_for(int role, int index) const {
    return std::mt19937_64(options_.seed * 1000003u + static_cast<std::uint64_t>(role * 4096 + index));
  }

  Mode pick(std::mt19937_64& rng) const {
    if (options_.mode != Mode::mixed) return options_.mode;
    return static_cast<Mode>(rng() % 3);  // try, blocking, timed
  }

  static CallKind kind_of(Mode mode) {
    return mode == Mode::try_ops ? CallKind::try_loop : mode == Mode::timed ? CallKind::timed_loop : CallKind::blocking;
  }

  Outcome push_one(int ring, Item item, std::mt19937_64& rng, ThreadLiveness& me) {
    const Mode mode = pick(rng);
    me.enter(kind_of(mode), 1u << ring);
    const Outcome outcome = push_in_mode(*rings_[static_cast<std::size_t>(ring)], mode, item, rng, me);
    me.leave();
    return outcome;
  }

  Outcome push_in_mode(Ring& ring, Mode mode, Item item, std::mt19937_64& rng, ThreadLiveness& me) {
    switch (mode) {
      case Mode::try_ops:
        for (;;) {
          me.count_call();
          if (ring.try_push(item)) break;
          if (ring.closed()) return Outcome::closed;
          if (stop_.load(std::memory_order_relaxed)) return Outcome::gave_up;
          std::this_thread::yield();
        }
        return Outcome::ok;
      case Mode::timed:
        for (;;) {
          const auto timeout = std::chrono::microseconds(rng() % 2000);
          me.count_call();
          switch (ring.push_for(item, timeout)) {
            case fev::Status::ok: return Outcome::ok;
            case fev::Status::closed: return Outcome::closed;
            case fev::Status::cancelled:  // only with a stop_token, which this call has not
            case fev::Status::timeout:
              if (stop_.load(std::memory_order_relaxed)) return Outcome::gave_up;
              break;
            default:  // any other status is a ring bug here (no cancellation is asked for)
              unexpected_statuses_.fetch_add(1, std::memory_order_relaxed);
              break;
          }
        }
      default:
        me.count_call();
        return ring.push(Item(item)) ? Outcome::ok : Outcome::closed;
    }
  }

  // Returns false when the ring is closed and drained.
  bool pop_one(int ring, Item& item, std::mt19937_64& rng, ThreadLiveness& me) {
    const Mode mode = pick(rng);
    me.enter(kind_of(mode), 1u << ring);
    const bool popped = pop_in_mode(*rings_[static_cast<std::size_t>(ring)], mode, item, rng, me);
    me.leave();
    return popped;
  }

  bool pop_in_mode(Ring& ring, Mode mode, Item& item, std::mt19937_64& rng, ThreadLiveness& me) {
    switch (mode) {
      case Mode::try_ops:
        for (;;) {
          me.count_call();
          if (ring.try_pop(item)) break;
          // A zero timeout tries once more and tells "closed and drained" from "empty".
          me.count_call();
          const fev::Status status = ring.pop_for(item, std::chrono::nanoseconds(0));
          if (status == fev::Status::ok) return true;
          if (status == fev::Status::closed) return false;
          std::this_thread::yield();
        }
        return true;
      case Mode::timed:
        for (;;) {
          me.count_call();
          switch (ring.pop_for(item, std::chrono::microseconds(rng() % 2000))) {
            case fev::Status::ok: return true;
            case fev::Status::closed: return false;
            case fev::Status::cancelled:  // only with a stop_token, which this call has not
            case fev::Status::timeout: break;
            default:  // any other status is a ring bug here (no cancellation is asked for)
              unexpected_statuses_.fetch_add(1, std::memory_order_relaxed);
              break;
          }
        }
      default:
        me.count_call();
        return ring.pop(item);
    }
  }

  // Each producer moves on to the next ring with each item, starting at its own; a
  // ring that answers closed is left for good (its items go to the rings still open).
  void produce(int producer) {
    auto rng = rng_for(1, producer);
    std::atomic<std::uint64_t>& pushed = pushed_[static_cast<std::size_t>(producer)];
    ThreadLiveness& me = liveness_[static_cast<std::size_t>(producer)];
    me.register_thread();
    if (options_.deaf_consumer) wait_for_the_deaf_consumer();
    const std::uint64_t limit = options_.max_items;
    std::uint32_t open = (1u << options_.rings) - 1;
    int ring = producer % options_.rings;
    for (std::uint64_t sequence = 0; sequence < limit && open != 0;) {
      if (options_.items == 0 && stop_.load(std::memory_order_relaxed)) break;
      while (((open >> ring) & 1u) == 0) ring = (ring + 1) % options_.rings;
      const Outcome outcome = push_one(ring, make_item(producer, sequence), rng, me);
      if (outcome == Outcome::gave_up) break;
      if (outcome == Outcome::closed) {
        open &= ~(1u << ring);
        continue;
      }
      ++sequence;
      pushed.store(sequence, std::memory_order_relaxed);  // read by the watchdog and verify
      ring = (ring + 1) % options_.rings;
    }
    // The last one out tells the selecting consumers, then closes every ring.
    if (producers_done_.fetch_add(1) + 1 == options_.producers) {
      producers_finished_.set();
      for (auto& each : rings_) each->close();
    }
  }

  // A plain consumer pops one ring (round robin over the consumers) until it is closed
  // and drained.
  void consume(int consumer) {
    auto rng = rng_for(2, consumer);
    OrderCheck order(options_.producers, options_.rings);
    ThreadLiveness& me = liveness_[static_cast<std::size_t>(options_.producers + consumer)];
    me.register_thread();
    this_thread_is_deaf = options_.deaf_consumer && consumer == 0;
    const int ring = consumer % options_.rings;
    Item item = 0;
    while (pop_one(ring, item, rng, me)) {
      took(item, ring, order);
      if (options_.pop_delay_us != 0) std::this_thread::sleep_for(std::chrono::microseconds(options_.pop_delay_us));
    }
    consumers_done_.fetch_add(1);
  }

  void took(Item item, int ring, OrderCheck& order) {
    ledger_.record_pop(item);
    if (!order.accept(item, ring)) fifo_violations_.fetch_add(1);
    popped_.fetch_add(1, std::memory_order_relaxed);
  }

  // The ring cases of a select: 2 or 4 (see kMaxSelectRings).
  std::size_t ring_cases() const { return rings_.size() <= 2 ? 2 : 4; }

  // A selecting consumer waits on every ring still open and on producers_finished_ in
  // one select per item, until every ring answered closed (closed and drained) and the
  // event's case fired once. The select keeps its shape: a ring that answered closed is
  // replaced by an idle ring that never holds an item, the event by one never set.
  void consume_selecting(int consumer) {
    auto rng = rng_for(2, consumer);
    OrderCheck order(options_.producers, options_.rings);
    ThreadLiveness& me = liveness_[static_cast<std::size_t>(options_.producers + consumer)];
    me.register_thread();
    std::array<Ring*, kMaxSelectRings> cases{};  // case i: ring i, or idle ring i (no ring i, or it closed)
    std::uint32_t open = 0;                      // bit i: case i is ring i
    for (std::size_t r = 0; r < ring_cases(); ++r) {
      cases[r] = r < rings_.size() ? rings_[r].get() : idle_rings_[r].get();
      if (r < rings_.size()) open |= 1u << r;
    }
    Event* event = &producers_finished_;  // the last case: idle_event_ once it fired
    Item item = 0;
    while (open != 0 || event != &idle_event_) {
      const Mode mode = pick(rng);
      me.enter(kind_of(mode), open);
      const fev::Selected fired = select_over(cases.data(), *event, item, mode, rng, me);
      me.leave();
      const std::size_t index = fired.index;
      const bool ring_case = index < ring_cases();
      // The counters below are relaxed: verify() reads them after every thread joined.
      if (ring_case && ((open >> index) & 1u) == 0) {
        idle_fired_.fetch_add(1, std::memory_order_relaxed);  // an idle ring has no item and is never closed
      } else if (ring_case && fired.status == fev::Status::ok) {
        took(item, static_cast<int>(index), order);
        selected_pops_.fetch_add(1, std::memory_order_relaxed);
        if (options_.pop_delay_us != 0) std::this_thread::sleep_for(std::chrono::microseconds(options_.pop_delay_us));
      } else if (ring_case && fired.status == fev::Status::closed) {
        if (!rings_[index]->closed()) closed_but_open_.fetch_add(1, std::memory_order_relaxed);
        cases[index] = idle_rings_[index].get();
        open &= ~(1u << index);
      } else if (index == ring_cases() && fired.status == fev::Status::ok) {
        if (event == &idle_event_) idle_fired_.fetch_add(1, std::memory_order_relaxed);
        else if (!producers_finished_.is_set()) event_fired_unset_.fetch_add(1, std::memory_order_relaxed);
        event = &idle_event_;
      } else {  // no case fired, or an event case with another status: a select bug here
        unexpected_statuses_.fetch_add(1, std::memory_order_relaxed);
      }
    }
    consumers_done_.fetch_add(1);
  }

  // One select over the ring cases (index i: cases[i]) and `event` (index ring_cases()).
  fev::Selected select_over(Ring* const* cases, Event& event, Item& item, Mode mode, std::mt19937_64& rng,
                            ThreadLiveness& me) {
    const auto pop = [&](int i) { return fev::on_pop(*cases[i], item); };
    if (ring_cases() == 2) return select_in_mode(mode, rng, me, pop(0), pop(1), fev::on_set(event));
    return select_in_mode(mode, rng, me, pop(0), pop(1), pop(2), pop(3), fev::on_set(event));
  }

  // One select in the way `mode` says: blocking select, a select_for retry loop, or a
  // try_select retry loop. Returns a fired case (or what no case should return).
  template <class... Cases>
  fev::Selected select_in_mode(Mode mode, std::mt19937_64& rng, ThreadLiveness& me, const Cases&... cases) {
    const auto call = [&](auto&& select) {
      me.count_call();
      return select();
    };
    switch (mode) {
      case Mode::try_ops:
        for (;;) {
          const fev::Selected fired = call([&] { return fev::try_select(cases...); });
          if (fired.index != fev::Selected::none || fired.status != fev::Status::timeout) return fired;
          std::this_thread::yield();
        }
      case Mode::timed:
        for (;;) {
          const auto timeout = std::chrono::microseconds(rng() % 2000);
          const fev::Selected fired = call([&] { return fev::select_for(timeout, cases...); });
          if (fired.index != fev::Selected::none || fired.status != fev::Status::timeout) return fired;
        }
      default:
        return call([&] { return fev::select(cases...); });
    }
  }

  // --deaf-consumer: producers start once consumer 0 has parked on the empty ring.
  void wait_for_the_deaf_consumer() {
    const auto give_up = Clock::now() + std::chrono::seconds(10);
    // relaxed: a start signal only; the ring orders the items.
    while (!deaf_consumer_parked.load(std::memory_order_relaxed)) {
      if (Clock::now() > give_up) {
        // Without a parked consumer 0 the self-test would test nothing: never count it as caught.
        std::printf("self-test FAILED: consumer 0 never parked on the empty ring in 10 s\n");
        std::fflush(stdout);
        std::_Exit(1);
      }
      std::this_thread::sleep_for(std::chrono::microseconds(100));
    }
  }

  // Closes the rings one at a time, in a random order, the last one at a random moment.
  void close_early() {
    auto rng = rng_for(3, 0);
    const double fraction = 0.1 + 0.6 * static_cast<double>(rng() % 1000) / 1000.0;
    const auto delay = options_.items != 0 ? std::chrono::duration<double>(0.05 * fraction)
                                           : std::chrono::duration<double>(options_.seconds * fraction);
    std::vector<Ring*> order;
    for (auto& ring : rings_) order.push_back(ring.get());
    std::shuffle(order.begin(), order.end(), rng);
    for (Ring* ring : order) {
      std::this_thread::sleep_for(delay / options_.rings);
      ring->close();
    }
  }

  // What the watchdog reports about the rings when it fails a run.
  std::string ring_state() const {
    char text[256];
    std::snprintf(text, sizeof text, "pushed %" PRIu64 ", popped %" PRIu64 "; ", total_pushed(), total_popped());
    std::string state = text;
    for (std::size_t r = 0; r < rings_.size(); ++r) {
      const auto snap = rings_[r]->snapshot();
      const std::string name = rings_.size() == 1 ? "ring" : "ring " + std::to_string(r);
      std::snprintf(text, sizeof text, "%s head %zu tail %zu closed %d not_empty 0x%x not_full 0x%x; ",
                    name.c_str(), snap.head, snap.tail, int(snap.closed), snap.not_empty, snap.not_full);
      state += text;
    }
    std::snprintf(text, sizeof text, "producers done %d/%d, consumers done %d/%d", producers_done_.load(),
                  options_.producers, consumers_done_.load(), options_.consumers);
    return state + text;
  }

  // Ends a --seconds run once both its time and its --min-ops are reached, or at
  // --max-seconds.
  void stop_when_due(Clock::duration elapsed) {
    if (options_.items != 0 || stop_.load(std::memory_order_relaxed)) return;
    const bool time_done = elapsed >= std::chrono::duration<double>(options_.seconds);
    const bool ops_done = total_calls() >= options_.min_ops;
    const bool hard_cap = elapsed >= std::chrono::duration<double>(options_.max_seconds);
    if (!((time_done && ops_done) || hard_cap)) return;
    stopped_short_ = !ops_done;
    stop_.store(true);
  }

  // Prints progress, stops --seconds runs, and fails the run when nothing moves or when
  // one thread stays blocked while there is work for it (StallDetector).
  std::string watch(Clock::time_point start) {
    const auto sample_every = std::chrono::milliseconds(5);
    const auto stall_limit = std::chrono::duration_cast<Clock::duration>(
        std::chrono::duration<double>(options_.stall_seconds));
    StallDetector detector(liveness_, options_.producers,
                           std::chrono::duration_cast<Clock::duration>(
                               std::chrono::duration<double>(options_.thread_stall_seconds)));
    auto last_progress_print = start;
    auto last_move = start;
    std::uint64_t last_total = ~std::uint64_t{0};
    std::vector<RingSample> samples(rings_.size());
    for (;;) {
      std::this_thread::sleep_for(sample_every);
      const auto now = Clock::now();
      stop_when_due(now - start);
      // The deaf consumer is rescued when the ring closes, as a parked consumer is by
      // close()'s wake. relaxed: a self-test's signal (see DeafConsumerWait).
      if (rings_.front()->closed()) release_the_deaf_consumer();
      if (consumers_done_.load() == options_.consumers && producers_done_.load() == options_.producers) return {};

      std::size_t in_rings = 0;
      for (std::size_t r = 0; r < rings_.size(); ++r) {
        const std::size_t in_ring = rings_[r]->size();
        in_rings += in_ring;
        const auto words = rings_[r]->snapshot();
        constexpr std::uint32_t kWaking = fev::detail::RingAccess::kWaking;
        samples[r] = RingSample{now, in_ring > 0, in_ring < options_.capacity && !rings_[r]->closed(),
                                (words.not_empty & kWaking) != 0, (words.not_full & kWaking) != 0};
      }
      if (const auto stalled = detector.observe(samples)) {
        const bool selecting = stalled->role == Role::consumer && stalled->index < options_.selecting;
        return std::string("stall: ") + (selecting ? "selecting " : "") + describe(*stalled) + " (" +
               ring_state() + ")";
      }

      const std::uint64_t total = total_pushed() + total_popped();
      if (total != last_total) {
        last_total = total;
        last_move = now;
      } else if (now - last_move >= stall_limit) {
        char text[128];
        std::snprintf(text, sizeof text, "stall: nothing moved for %.1f s with work pending (", options_.stall_seconds);
        return text + ring_state() + ")";
      }
      if (now - last_progress_print >= std::chrono::duration<double>(options_.progress_seconds)) {
        last_progress_print = now;
        std::printf("  %.1f s: pushed %" PRIu64 ", popped %" PRIu64 ", in %s %zu, ring calls %" PRIu64 "\n",
                    std::chrono::duration<double>(now - start).count(), total_pushed(), total_popped(),
                    rings_.size() == 1 ? "ring" : "rings", in_rings, total_calls());
        std::fflush(stdout);
      }
    }
  }

  std::string verify() {
    std::vector<std::uint64_t> pushed;
    for (const auto& count : pushed_) pushed.push_back(count.load());
    std::string problems = ledger_.verify(pushed);
    if (fifo_violations_.load()) problems += std::to_string(fifo_violations_.load()) + " FIFO violations; ";
    if (unexpected_statuses_.load())
      problems += std::to_string(unexpected_statuses_.load()) + " timed calls or selects returned what they must not; ";
    if (closed_but_open_.load())
      problems += std::to_string(closed_but_open_.load()) + " selects answered closed for an open ring; ";
    if (event_fired_unset_.load())
      problems += std::to_string(event_fired_unset_.load()) + " selects fired the case of an event not set; ";
    if (idle_fired_.load())
      problems += std::to_string(idle_fired_.load()) + " selects fired the case of an idle ring or event; ";
    for (std::size_t r = 0; r < rings_.size(); ++r) {
      Item leftover = 0;
      const std::string ring = rings_.size() == 1 ? "ring" : "ring " + std::to_string(r);
      if (!rings_[r]->closed()) problems += ring + " not closed at the end; ";
      if (rings_[r]->size() != 0 || rings_[r]->try_pop(leftover)) problems += "close() did not drain " + ring + "; ";
    }
    if (options_.items != 0 && !options_.close_early && total_pushed() != options_.items * options_.producers)
      problems += "producers pushed fewer items than asked; ";
    return problems;
  }

  const Options& options_;
  std::vector<std::unique_ptr<Ring>> rings_;
  Event producers_finished_;  // set by the last producer before it closes the rings
  // What a select waits on in place of a ring it is done with (one each, never pushed
  // to, never closed) and of producers_finished_ once its case fired (never set).
  std::vector<std::unique_ptr<Ring>> idle_rings_;
  Event idle_event_;
  Ledger ledger_;
  std::vector<std::atomic<std::uint64_t>> pushed_;
  std::atomic<std::uint64_t> popped_{0};
  std::atomic<std::uint64_t> selected_pops_{0};
  std::atomic<std::uint64_t> fifo_violations_{0};
  std::atomic<std::uint64_t> unexpected_statuses_{0};
  std::atomic<std::uint64_t> closed_but_open_{0};    // a select's closed answer for a ring not closed
  std::atomic<std::uint64_t> event_fired_unset_{0};  // a select's event case before set()
  std::atomic<std::uint64_t> idle_fired_{0};         // a select's case of an idle ring or event
  std::atomic<int> producers_done_{0};
  std::atomic<int> consumers_done_{0};
  std::atomic<bool> stop_{false};
  std::vector<ThreadLiveness> liveness_;  // producers first, then consumers
  bool stopped_short_ = false;            // watchdog thread only, read after join
  Clock::duration elapsed_{};
  std::vector<std::thread> threads_;
};

// Builds the run (the ring and the ledger); a capacity that does not fit in memory or
// that the ring refuses is an error in the arguments, reported like one.
template <class Wait, class Hooks>
std::unique_ptr<Run<Wait, Hooks>> make_run(const Options& options) {
  using Ring = typename Run<Wait, Hooks>::Ring;
  try {
    return std::make_unique<Run<Wait, Hooks>>(options);
  } catch (const std::bad_alloc&) {
    reject("not enough memory for a ring of capacity " + std::to_string(options.capacity) + " (" +
           std::to_string(Ring::storage_bytes(options.capacity)) + " bytes of slots" +
           (options.rings == 1 ? "" : ", times " + std::to_string(options.rings) + " rings") +
           ") and its ledger; try a smaller --capacity or --max-items");
  } catch (const std::invalid_argument& error) {
    reject("the ring refuses capacity " + std::to_string(options.capacity) + ": " + error.what());
  }
}

template <class Hooks, class Wait = fev::DefaultWait>
int run(const Options& options) {
  // Never destroyed when the run fails: std::_Exit leaves stuck threads behind.
  auto run = make_run<Wait, Hooks>(options);
  const std::string problems = run->execute();
  const bool failed = !problems.empty();
  char rings[64] = "";
  if (options.rings != 1 || options.selecting != 0)
    std::snprintf(rings, sizeof rings, " %d ring%s, %d selecting", options.rings, options.rings == 1 ? "" : "s",
                  options.selecting);
  char label[256];
  std::snprintf(label, sizeof label, "%dP%dC%s capacity %zu mode %s%s%s%s%s seed %" PRIu64, options.producers,
                options.consumers, rings, options.capacity, mode_name(options.mode),
                options.close_early ? " close-early" : "",
                options.chaos ? " chaos" : "", options.broken ? " BROKEN-RING" : "",
                options.deaf_consumer ? " DEAF-CONSUMER" : "", options.seed);
  if (failed) {
    std::printf("FAIL: %s: %s\n", label, problems.c_str());
  } else {
    char selected[128] = "";
    if (options.selecting != 0)
      std::snprintf(selected, sizeof selected, " (%" PRIu64 " of them in %" PRIu64 " selects)", run->selected_pops(),
                    run->select_calls());
    std::printf("PASS: %s: pushed %" PRIu64 ", popped %" PRIu64 "%s exactly once, FIFO per producer%s, drained; "
                "%" PRIu64 " ring calls (%" PRIu64 " by producers, %" PRIu64 " by consumers); %.2f s, %.0f items/s\n",
                label, run->total_pushed(), run->total_popped(), selected, options.rings == 1 ? "" : " and ring",
                run->total_calls(), run->total_calls(Role::producer), run->total_calls(Role::consumer),
                run->seconds(), static_cast<double>(run->total_popped()) / run->seconds());
    if (run->stopped_short()) {
      std::printf("NOTE: stopped at --max-seconds %.1f with %" PRIu64 " ring calls, short of --min-ops %" PRIu64 "\n",
                  options.max_seconds, run->total_calls(), options.min_ops);
    }
  }
  std::fflush(stdout);
  if (options.expect_failure) {
    std::printf("%s\n", failed ? "self-test OK: the harness caught the broken run"
                               : "self-test FAILED: the run was expected to fail and passed");
    std::fflush(stdout);
    // Threads may be stuck in a stalled run: leave without joining them.
    std::_Exit(failed ? 0 : 1);
  }
  if (failed) std::_Exit(1);
  return 0;
}

}  // namespace
}  // namespace stress

int main(int argc, char** argv) {
  using namespace stress;
  const Options options = parse(argc, argv);
  if (options.spin_ns >= 0) fev::set_spin_limit(std::chrono::nanoseconds(options.spin_ns));
  // Without futex_waitv a select parks on one word at a time for at most 1 ms, so a lost
  // wake only slows it: a broken ring's self-test with selecting consumers has nothing
  // to catch. It skips, visibly (exit status 77).
  constexpr bool kFutexWords = fev::detail::many_kind<fev::DefaultWait>() != fev::detail::ManyKind::other;
  if (options.broken && options.selecting != 0 && !(kFutexWords && fev::detail::futex_waitv_live())) {
    std::printf("SKIP: selects poll here (no futex_waitv): a ring that loses wakes only slows them\n");
    return 77;
  }
  if (options.broken) return options.chaos ? run<BrokenChaosHooks>(options) : run<BrokenHooks>(options);
  if (options.deaf_consumer) {
    return options.chaos ? run<ChaosHooks, DeafConsumerWait>(options) : run<fev::RingHooks, DeafConsumerWait>(options);
  }
  return options.chaos ? run<ChaosHooks>(options) : run<fev::RingHooks>(options);
}
