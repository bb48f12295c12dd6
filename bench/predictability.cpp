// SPDX-License-Identifier: MIT
// bench/predictability.cpp — how predictable fev's waiting is, next to the bare futex
// pair (FUTEX_WAIT / FUTEX_WAKE with no spinning at all), in one run (Linux).
//
// Four sections (--section fresh,timed,pinned,park; default all):
//
//   fresh   A new thread per wait: the thread waits on an event that is set 300 us
//           later. Waiter CPU per wait (CLOCK_THREAD_CPUTIME_ID around the wait), and the
//           one-way wake set() -> wait returned, p50/p99.
//   timed   wait_for(1 ms) on an event nobody sets, the waiter and two CPU-bound threads
//           pinned to one CPU. How far past its deadline each wait returned: p50/p99/max,
//           and how many returned more than 2 ms late.
//   pinned  N idle threads (100, 600), pinned round-robin to the CPUs, each looping on a
//           wait_for(20 ms) of its own event; beside them a setter and a waiter on two
//           CPUs measure the one-way wake of a parked waiter. Process CPU (all threads,
//           in % of one CPU) and the wake p50/p99/max.
//   park    Time to park: from the start of a wait to its backend wait call, for each
//           rule of the policy (a plain wait whose polls do not pay, the first wait after
//           this thread woke a parked thread, WaitOptions{.spin = 0}), p50/p99/max,
//           next to the budget that bounds it.
//
// --only fev|futex runs one implementation's rows (tools/bench-main counts the system
// calls of each under perf stat).
//
// Exit status: 0; 1 when a wait returned before it was set or before its deadline (a
// data check); 2 on a bad argument.
#include <linux/futex.h>
#include <sched.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <climits>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "fev/event.hpp"
#include "fev/spin.hpp"

namespace {

using namespace std::chrono_literals;
using SteadyClock = std::chrono::steady_clock;

std::vector<int> g_cpus;
std::string g_only;  // --only IMPL: run that implementation's rows only

template <class E>
bool runs() {
  return g_only.empty() || g_only == E::name;
}

void pin_self_to(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  (void)::sched_setaffinity(0, sizeof set, &set);
}

std::int64_t ns_since(SteadyClock::time_point from, SteadyClock::time_point to) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(to - from).count();
}

std::int64_t thread_cpu_ns() {
  timespec now{};
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
  return std::int64_t{now.tv_sec} * 1'000'000'000 + now.tv_nsec;
}

std::int64_t process_cpu_ns() {
  timespec now{};
  ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &now);
  return std::int64_t{now.tv_sec} * 1'000'000'000 + now.tv_nsec;
}

// The p-th percentile (0..100) of `samples`, which it sorts.
double percentile(std::vector<std::int64_t>& samples, double p) {
  if (samples.empty()) return 0;
  std::sort(samples.begin(), samples.end());
  const auto index = static_cast<std::size_t>(p / 100.0 * static_cast<double>(samples.size() - 1) + 0.5);
  return static_cast<double>(samples[std::min(index, samples.size() - 1)]);
}

[[noreturn]] void data_check_failed(const std::string& what) {
  std::fprintf(stderr, "predictability: data check failed: %s\n", what.c_str());
  std::exit(1);
}

// The bare futex pair, with an absolute CLOCK_MONOTONIC deadline for timed waits.
class FutexEvent {
 public:
  static constexpr std::string_view name = "futex";
  void set() noexcept {
    word_.store(1, std::memory_order_release);  // pairs with the waits' acquire loads
    (void)::syscall(SYS_futex, static_cast<void*>(&word_), FUTEX_WAKE_PRIVATE, INT_MAX, nullptr, nullptr, 0);
  }
  void wait() noexcept {
    while (word_.load(std::memory_order_acquire) == 0)  // pairs with set()
      (void)::syscall(SYS_futex, static_cast<void*>(&word_), FUTEX_WAIT_PRIVATE, 0, nullptr, nullptr, 0);
  }
  bool wait_for(std::chrono::nanoseconds timeout) noexcept {
    const auto deadline = SteadyClock::now() + timeout;
    const auto since_epoch = std::chrono::duration_cast<std::chrono::nanoseconds>(deadline.time_since_epoch()).count();
    const timespec when{static_cast<time_t>(since_epoch / 1'000'000'000), static_cast<long>(since_epoch % 1'000'000'000)};
    while (word_.load(std::memory_order_acquire) == 0) {  // pairs with set()
      if (SteadyClock::now() >= deadline) return false;
      (void)::syscall(SYS_futex, static_cast<void*>(&word_), FUTEX_WAIT_BITSET_PRIVATE, 0, &when, nullptr,
                      FUTEX_BITSET_MATCH_ANY);
    }
    return true;
  }

