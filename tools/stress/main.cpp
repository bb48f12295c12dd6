// tools/stress: drives an fev::Ring hard and checks what comes out (see --help).
#include <atomic>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "fev/ring.hpp"
#include "ledger.hpp"
#include "options.hpp"

namespace stress {
namespace {

using Clock = std::chrono::steady_clock;
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
  static constexpr bool kWakeConsumers = false;  // the bug the harness must catch
};
struct BrokenChaosHooks : ChaosHooks {
  static constexpr bool kWakeConsumers = false;
};

enum class Outcome { ok, closed, gave_up };

template <class Ring>
class Run {
 public:
  explicit Run(const Options& options)
      : options_(options),
        ring_(options.capacity),
        ledger_(options.producers, options.max_items),
        pushed_(static_cast<std::size_t>(options.producers)) {}

  // Returns an empty string on success, else what went wrong.
  std::string execute() {
    const auto start = Clock::now();
    for (int p = 0; p < options_.producers; ++p) threads_.emplace_back([this, p] { produce(p); });
    for (int c = 0; c < options_.consumers; ++c) threads_.emplace_back([this, c] { consume(c); });
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
  double seconds() const { return std::chrono::duration<double>(elapsed_).count(); }

 private:
  std::mt19937_64 rng_for(int role, int index) const {
    return std::mt19937_64(options_.seed * 1000003u + static_cast<std::uint64_t>(role * 4096 + index));
  }

  Mode pick(std::mt19937_64& rng) const {
    if (options_.mode != Mode::mixed) return options_.mode;
    return static_cast<Mode>(rng() % 3);  // try, blocking, timed
  }

  Outcome push_one(Item item, std::mt19937_64& rng) {
    switch (pick(rng)) {
      case Mode::try_ops:
        while (!ring_.try_push(item)) {
          if (ring_.closed()) return Outcome::closed;
          if (stop_.load(std::memory_order_relaxed)) return Outcome::gave_up;
          std::this_thread::yield();
        }
        return Outcome::ok;
      case Mode::timed:
        for (;;) {
          const auto timeout = std::chrono::microseconds(rng() % 2000);
          switch (ring_.push_for(item, timeout)) {
            case fev::Status::ok: return Outcome::ok;
            case fev::Status::closed: return Outcome::closed;
            case fev::Status::timeout:
              if (stop_.load(std::memory_order_relaxed)) return Outcome::gave_up;
              break;
          }
        }
      default:
        return ring_.push(Item(item)) ? Outcome::ok : Outcome::closed;
    }
  }

  // Returns false when the ring is closed and drained.
  bool pop_one(Item& item, std::mt19937_64& rng) {
    switch (pick(rng)) {
      case Mode::try_ops:
        while (!ring_.try_pop(item)) {
          // A zero timeout tries once more and tells "closed and drained" from "empty".
          const fev::Status status = ring_.pop_for(item, std::chrono::nanoseconds(0));
          if (status == fev::Status::ok) return true;
          if (status == fev::Status::closed) return false;
          std::this_thread::yield();
        }
        return true;
      case Mode::timed:
        for (;;) {
          switch (ring_.pop_for(item, std::chrono::microseconds(rng() % 2000))) {
            case fev::Status::ok: return true;
            case fev::Status::closed: return false;
            case fev::Status::timeout: break;
          }
        }
      default:
        return ring_.pop(item);
    }
  }

  void produce(int producer) {
    auto rng = rng_for(1, producer);
    std::atomic<std::uint64_t>& pushed = pushed_[static_cast<std::size_t>(producer)];
    const std::uint64_t limit = options_.max_items;
    for (std::uint64_t sequence = 0; sequence < limit; ++sequence) {
      if (options_.items == 0 && stop_.load(std::memory_order_relaxed)) break;
      if (push_one(make_item(producer, sequence), rng) != Outcome::ok) break;
      pushed.store(sequence + 1, std::memory_order_relaxed);  // read by the watchdog and verify
    }
    if (producers_done_.fetch_add(1) + 1 == options_.producers) ring_.close();  // last one out closes
  }

  void consume(int consumer) {
    auto rng = rng_for(2, consumer);
    OrderCheck order(options_.producers);
    Item item = 0;
    while (pop_one(item, rng)) {
      ledger_.record_pop(item);
      if (!order.accept(item)) fifo_violations_.fetch_add(1);
      popped_.fetch_add(1, std::memory_order_relaxed);
    }
    consumers_done_.fetch_add(1);
  }

  void close_early() {
    auto rng = rng_for(3, 0);
    const double fraction = 0.1 + 0.6 * static_cast<double>(rng() % 1000) / 1000.0;
    const auto delay = options_.items != 0 ? std::chrono::duration<double>(0.05 * fraction)
                                           : std::chrono::duration<double>(options_.seconds * fraction);
    std::this_thread::sleep_for(delay);
    ring_.close();
  }

  // Prints progress, stops --seconds runs, and fails the run when nothing moves.
  std::string watch(Clock::time_point start) {
    auto last_progress_print = start;
    auto last_move = start;
    std::uint64_t last_total = ~std::uint64_t{0};
    for (;;) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      const auto now = Clock::now();
      if (options_.items == 0 && now - start >= std::chrono::duration<double>(options_.seconds)) stop_.store(true);
      if (consumers_done_.load() == options_.consumers && producers_done_.load() == options_.producers) return {};
      const std::uint64_t total = total_pushed() + total_popped();
      if (total != last_total) {
        last_total = total;
        last_move = now;
      } else if (now - last_move >= std::chrono::duration<double>(options_.stall_seconds)) {
        const auto snap = ring_.snapshot();
        char report[512];
        std::snprintf(report, sizeof report,
                      "stall: nothing moved for %.1f s with work pending (pushed %" PRIu64 ", popped %" PRIu64
                      "; ring head %zu tail %zu closed %d not_empty 0x%x not_full 0x%x; producers done %d/%d, "
                      "consumers done %d/%d)",
                      options_.stall_seconds, total_pushed(), total_popped(), snap.head, snap.tail,
                      int(snap.closed), snap.not_empty, snap.not_full, producers_done_.load(), options_.producers,
                      consumers_done_.load(), options_.consumers);
        return report;
      }
      if (now - last_progress_print >= std::chrono::duration<double>(options_.progress_seconds)) {
        last_progress_print = now;
        std::printf("  %.1f s: pushed %" PRIu64 ", popped %" PRIu64 ", in ring %zu\n",
                    std::chrono::duration<double>(now - start).count(), total_pushed(), total_popped(), ring_.size());
        std::fflush(stdout);
      }
    }
  }

