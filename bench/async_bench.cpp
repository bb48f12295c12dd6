// SPDX-License-Identifier: MIT
// bench/async_bench.cpp — coroutines on a fev::Loop waiting on the same fev::Event and
// fev::Ring that plain threads use, against the usual eventfd + epoll bridge, Asio's
// channels and a condition variable, in one binary and one run.
//
// Four sections (--section t2c,c2t,pingpong,ring; default all):
//
//   t2c       thread -> coroutine wake: a plain thread sets an Event (or pushes into a
//             Ring, writes an eventfd, try_sends on an Asio concurrent_channel) and a
//             coroutine waiting on its loop resumes. The thread acts --gap-us after the
//             waiter said it is about to wait, so the loop's thread is asleep in the
//             kernel every time. Sample: signal -> the coroutine running again.
//             Reference: a thread waiting on a condition_variable.
//   c2t       coroutine -> thread wake: a coroutine (spaced by its own loop's timer)
//             sets an Event, pushes, or writes an eventfd; a thread blocked in wait(),
//             pop() or read() wakes. Reference: one thread notifying another through a
//             condition_variable. Asio has no blocking receive for a plain thread (only
//             try_receive, or a future completed on Asio's system thread pool): no row.
//   pingpong  two coroutines on one loop's thread take turns through two events (two
//             eventfds, two Asio channels); the Event row also through the side table
//             with loop.executor() (no kernel entry); sample: one round trip.
//   ring      one producer thread pushes --items items into a queue of capacity 1024;
//             4 coroutines on one loop's thread take them (fev::Ring, an Asio
//             concurrent_channel), or 4 threads blocked in Ring::pop() do. The Asio
//             producer try_sends and, when that is refused, waits on async_send's future.
//
// Each row runs --repeat times (default 3), the rows of a section interleaved; every
// column shows the median of the runs.
//
// CPU per wake, round or item: CLOCK_PROCESS_CPUTIME_ID over the whole row (all threads,
// the signalling side and its spacing sleeps included, the same for every row of a
// section); context switches: getrusage(RUSAGE_SELF), voluntary + involuntary.
//
// Data checks (exit status 1, "data check failed" on stderr): every wake and round trip
// carries its round number and must deliver exactly that one, after it was sent; in the
// ring section every item 1..N must be taken exactly once; a row that makes no progress
// for --stall-s seconds stops the program (a lost wake).
//
// Output: one table per section; after the rows, each fev row against the best row
// that is not fev, per column: "level" (within 10%), "Nx better" or "Nx worse". Exit
// status: 0; 1 on a failed data check; 2 on a bad argument; 77 where io_uring is
// unavailable (old kernel, sysctl kernel.io_uring_disabled, a seccomp filter).
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "arguments.hpp"
#include "asio_peer.hpp"
#include "compare.hpp"
#include "data_check.hpp"
#include "epoll_bridge.hpp"
#include "fev/async_event.hpp"
#include "fev/event.hpp"
#include "fev/loop.hpp"
#include "fev/ring.hpp"
#include "measure.hpp"

namespace {

using fev_bench::Clock;
using fev_bench::NetErrorCode;
using fev_bench::now_ns;
using fev_bench::sleep_until;
using fev_bench::Usage;
using fev_bench::Watchdog;

constexpr int kBadArgument = 2;
constexpr int kSkipped = 77;
constexpr std::size_t kWarmup = 2;  // wake rounds not sampled (first-touch costs)
constexpr int kConsumers = 4;
constexpr std::size_t kRingCapacity = 1024;

struct Options {
  bool quick = false;
  std::size_t wakes = 2000;               // t2c, c2t: samples per row
  std::size_t rounds = 100000;            // pingpong: round trips per row
  std::uint64_t items = std::uint64_t{1} << 20;  // ring: items per row
  std::chrono::microseconds gap{200};     // t2c, c2t: time the waiter has to park
  std::size_t repeat = 3;  // runs of each row, interleaved; the table shows medians
  long stall_s = 60;
  std::vector<std::string> sections{"t2c", "c2t", "pingpong", "ring"};
  bool corrupt = false;  // --self-test-corrupt: the ring producers send item 2 twice, never item 1