 private:
  std::atomic<std::uint32_t> word_{0};
};

class FevEvent : public fev::Event {
 public:
  static constexpr std::string_view name = "fev";
};

void print_row(std::string_view impl, const std::vector<std::pair<const char*, double>>& columns) {
  std::printf("    %-8s", std::string(impl).c_str());
  for (const auto& [title, value] : columns) std::printf("  %s %10.1f", title, value);
  std::printf("\n");
  std::fflush(stdout);
}

// ---- fresh: a new thread per wait --------------------------------------------------

template <class E>
void fresh(std::size_t rounds) {
  std::vector<std::int64_t> cpu, wake;
  for (std::size_t round = 0; round < rounds; ++round) {
    E event;
    std::atomic<bool> waiting{false};
    SteadyClock::time_point returned{};
    std::int64_t waiter_cpu = 0;
    std::thread waiter([&] {
      const std::int64_t before = thread_cpu_ns();
      waiting.store(true, std::memory_order_release);  // pairs with the setter's acquire poll
      event.wait();
      returned = SteadyClock::now();
      waiter_cpu = thread_cpu_ns() - before;
    });
    while (!waiting.load(std::memory_order_acquire)) std::this_thread::yield();  // pairs with the waiter's store
    std::this_thread::sleep_for(300us);
    const auto set_at = SteadyClock::now();
    event.set();
    waiter.join();
    if (returned < set_at) data_check_failed("fresh: a wait returned before set()");
    cpu.push_back(waiter_cpu);
    wake.push_back(ns_since(set_at, returned));
  }
  double mean_cpu = 0;
  for (const std::int64_t c : cpu) mean_cpu += static_cast<double>(c);
  mean_cpu /= static_cast<double>(cpu.size());
  print_row(E::name, {{"waiter CPU us/wait", mean_cpu / 1e3},
                      {"wake p50 us", percentile(wake, 50) / 1e3},
                      {"p99 us", percentile(wake, 99) / 1e3}});
}

// ---- timed: 1 ms waits beside two CPU hogs on the same CPU ----------------------------

template <class E>
void timed(std::size_t waits) {
  std::atomic<bool> stop{false};
  const int cpu = g_cpus.front();
  std::vector<std::thread> hogs;
  for (int hog = 0; hog < 2; ++hog) {
    hogs.emplace_back([&] {
      pin_self_to(cpu);
      while (!stop.load(std::memory_order_relaxed)) {  // relaxed: only ends the loop
      }
    });
  }
  std::vector<std::int64_t> late;
  std::thread waiter([&] {
    pin_self_to(cpu);
    E event;
    for (std::size_t wait = 0; wait < waits; ++wait) {
      const auto start = SteadyClock::now();
      if (event.wait_for(1ms)) data_check_failed("timed: a wait on an event nobody sets returned true");
      const auto end = SteadyClock::now();
      if (end - start < 1ms) data_check_failed("timed: a wait returned before its deadline");
      late.push_back(ns_since(start + 1ms, end));
    }
  });
  waiter.join();
  stop.store(true, std::memory_order_relaxed);
  for (auto& hog : hogs) hog.join();
  const auto over_2ms = std::count_if(late.begin(), late.end(), [](std::int64_t ns) { return ns > 2'000'000; });
  print_row(E::name, {{"late p50 us", percentile(late, 50) / 1e3},
                      {"p99 us", percentile(late, 99) / 1e3},
                      {"max us", percentile(late, 100) / 1e3},
                      {"> 2 ms late", static_cast<double>(over_2ms)}});
}

// ---- pinned: many idle pinned threads, and a wake beside them ---------------------------