  std::string verify() {
    std::vector<std::uint64_t> pushed;
    for (const auto& count : pushed_) pushed.push_back(count.load());
    std::string problems = ledger_.verify(pushed);
    if (fifo_violations_.load()) problems += std::to_string(fifo_violations_.load()) + " FIFO violations; ";
    Item leftover = 0;
    if (!ring_.closed()) problems += "ring not closed at the end; ";
    if (ring_.size() != 0 || ring_.try_pop(leftover)) problems += "close() did not drain the ring; ";
    if (options_.items != 0 && !options_.close_early && total_pushed() != options_.items * options_.producers)
      problems += "producers pushed fewer items than asked; ";
    return problems;
  }

  const Options& options_;
  Ring ring_;
  Ledger ledger_;
  std::vector<std::atomic<std::uint64_t>> pushed_;
  std::atomic<std::uint64_t> popped_{0};
  std::atomic<std::uint64_t> fifo_violations_{0};
  std::atomic<int> producers_done_{0};
  std::atomic<int> consumers_done_{0};
  std::atomic<bool> stop_{false};
  Clock::duration elapsed_{};
  std::vector<std::thread> threads_;
};

template <class Hooks>
int run(const Options& options) {
  using Ring = fev::BasicRing<Item, fev::DefaultWait, Hooks>;
  // Never destroyed when the run fails: std::_Exit leaves stuck threads behind.
  auto run = std::make_unique<Run<Ring>>(options);
  const std::string problems = run->execute();
  const bool failed = !problems.empty();
  char label[160];
  std::snprintf(label, sizeof label, "%dP%dC capacity %zu mode %s%s%s%s seed %" PRIu64, options.producers,
                options.consumers, options.capacity, mode_name(options.mode), options.close_early ? " close-early" : "",
                options.chaos ? " chaos" : "", options.broken ? " BROKEN-RING" : "", options.seed);
  if (failed) {
    std::printf("FAIL: %s: %s\n", label, problems.c_str());
  } else {
    std::printf("PASS: %s: pushed %" PRIu64 ", popped %" PRIu64 " exactly once, FIFO per producer, drained; "
                "%.2f s, %.0f items/s\n",
                label, run->total_pushed(), run->total_popped(), run->seconds(),
                static_cast<double>(run->total_popped()) / run->seconds());
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
  const stress::Options options = stress::parse(argc, argv);
  if (options.broken) {
    return options.chaos ? stress::run<stress::BrokenChaosHooks>(options) : stress::run<stress::BrokenHooks>(options);
  }
  return options.chaos ? stress::run<stress::ChaosHooks>(options) : stress::run<fev::RingHooks>(options);
}