  bool wants(std::string_view section) const {
    return std::find(sections.begin(), sections.end(), section) != sections.end();
  }
};

[[noreturn]] void data_check_failed(const std::string& what) { fev_bench::data_check_failed("async_bench", what); }

// ---- Rows, usage, statistics ---------------------------------------------------------

struct Row {
  std::string impl;
  std::optional<double> p50_ns, p99_ns, mitems_per_s, cpu_us, switches;
};

void add_usage(Row& row, const Usage& before, const Usage& after, std::size_t count) {
  const fev_bench::PerUnit per = fev_bench::per_unit(before, after, count);
  row.cpu_us = per.cpu_us;
  row.switches = per.switches;
}

using fev_bench::add_percentiles;

// One wake per round: when the signal was sent, and when the waiter ran again.
struct WakeLog {
  explicit WakeLog(std::size_t rounds) : sent_at(rounds), woke_at(rounds) {}
  std::size_t rounds() const { return sent_at.size(); }
  std::vector<std::int64_t> sent_at;
  std::vector<std::int64_t> woke_at;
};

// The wake rows' common end: checks every wake came after its signal, and fills the row.
Row wake_row(std::string impl, const WakeLog& log, const Usage& before, const Usage& after) {
  Row row{std::move(impl), {}, {}, {}, {}, {}};
  std::vector<std::int64_t> samples;
  samples.reserve(log.rounds());
  for (std::size_t round = 0; round < log.rounds(); ++round) {
    if (log.woke_at[round] < log.sent_at[round]) {
      data_check_failed(row.impl + ": the waiter ran before the signal of round " + std::to_string(round + 1));
    }
    if (round >= kWarmup) samples.push_back(log.woke_at[round] - log.sent_at[round]);
  }
  add_usage(row, before, after, log.rounds());
  add_percentiles(row, std::move(samples));
  return row;
}

void check_round(const std::string& impl, std::uint64_t got, std::size_t round) {
  if (got != round + 1) {
    data_check_failed(impl + ": round " + std::to_string(round + 1) + " received " + std::to_string(got));
  }
}

// ---- t2c: a thread wakes a coroutine ---------------------------------------------------

// The signalling thread: waits until the waiter has said it is about to wait for this
// round (`armed`), gives it `gap` to park in the kernel, stamps and signals.
template <class Signal>
void signal_rounds(const Options& options, const std::atomic<std::size_t>& armed, WakeLog& log, Signal&& signal) {
  for (std::size_t round = 0; round < log.rounds(); ++round) {
    sleep_until(Clock::now() + options.gap);
    // acquire: pairs with the waiter's release store; its previous round is finished.
    while (armed.load(std::memory_order_acquire) != round + 1) std::this_thread::yield();
    log.sent_at[round] = now_ns();
    signal(static_cast<std::uint64_t>(round + 1));
  }
}

// Written by the signalling side before its signal, read by the waiter after it woke:
// the signal orders them.
struct Sent {
  std::uint64_t round = 0;
};

// A loop coroutine's wait on an Event: an io_uring futex wait, or through the side
// table with the loop as the executor (fev/loop.hpp's two ways).
template <bool kViaExecutor, class E>
auto loop_wait(fev::Loop& loop, E& event) {
  if constexpr (kViaExecutor) {
    return fev::async_wait(loop.executor(), event);
  } else {
    return fev::async_wait(loop, event);
  }
}

template <bool kViaExecutor>
fev::Task<> t2c_event_waiter(fev::Loop& loop, fev::Event& event, std::atomic<std::size_t>& armed, const Sent& sent,
                             WakeLog& log) {
  for (std::size_t round = 0; round < log.rounds(); ++round) {
    armed.store(round + 1, std::memory_order_release);  // pairs with signal_rounds' acquire
    co_await loop_wait<kViaExecutor>(loop, event);
    log.woke_at[round] = now_ns();
    check_round("t2c fev Event", sent.round, round);
    event.clear();
  }
}

template <bool kViaExecutor = false>
Row t2c_fev_event(const Options& options) {
  fev::Loop loop;
  fev::Event event;
  std::atomic<std::size_t> armed{0};
  Sent sent;
  WakeLog log(options.wakes + kWarmup);
  loop.spawn(t2c_event_waiter<kViaExecutor>(loop, event, armed, sent, log));
  const Usage before = Usage::now();
  std::thread setter([&] {
    signal_rounds(options, armed, log, [&](std::uint64_t round) {
      sent.round = round;
      event.set();
    });
  });
  loop.run();
  setter.join();
  return wake_row(kViaExecutor ? "fev Event, loop executor" : "fev Event", log, before, Usage::now());
}

fev::Task<> t2c_ring_waiter(fev::Loop& loop, fev::Ring<std::uint64_t>& ring, std::atomic<std::size_t>& armed,
                            WakeLog& log) {
  for (std::size_t round = 0; round < log.rounds(); ++round) {
    armed.store(round + 1, std::memory_order_release);  // pairs with signal_rounds' acquire
    const std::optional<std::uint64_t> value = co_await fev::async_pop(loop, ring);
    log.woke_at[round] = now_ns();
    check_round("t2c fev Ring", value.value_or(0), round);
  }
}

Row t2c_fev_ring(const Options& options) {
  fev::Loop loop;
  fev::Ring<std::uint64_t> ring(64);
  std::atomic<std::size_t> armed{0};
  WakeLog log(options.wakes + kWarmup);
  loop.spawn(t2c_ring_waiter(loop, ring, armed, log));
  const Usage before = Usage::now();
  std::thread pusher([&] {
    signal_rounds(options, armed, log, [&](std::uint64_t round) { (void)ring.push(round); });  // open throughout
  });
  loop.run();
  pusher.join();
  return wake_row("fev Ring", log, before, Usage::now());
}

fev_bench::BridgeTask t2c_eventfd_waiter(fev_bench::FdSource& wake, std::atomic<std::size_t>& armed, const Sent& sent,
                                         WakeLog& log) {
  for (std::size_t round = 0; round < log.rounds(); ++round) {
    armed.store(round + 1, std::memory_order_release);  // pairs with signal_rounds' acquire
    const std::uint64_t count = co_await fev_bench::read_counter(wake);
    log.woke_at[round] = now_ns();
    if (count != 1) data_check_failed("t2c eventfd: " + std::to_string(count) + " writes in one wake");
    check_round("t2c eventfd", sent.round, round);
  }
}

Row t2c_eventfd(const Options& options) {
  fev_bench::EpollLoop loop;
  fev_bench::FdSource wake(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  loop.watch(wake);
  std::atomic<std::size_t> armed{0};
  Sent sent;
  WakeLog log(options.wakes + kWarmup);
  fev_bench::BridgeTask waiter = t2c_eventfd_waiter(wake, armed, sent, log);
  const Usage before = Usage::now();
  std::thread writer([&] {
    signal_rounds(options, armed, log, [&](std::uint64_t round) {
      sent.round = round;
      const std::uint64_t one = 1;
      if (::write(wake.fd, &one, sizeof one) != static_cast<ssize_t>(sizeof one)) data_check_failed("eventfd write");
    });
  });
  loop.run_until([&] { return waiter.done(); });
  writer.join();
  return wake_row("eventfd + epoll", log, before, Usage::now());
}

using AsioQueue = fev_bench::net::experimental::concurrent_channel<void(NetErrorCode, std::uint64_t)>;
using AsioLocalChannel = fev_bench::net::experimental::channel<void(NetErrorCode, std::uint64_t)>;

// From a plain thread: try_send, and when the channel refuses (full), wait for room on
// async_send's future.
void asio_send_from_thread(AsioQueue& channel, std::uint64_t value) {
  if (!channel.try_send(NetErrorCode{}, value)) {
    channel.async_send(NetErrorCode{}, value, fev_bench::net::use_future).get();
  }
}

fev_bench::net::awaitable<void> t2c_asio_waiter(AsioQueue& channel, std::atomic<std::size_t>& armed, WakeLog& log) {
  for (std::size_t round = 0; round < log.rounds(); ++round) {
    armed.store(round + 1, std::memory_order_release);  // pairs with signal_rounds' acquire
    const std::uint64_t value = co_await channel.async_receive(fev_bench::net::use_awaitable);
    log.woke_at[round] = now_ns();
    check_round("t2c Asio concurrent_channel", value, round);
  }
}

Row t2c_asio(const Options& options) {
  fev_bench::net::io_context context(1);
  AsioQueue channel(context, 1);
  std::atomic<std::size_t> armed{0};
  WakeLog log(options.wakes + kWarmup);
  fev_bench::net::co_spawn(context, t2c_asio_waiter(channel, armed, log), fev_bench::net::detached);
  const Usage before = Usage::now();
  std::thread sender([&] {
    signal_rounds(options, armed, log, [&](std::uint64_t round) { asio_send_from_thread(channel, round); });
  });
  context.run();  // until the receiving coroutine has finished
  sender.join();
  return wake_row("Asio channel", log, before, Usage::now());
}

// The reference without coroutines: a thread waiting on a condition variable.
struct CondvarSignal {
  std::mutex mutex;
  std::condition_variable changed;
  std::uint64_t value = 0;  // guarded by mutex

  void send(std::uint64_t round) {
    {
      std::lock_guard<std::mutex> lock(mutex);
      value = round;
    }
    changed.notify_one();
  }
  std::uint64_t wait_for(std::uint64_t round) {
    std::unique_lock<std::mutex> lock(mutex);
    changed.wait(lock, [&] { return value >= round; });
    return value;
  }
};

Row t2c_condvar(const Options& options) {
  CondvarSignal signal;
  std::atomic<std::size_t> armed{0};
  WakeLog log(options.wakes + kWarmup);
  const Usage before = Usage::now();
  std::thread waiter([&] {
    for (std::size_t round = 0; round < log.rounds(); ++round) {
      armed.store(round + 1, std::memory_order_release);  // pairs with signal_rounds' acquire
      const std::uint64_t value = signal.wait_for(round + 1);
      log.woke_at[round] = now_ns();
      check_round("t2c condvar", value, round);
    }
  });
  signal_rounds(options, armed, log, [&](std::uint64_t round) { signal.send(round); });
  waiter.join();
  return wake_row("condvar (threads)", log, before, Usage::now());
}

// ---- c2t: a coroutine wakes a thread ---------------------------------------------------

// The waiting thread: says it is about to wait for each round, then waits (`wait`
// returns the round it received, and stamps the wake).
template <class Wait>
void wait_rounds(std::atomic<std::size_t>& armed, WakeLog& log, const std::string& impl, Wait&& wait) {
  for (std::size_t round = 0; round < log.rounds(); ++round) {
    armed.store(round + 1, std::memory_order_release);  // pairs with the signaller's acquire
    const std::uint64_t value = wait();
    log.woke_at[round] = now_ns();
    check_round(impl, value, round);
  }
}

bool waiter_ready(const std::atomic<std::size_t>& armed, std::size_t round) {
  // acquire: pairs with wait_rounds' release store; the waiter finished the last round.
  return armed.load(std::memory_order_acquire) == round + 1;
}

fev::Task<> c2t_fev_signaller(fev::Loop& loop, fev::Event& event, fev::Ring<std::uint64_t>* ring, Sent& sent,
                              const std::atomic<std::size_t>& armed, WakeLog& log, std::chrono::microseconds gap) {
  fev::Event never;  // only its timeout: the loop's timer spaces the rounds
  for (std::size_t round = 0; round < log.rounds(); ++round) {
    co_await fev::async_wait_for(loop, never, gap);
    while (!waiter_ready(armed, round)) co_await fev::async_wait_for(loop, never, std::chrono::microseconds(20));
    log.sent_at[round] = now_ns();
    if (ring != nullptr) {
      if (!co_await fev::async_push(loop, *ring, static_cast<std::uint64_t>(round + 1))) co_return;
    } else {
      sent.round = round + 1;
      event.set();
    }
  }
}

Row c2t_fev(const Options& options, bool through_ring) {
  fev::Loop loop;
  fev::Event event;
  fev::Ring<std::uint64_t> ring(64);
  Sent sent;
  std::atomic<std::size_t> armed{0};
  WakeLog log(options.wakes + kWarmup);
  const std::string impl = through_ring ? "fev Ring" : "fev Event";
  loop.spawn(c2t_fev_signaller(loop, event, through_ring ? &ring : nullptr, sent, armed, log, options.gap));
  const Usage before = Usage::now();
  std::thread waiter([&] {
    wait_rounds(armed, log, "c2t " + impl, [&]() -> std::uint64_t {
      if (through_ring) return ring.pop().value_or(0);
      event.wait();
      event.clear();  // before the next armed store: the next set() comes after it
      return sent.round;
    });
  });
  loop.run();
  waiter.join();
  return wake_row(impl, log, before, Usage::now());
}

void arm_timer(const fev_bench::FdSource& timer, std::chrono::microseconds after) {
  itimerspec when{};
  when.it_value.tv_nsec = static_cast<long>(std::chrono::nanoseconds(after).count());
  if (::timerfd_settime(timer.fd, 0, &when, nullptr) != 0) data_check_failed("timerfd_settime");
}

fev_bench::BridgeTask c2t_eventfd_writer(fev_bench::FdSource& timer, int wake_fd, Sent& sent,
                                         const std::atomic<std::size_t>& armed, WakeLog& log,
                                         std::chrono::microseconds gap) {
  for (std::size_t round = 0; round < log.rounds(); ++round) {
    arm_timer(timer, gap);
    co_await fev_bench::read_counter(timer);
    while (!waiter_ready(armed, round)) {
      arm_timer(timer, std::chrono::microseconds(20));
      co_await fev_bench::read_counter(timer);
    }
    sent.round = round + 1;
    log.sent_at[round] = now_ns();
    const std::uint64_t one = 1;
    if (::write(wake_fd, &one, sizeof one) != static_cast<ssize_t>(sizeof one)) data_check_failed("eventfd write");
  }
}

Row c2t_eventfd(const Options& options) {
  fev_bench::EpollLoop loop;
  fev_bench::FdSource timer(::timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC));
  fev_bench::FdSource wake(::eventfd(0, EFD_CLOEXEC));  // blocking: the thread sleeps in read()
  loop.watch(timer);
  Sent sent;
  std::atomic<std::size_t> armed{0};
  WakeLog log(options.wakes + kWarmup);
  const Usage before = Usage::now();
  std::thread reader([&] {
    wait_rounds(armed, log, "c2t eventfd", [&]() -> std::uint64_t {
      std::uint64_t count = 0;
      if (::read(wake.fd, &count, sizeof count) != static_cast<ssize_t>(sizeof count) || count != 1) {
        data_check_failed("c2t eventfd: read " + std::to_string(count) + " writes in one wake");
      }
      return sent.round;
    });
  });
  fev_bench::BridgeTask writer = c2t_eventfd_writer(timer, wake.fd, sent, armed, log, options.gap);
  loop.run_until([&] { return writer.done(); });
  reader.join();
  return wake_row("eventfd read()", log, before, Usage::now());
}

Row c2t_condvar(const Options& options) {
  CondvarSignal signal;
  std::atomic<std::size_t> armed{0};
  WakeLog log(options.wakes + kWarmup);
  const Usage before = Usage::now();
  std::thread waiter([&] {
    std::uint64_t round = 0;
    wait_rounds(armed, log, "c2t condvar", [&] { return signal.wait_for(++round); });
  });
  signal_rounds(options, armed, log, [&](std::uint64_t round) { signal.send(round); });
  waiter.join();
  return wake_row("condvar (threads)", log, before, Usage::now());
}

// ---- pingpong: two coroutines on one loop ---------------------------------------------------

struct PingPongLog {
  explicit PingPongLog(std::size_t rounds) : round_trip_ns(rounds) {}
  std::vector<std::int64_t> round_trip_ns;
  std::uint64_t sent = 0;    // written by the pinger before it signals
  std::uint64_t echoed = 0;  // written by the echo before it answers
  bool stop = false;
};

template <class E>
void consume(E& event) {
  if constexpr (requires { event.clear(); }) event.clear();  // an auto-reset event resets itself
}

template <class E, bool kViaExecutor = false>
fev::Task<> fev_pinger(fev::Loop& loop, E& ping, E& pong, PingPongLog& log, std::string impl) {
  for (std::size_t round = 0; round < log.round_trip_ns.size(); ++round) {
    const std::int64_t begin = now_ns();
    log.sent = round + 1;
    ping.set();
    co_await loop_wait<kViaExecutor>(loop, pong);
    consume(pong);
    log.round_trip_ns[round] = now_ns() - begin;
    check_round("pingpong " + impl, log.echoed, round);
  }
  log.stop = true;
  ping.set();
}

template <class E, bool kViaExecutor = false>
fev::Task<> fev_echo(fev::Loop& loop, E& ping, E& pong, PingPongLog& log) {
  for (;;) {
    co_await loop_wait<kViaExecutor>(loop, ping);
    consume(ping);
    if (log.stop) co_return;
    log.echoed = log.sent;
    pong.set();
  }
}

Row pingpong_row(std::string impl, PingPongLog& log, const Usage& before, const Usage& after) {
  Row row{std::move(impl), {}, {}, {}, {}, {}};
  add_usage(row, before, after, log.round_trip_ns.size());
  add_percentiles(row, std::move(log.round_trip_ns));
  return row;
}

template <class E, bool kViaExecutor = false>
Row pingpong_fev(const Options& options, std::string impl) {
  fev::Loop loop;
  E ping;
  E pong;
  PingPongLog log(options.rounds);
  loop.spawn(fev_echo<E, kViaExecutor>(loop, ping, pong, log));
  loop.spawn(fev_pinger<E, kViaExecutor>(loop, ping, pong, log, impl));
  const Usage before = Usage::now();
  loop.run();
  return pingpong_row(std::move(impl), log, before, Usage::now());
}

void write_one(int fd) {
  const std::uint64_t one = 1;
  if (::write(fd, &one, sizeof one) != static_cast<ssize_t>(sizeof one)) data_check_failed("eventfd write");
}

fev_bench::BridgeTask eventfd_pinger(fev_bench::FdSource& ping, fev_bench::FdSource& pong, PingPongLog& log) {
  for (std::size_t round = 0; round < log.round_trip_ns.size(); ++round) {
    const std::int64_t begin = now_ns();
    log.sent = round + 1;
    write_one(ping.fd);
    co_await fev_bench::read_counter(pong);
    log.round_trip_ns[round] = now_ns() - begin;
    check_round("pingpong eventfd", log.echoed, round);
  }
  log.stop = true;
  write_one(ping.fd);
}

fev_bench::BridgeTask eventfd_echo(fev_bench::FdSource& ping, fev_bench::FdSource& pong, PingPongLog& log) {
  for (;;) {
    co_await fev_bench::read_counter(ping);
    if (log.stop) co_return;
    log.echoed = log.sent;
    write_one(pong.fd);
  }
}

Row pingpong_eventfd(const Options& options) {
  fev_bench::EpollLoop loop;
  fev_bench::FdSource ping(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  fev_bench::FdSource pong(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  loop.watch(ping);
  loop.watch(pong);
  PingPongLog log(options.rounds);
  const Usage before = Usage::now();
  fev_bench::BridgeTask echo = eventfd_echo(ping, pong, log);
  fev_bench::BridgeTask pinger = eventfd_pinger(ping, pong, log);
  loop.run_until([&] { return echo.done() && pinger.done(); });
  return pingpong_row("eventfd + epoll", log, before, Usage::now());
}

// Asio: one channel per direction; the value sent is the round (0: stop).
template <class Channel>
fev_bench::net::awaitable<void> asio_pinger(Channel& ping, Channel& pong, PingPongLog& log, std::string impl) {
  for (std::size_t round = 0; round < log.round_trip_ns.size(); ++round) {
    const std::int64_t begin = now_ns();
    if (!ping.try_send(NetErrorCode{}, static_cast<std::uint64_t>(round + 1))) data_check_failed(impl + ": try_send refused");
    const std::uint64_t echoed = co_await pong.async_receive(fev_bench::net::use_awaitable);
    log.round_trip_ns[round] = now_ns() - begin;
    check_round("pingpong " + impl, echoed, round);
  }
  (void)ping.try_send(NetErrorCode{}, std::uint64_t{0});
}

template <class Channel>
fev_bench::net::awaitable<void> asio_echo(Channel& ping, Channel& pong, std::string impl) {
  for (;;) {
    const std::uint64_t round = co_await ping.async_receive(fev_bench::net::use_awaitable);
    if (round == 0) co_return;
    if (!pong.try_send(NetErrorCode{}, round)) data_check_failed(impl + ": try_send refused");
  }
}

template <class Channel>
Row pingpong_asio(const Options& options, std::string impl) {
  fev_bench::net::io_context context(1);
  Channel ping(context, 1);
  Channel pong(context, 1);
  PingPongLog log(options.rounds);
  fev_bench::net::co_spawn(context, asio_echo(ping, pong, impl), fev_bench::net::detached);
  fev_bench::net::co_spawn(context, asio_pinger(ping, pong, log, impl), fev_bench::net::detached);
  const Usage before = Usage::now();
  context.run();
  return pingpong_row(std::move(impl), log, before, Usage::now());
}

// ---- ring: one producer thread, four consumers --------------------------------------------

// Item `i` of the producer's sequence: 1..items (with --self-test-corrupt, 2 twice).
std::uint64_t item_at(const Options& options, std::uint64_t i) { return (options.corrupt && i == 1) ? 2 : i; }

using Taken = std::vector<std::vector<std::uint64_t>>;  // per consumer, in the order taken

Row ring_row(const Options& options, std::string impl, const Taken& taken, Clock::duration elapsed, const Usage& before,
             const Usage& after) {
  std::vector<std::uint8_t> times(options.items + 1, 0);
  std::uint64_t count = 0;
  for (const auto& mine : taken) {
    for (const std::uint64_t item : mine) {
      if (item == 0 || item > options.items) data_check_failed(impl + ": took item " + std::to_string(item));
      if (times[item] != 0) data_check_failed(impl + ": item " + std::to_string(item) + " taken twice");
      times[item] = 1;
      ++count;
    }
  }
  if (count != options.items) {
    data_check_failed(impl + ": took " + std::to_string(count) + " of " + std::to_string(options.items) + " items");
  }
  Row row{std::move(impl), {}, {}, {}, {}, {}};
  row.mitems_per_s = static_cast<double>(options.items) / std::chrono::duration<double>(elapsed).count() / 1e6;
  add_usage(row, before, after, options.items);
  return row;
}

fev::Task<> ring_coroutine_consumer(fev::Loop& loop, fev::Ring<std::uint64_t>& ring, std::vector<std::uint64_t>& mine) {
  while (const std::optional<std::uint64_t> item = co_await fev::async_pop(loop, ring)) mine.push_back(*item);
}

Row ring_fev(const Options& options, bool coroutines) {
  fev::Ring<std::uint64_t> ring(kRingCapacity);
  Taken taken(kConsumers);
  for (auto& mine : taken) mine.reserve(options.items);
  const Usage before = Usage::now();
  const auto begin = Clock::now();
  std::thread producer([&] {
    for (std::uint64_t i = 1; i <= options.items; ++i) (void)ring.push(item_at(options, i));  // closed only below
    ring.close();  // the consumers end once they drained it
  });
  if (coroutines) {
    fev::Loop loop;
    for (auto& mine : taken) loop.spawn(ring_coroutine_consumer(loop, ring, mine));
    loop.run();
  } else {
    std::vector<std::thread> consumers;
    for (auto& mine : taken) {
      consumers.emplace_back([&ring, &mine] {
        while (const std::optional<std::uint64_t> item = ring.pop()) mine.push_back(*item);
      });
    }
    for (std::thread& consumer : consumers) consumer.join();
  }
  producer.join();
  const auto end = Clock::now();
  return ring_row(options, coroutines ? "fev Ring, 4 coroutines" : "fev Ring, 4 threads", taken, end - begin, before,
                  Usage::now());
}

fev_bench::net::awaitable<void> ring_asio_consumer(AsioQueue& channel, std::vector<std::uint64_t>& mine) {
  for (;;) {
    const std::uint64_t item = co_await channel.async_receive(fev_bench::net::use_awaitable);
    if (item == 0) co_return;  // one stop item per consumer
    mine.push_back(item);
  }
}

Row ring_asio(const Options& options) {
  fev_bench::net::io_context context(1);
  AsioQueue channel(context, kRingCapacity);
  Taken taken(kConsumers);
  for (auto& mine : taken) {
    mine.reserve(options.items);
    fev_bench::net::co_spawn(context, ring_asio_consumer(channel, mine), fev_bench::net::detached);
  }
  const Usage before = Usage::now();
  const auto begin = Clock::now();
  std::thread producer([&] {
    for (std::uint64_t i = 1; i <= options.items; ++i) asio_send_from_thread(channel, item_at(options, i));
    for (int c = 0; c < kConsumers; ++c) asio_send_from_thread(channel, 0);
  });
  context.run();  // until every consumer took its stop item
  producer.join();
  const auto end = Clock::now();
  return ring_row(options, "Asio channel, 4 coroutines", taken, end - begin, before, Usage::now());
}

// ---- Output ------------------------------------------------------------------------------

using fev_bench::Better;
using Column = fev_bench::Column<Row>;

bool is_fev(const Row& row) { return row.impl.rfind("fev", 0) == 0; }

// "level" (within 10%), "2.10x better" or "1.40x worse": `fev` against the best row
// that is not fev, in one column; "-" when either is missing.
std::string against_best_peer(const std::vector<Row>& rows, const Row& fev, const Column& column) {
  std::optional<double> best;
  for (const Row& row : rows) {
    const std::optional<double> value = row.*column.field;
    if (is_fev(row) || !value) continue;
    if (!best || fev_bench::beats(column.better, *value, *best)) best = value;
  }
  const std::optional<double> mine = fev.*column.field;
  // A value that shows as 0 at the column's precision (no context switch in a thousand
  // rounds) gives no meaningful ratio.
  const double shown_zero = 0.5 * std::pow(10.0, -column.precision) / column.scale;
  if (!mine || !best || *mine < shown_zero || *best < shown_zero) return "-";
  return fev_bench::against_best_peer_text(column.better, *mine, *best);
}

constexpr int kNameWidth = 36;

void print_table(const std::string& title, const std::vector<Column>& columns, const std::vector<Row>& rows) {
  std::printf("\n%s\n    %-*s", title.c_str(), kNameWidth, "impl");
  for (const Column& column : columns) std::printf(" %13s", column.title);
  std::printf("\n");
  for (const Row& row : rows) {
    std::printf("    %-*s", kNameWidth, row.impl.c_str());
    for (const Column& column : columns) {
      std::optional<double> value = row.*column.field;
      if (value) *value *= column.scale;
      std::printf(" %13s", fev_bench::value_text(value, column.precision).c_str());
    }
    std::printf("\n");
  }
  for (const Row& row : rows) {
    if (!is_fev(row)) continue;
    std::printf("    %-*s", kNameWidth, (row.impl + " vs best peer").c_str());
    for (const Column& column : columns) std::printf(" %13s", against_best_peer(rows, row, column).c_str());
    std::printf("\n");
  }
  std::fflush(stdout);
}

// The rows of one section, each run `repeat` times, interleaved (A B C, A B C, ...) so
// that slow drifts in the machine's load reach every row alike; each column shows the
// median of the runs. Every run is under the watchdog.
class Section {
 public:
  void add(std::string label, std::function<Row()> make) { makers_.emplace_back(std::move(label), std::move(make)); }

  std::vector<Row> run(Watchdog& watchdog, std::size_t repeat) const {
    std::vector<std::vector<Row>> runs(makers_.size());
    for (std::size_t run = 0; run < repeat; ++run) {
      for (std::size_t i = 0; i < makers_.size(); ++i) {
        watchdog.arm(makers_[i].first + " (run " + std::to_string(run + 1) + ")");
        runs[i].push_back(makers_[i].second());
        watchdog.disarm();
      }
    }
    std::vector<Row> medians;
    for (const std::vector<Row>& mine : runs) {
      Row row{mine.front().impl, {}, {}, {}, {}, {}};
      for (std::optional<double> Row::*field : {&Row::p50_ns, &Row::p99_ns, &Row::mitems_per_s, &Row::cpu_us,
                                                &Row::switches}) {
        std::vector<double> values;
        for (const Row& one : mine) {
          if (one.*field) values.push_back(*(one.*field));
        }
        if (values.empty()) continue;
        std::sort(values.begin(), values.end());
        row.*field = values[(values.size() - 1) / 2];  // the median (the lower one of an even count)
      }
      medians.push_back(std::move(row));
    }
    return medians;
  }

 private:
  std::vector<std::pair<std::string, std::function<Row()>>> makers_;
};

// ---- Command line --------------------------------------------------------------------------

void usage(std::FILE* to) {
  std::fprintf(to,
               "usage: async_bench [options]\n"
               "  --quick            a smoke run: tiny counts, a few seconds\n"
               "  --wakes N          t2c, c2t: wakes per row (default 2000)\n"
               "  --gap-us N         t2c, c2t: time the waiter has to park before each signal (default 200)\n"
               "  --rounds N         pingpong: round trips per row (default 100000)\n"
               "  --items N          ring: items per row (default 1048576)\n"
               "  --repeat N         runs of each row, interleaved; the table shows medians (default 3)\n"
               "  --section S,...    t2c, c2t, pingpong, ring (default all)\n"
               "  --stall-s N        a row that takes longer fails the data check (default 60)\n");
}

using fev_bench::parse_int;

// Returns an empty string, or the reason the arguments are bad.
std::string parse(int argc, char** argv, Options& options) {
  bool wakes_given = false, rounds_given = false, items_given = false, repeat_given = false;
  fev_bench::Arguments args(argc, argv);
  while (args.next()) {
    const std::string_view arg = args.name();
    std::string_view value;
    const auto need_value = [&] { return args.value(value); };
    const std::string bad = "bad or missing value for " + std::string(arg);
    long gap_us = 0;
    if (arg == "--help" || arg == "-h") {
      usage(stdout);
      std::exit(0);
    } else if (arg == "--quick") {
      options.quick = true;
    } else if (arg == "--self-test-corrupt") {
      options.corrupt = true;
    } else if (arg == "--wakes") {
      if (!need_value() || !parse_int(value, options.wakes) || options.wakes == 0) return bad + " (>= 1)";
      wakes_given = true;
    } else if (arg == "--gap-us") {
      if (!need_value() || !parse_int(value, gap_us) || gap_us < 1 || gap_us >= 1000000) return bad + " (1..999999)";
      options.gap = std::chrono::microseconds(gap_us);
    } else if (arg == "--rounds") {
      if (!need_value() || !parse_int(value, options.rounds) || options.rounds == 0) return bad + " (>= 1)";
      rounds_given = true;
    } else if (arg == "--items") {
      if (!need_value() || !parse_int(value, options.items) || options.items < 2) return bad + " (>= 2)";
      items_given = true;
    } else if (arg == "--repeat") {
      if (!need_value() || !parse_int(value, options.repeat) || options.repeat == 0) return bad + " (>= 1)";
      repeat_given = true;
    } else if (arg == "--stall-s") {
      if (!need_value() || !parse_int(value, options.stall_s) || options.stall_s <= 0) return bad + " (>= 1)";
    } else if (arg == "--section") {
      if (!need_value()) return bad;
      options.sections = fev_bench::split(value);
      for (const std::string& section : options.sections) {
        if (section != "t2c" && section != "c2t" && section != "pingpong" && section != "ring")
          return "unknown section " + section + " (t2c, c2t, pingpong, ring)";
      }
    } else {
      return "unknown argument " + std::string(args.whole());
    }
  }
  if (options.quick) {
    if (!wakes_given) options.wakes = 50;
    if (!rounds_given) options.rounds = 500;
    if (!items_given) options.items = 16384;
    if (!repeat_given) options.repeat = 1;
  }
  return {};
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  if (const std::string error = parse(argc, argv, options); !error.empty()) {
    std::fprintf(stderr, "async_bench: %s (see --help)\n", error.c_str());
    return kBadArgument;
  }
  if (!fev::Loop::supported()) {
    std::puts("async_bench: io_uring unavailable here: skipped");
    return kSkipped;
  }
  (void)::prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);  // precise spacing sleeps; harmless if refused
  bool futex_waits = false;
  {
    const fev::Loop probe;
    futex_waits = probe.futex_waits();
  }
  std::printf("async_bench: %u CPUs online; fev::Loop waits %s; %s %d.%d.%d%s\n", std::thread::hardware_concurrency(),
              futex_waits ? "in io_uring futex waits" : "by polling every 1 ms (no io_uring futex waits here)",
              fev_bench::kAsioFlavour, fev_bench::kAsioVersion / 100000, fev_bench::kAsioVersion / 100 % 1000,
              fev_bench::kAsioVersion % 100, options.quick ? "; --quick" : "");
  Watchdog watchdog("async_bench", std::chrono::seconds(options.stall_s), "a lost wake");

  const std::vector<Column> wake_columns{{"p50 us", &Row::p50_ns, 1, Better::lower, 1e-3},
                                         {"p99 us", &Row::p99_ns, 1, Better::lower, 1e-3},
                                         {"CPU us/wake", &Row::cpu_us, 1, Better::lower, 1},
                                         {"switch/wake", &Row::switches, 2, Better::lower, 1}};
  const std::string wake_note = std::to_string(options.wakes) + " wakes, each " + std::to_string(options.gap.count()) +
                                " us after the waiter said it waits; CPU and switches of the whole process";

  if (options.wants("t2c")) {
    Section section;
    section.add("t2c fev Event", [&] { return t2c_fev_event(options); });
    section.add("t2c fev Event, loop executor", [&] { return t2c_fev_event<true>(options); });
    section.add("t2c fev Ring", [&] { return t2c_fev_ring(options); });
    section.add("t2c eventfd", [&] { return t2c_eventfd(options); });
    section.add("t2c Asio", [&] { return t2c_asio(options); });
    section.add("t2c condvar", [&] { return t2c_condvar(options); });
    const std::vector<Row> rows = section.run(watchdog, options.repeat);
    print_table("thread -> coroutine wake (signal -> coroutine running), " + wake_note, wake_columns, rows);
  }

  if (options.wants("c2t")) {
    Section section;
    section.add("c2t fev Event", [&] { return c2t_fev(options, false); });
    section.add("c2t fev Ring", [&] { return c2t_fev(options, true); });
    section.add("c2t eventfd", [&] { return c2t_eventfd(options); });
    section.add("c2t condvar", [&] { return c2t_condvar(options); });
    const std::vector<Row> rows = section.run(watchdog, options.repeat);
    print_table("coroutine -> thread wake (signal -> thread running), " + wake_note, wake_columns, rows);
    std::printf("    (no Asio row: a plain thread cannot block on an Asio channel, only try_receive)\n");
  }

  if (options.wants("pingpong")) {
    Section section;
    section.add("pingpong fev Event", [&] { return pingpong_fev<fev::Event>(options, "fev Event"); });
    section.add("pingpong fev Event, loop executor",
                [&] { return pingpong_fev<fev::Event, true>(options, "fev Event, loop executor"); });
    section.add("pingpong fev AutoResetEvent",
            [&] { return pingpong_fev<fev::AutoResetEvent>(options, "fev AutoResetEvent"); });
    section.add("pingpong eventfd", [&] { return pingpong_eventfd(options); });
    section.add("pingpong Asio channel",
            [&] { return pingpong_asio<AsioLocalChannel>(options, "Asio channel"); });
    section.add("pingpong Asio concurrent_channel",
            [&] { return pingpong_asio<AsioQueue>(options, "Asio concurrent_channel"); });
    const std::vector<Row> rows = section.run(watchdog, options.repeat);
    print_table("coroutine ping-pong on one loop's thread, " + std::to_string(options.rounds) + " round trips",
                {{"p50 ns", &Row::p50_ns, 0, Better::lower, 1},
                 {"p99 ns", &Row::p99_ns, 0, Better::lower, 1},
                 {"CPU ns/round", &Row::cpu_us, 0, Better::lower, 1e3},
                 {"switch/round", &Row::switches, 3, Better::lower, 1}},
                rows);
  }

  if (options.wants("ring")) {
    Section section;
    section.add("ring fev coroutines", [&] { return ring_fev(options, true); });
    section.add("ring fev threads", [&] { return ring_fev(options, false); });
    section.add("ring Asio", [&] { return ring_asio(options); });
    const std::vector<Row> rows = section.run(watchdog, options.repeat);
    print_table("1 producer thread -> 4 consumers, capacity 1024, " + std::to_string(options.items) + " items",
                {{"M items/s", &Row::mitems_per_s, 2, Better::higher, 1},
                 {"CPU us/item", &Row::cpu_us, 3, Better::lower, 1},
                 {"switch/item", &Row::switches, 3, Better::lower, 1}},
                rows);
  }
  return 0;
}