template <class E>
void pinned(int idle_threads, std::size_t samples) {
  std::atomic<bool> stop{false};
  std::vector<std::thread> idle;
  for (int i = 0; i < idle_threads; ++i) {
    idle.emplace_back([&, i] {
      pin_self_to(g_cpus[static_cast<std::size_t>(i) % g_cpus.size()]);
      E event;
      while (!stop.load(std::memory_order_relaxed)) (void)event.wait_for(20ms);  // relaxed: only ends the loop
    });
  }
  std::this_thread::sleep_for(100ms);  // every idle thread is in its loop
  const int setter_cpu = g_cpus.front();
  const int waiter_cpu = g_cpus.size() > 1 ? g_cpus[1] : g_cpus.front();
  std::vector<std::int64_t> wake;
  const std::int64_t cpu_before = process_cpu_ns();
  const auto start = SteadyClock::now();
  std::thread([&] {
    pin_self_to(setter_cpu);
    for (std::size_t sample = 0; sample < samples; ++sample) {
      auto event = std::make_unique<E>();
      std::atomic<bool> waiting{false};
      SteadyClock::time_point returned{};
      std::thread waiter([&] {
        pin_self_to(waiter_cpu);
        waiting.store(true, std::memory_order_release);  // pairs with the setter's acquire poll
        event->wait();
        returned = SteadyClock::now();
      });
      while (!waiting.load(std::memory_order_acquire)) std::this_thread::yield();  // pairs with the store above
      std::this_thread::sleep_for(1ms);
      const auto set_at = SteadyClock::now();
      event->set();
      waiter.join();
      if (returned < set_at) data_check_failed("pinned: a wait returned before set()");
      wake.push_back(ns_since(set_at, returned));
    }
  }).join();
  const double seconds = static_cast<double>(ns_since(start, SteadyClock::now())) / 1e9;
  const double cpu_percent = static_cast<double>(process_cpu_ns() - cpu_before) / 1e9 / seconds * 100;
  stop.store(true, std::memory_order_relaxed);
  for (auto& thread : idle) thread.join();
  print_row(E::name, {{"process CPU %", cpu_percent},
                      {"wake p50 us", percentile(wake, 50) / 1e3},
                      {"p99 us", percentile(wake, 99) / 1e3},
                      {"max us", percentile(wake, 100) / 1e3}});
}

// ---- park: time to park per rule -----------------------------------------------------------

// Forwards to the default backend and notes when a wait first reached it.
struct ParkTiming {
  static inline SteadyClock::time_point parked_at{};
  static fev::WaitResult wait(const std::atomic<std::uint32_t>& word, std::uint32_t expected,
                              fev::Deadline deadline) noexcept {
    if (parked_at == SteadyClock::time_point{}) parked_at = SteadyClock::now();
    return fev::DefaultWait::wait(word, expected, deadline);
  }
  static void wake_one(const std::atomic<std::uint32_t>& word) noexcept { fev::DefaultWait::wake_one(word); }
  static void wake_all(const std::atomic<std::uint32_t>& word) noexcept { fev::DefaultWait::wake_all(word); }
};

enum class Rule { plain, after_wake, no_spin };

void park(Rule rule, const char* label, std::chrono::nanoseconds bound, std::size_t samples) {
  std::vector<std::int64_t> to_park;
  const int setter_cpu = g_cpus.front();
  const int waiter_cpu = g_cpus.size() > 1 ? g_cpus[1] : g_cpus.front();
  std::thread([&] {
    pin_self_to(waiter_cpu);
    const fev::WaitOptions options = rule == Rule::no_spin ? fev::WaitOptions{.spin = 0ns, .spin_after_wake = -1ns}
                                                           : fev::WaitOptions{};
    for (std::size_t sample = 0; sample < samples; ++sample) {
      fev::BasicEvent<ParkTiming> event;
      std::thread setter([&] {
        pin_self_to(setter_cpu);
        // relaxed: polls for the parked bit; set() orders what matters.
        while (!(event.word().load(std::memory_order_relaxed) & fev::detail::EventBits::kParked)) std::this_thread::yield();
        event.set();
      });
      // The waiter has just woken a parked thread (a set() that found one), as a
      // ping-pong partner has.
      if (rule == Rule::after_wake) fev::detail::note_woke_peer();
      ParkTiming::parked_at = {};
      const auto start = SteadyClock::now();
      event.wait(options);
      setter.join();
      to_park.push_back(ns_since(start, ParkTiming::parked_at));
    }
  }).join();
  std::printf("    %-34s  bound us %7.1f  p50 us %7.2f  p99 us %7.2f  max us %7.2f\n", label,
              static_cast<double>(bound.count()) / 1e3, percentile(to_park, 50) / 1e3, percentile(to_park, 99) / 1e3,
              percentile(to_park, 100) / 1e3);
  std::fflush(stdout);
}

bool wants(const std::vector<std::string>& sections, std::string_view section) {
  return std::find(sections.begin(), sections.end(), section) != sections.end();
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> sections{"fresh", "timed", "pinned", "park"};
  bool quick = false;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--quick") {
      quick = true;
    } else if (arg == "--only" && i + 1 < argc) {
      g_only = argv[++i];
      if (g_only != "fev" && g_only != "futex") {
        std::fprintf(stderr, "predictability: unknown implementation %s (fev, futex)\n", g_only.c_str());
        return 2;
      }
    } else if (arg == "--section" && i + 1 < argc) {
      sections.clear();
      std::string list = argv[++i];
      for (std::size_t from = 0; from <= list.size();) {
        const std::size_t comma = std::min(list.find(',', from), list.size());
        sections.push_back(list.substr(from, comma - from));
        from = comma + 1;
      }
      for (const std::string& section : sections) {
        if (section != "fresh" && section != "timed" && section != "pinned" && section != "park") {
          std::fprintf(stderr, "predictability: unknown section %s (fresh, timed, pinned, park)\n", section.c_str());
          return 2;
        }
      }
    } else {
      std::fprintf(stderr, "usage: predictability [--quick] [--section fresh,timed,pinned,park] [--only fev|futex]\n");
      return 2;
    }
  }
  cpu_set_t allowed;
  CPU_ZERO(&allowed);
  if (::sched_getaffinity(0, sizeof allowed, &allowed) == 0)
    for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu)
      if (CPU_ISSET(cpu, &allowed)) g_cpus.push_back(cpu);
  if (g_cpus.empty()) g_cpus.push_back(0);
  std::printf("predictability: %zu CPUs allowed; fev spin limit %lld ns, after a wake %lld ns%s\n", g_cpus.size(),
              static_cast<long long>(fev::spin_limit().count()),
              static_cast<long long>(fev::spin_after_wake_limit().count()), quick ? "; --quick" : "");

  if (wants(sections, "fresh")) {
    const std::size_t rounds = quick ? 20 : 400;
    std::printf("\nfresh thread per wait, set 300 us after the wait began, %zu waits\n", rounds);
    if (runs<FevEvent>()) fresh<FevEvent>(rounds);
    if (runs<FutexEvent>()) fresh<FutexEvent>(rounds);
  }
  if (wants(sections, "timed")) {
    const std::size_t waits = quick ? 10 : 200;
    std::printf("\nwait_for(1 ms) beside two CPU-bound threads on CPU %d, %zu waits (how late past the deadline)\n",
                g_cpus.front(), waits);
    if (runs<FevEvent>()) timed<FevEvent>(waits);
    if (runs<FutexEvent>()) timed<FutexEvent>(waits);
  }
  if (wants(sections, "pinned")) {
    const std::size_t samples = quick ? 10 : 300;
    for (const int idle : quick ? std::vector<int>{20} : std::vector<int>{100, 600}) {
      std::printf("\n%d idle pinned threads looping on wait_for(20 ms); one-way wake of a parked waiter, %zu samples\n",
                  idle, samples);
      if (runs<FevEvent>()) pinned<FevEvent>(idle, samples);
      if (runs<FutexEvent>()) pinned<FutexEvent>(idle, samples);
    }
  }
  if (wants(sections, "park") && (g_only.empty() || g_only == "fev")) {
    const std::size_t samples = quick ? 20 : 500;
    std::printf("\ntime to park: wait start -> backend wait, set only once parked, %zu waits per rule\n", samples);
    park(Rule::plain, "plain wait (polls stop paying)", fev::spin_limit(), samples);
    park(Rule::after_wake, "first wait after waking a peer", std::max(fev::spin_limit(), fev::spin_after_wake_limit()),
         samples);
    park(Rule::no_spin, "WaitOptions{.spin = 0}", 0ns, samples);
  }
  return 0;
}
