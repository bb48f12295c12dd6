// SPDX-License-Identifier: MIT
#include "options.hpp"

#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "../common/arguments.hpp"

namespace stress {
namespace {

constexpr const char* kUsage = R"(usage: stress [options]
Pushes numbered items through fev::Rings from N producers to M consumers and checks
exactly-once delivery, per-producer FIFO order (per ring), that close() drains, and
(watchdog) that no thread stalls while work is pending.

  --producers N        producer threads (1..256, default 2)
  --consumers M        consumer threads (1..256, default 2)
  --capacity C         ring capacity (>= 1, default 16), of each ring
  --rings R            rings (1..4, default 1): each producer spreads its items over
                       them, moving on to the next ring with each item; the last
                       producer to finish closes them all (--close-early: one at a
                       time, and producers keep to the rings still open)
  --selecting K        K of the consumers (0..M, default 0) wait on every ring in one
                       fev::select (blocking: select; timed: select_for; try:
                       try_select), with one more case, on_set of an event the last
                       producer sets (2 or 4 ring cases: idle rings, never pushed
                       to, fill in for rings the run does not have); a ring that
                       answers closed is replaced by an idle ring, the event by one
                       never set once its case fired. The other consumers pop one
                       ring each, round robin.
  --items K            items per producer (then the run ends when all are through)
  --seconds S          run time when --items is not given (default 2)
  --min-ops N          with --seconds: go on past S until N ring calls were made
                       (pushes and pops, failed tries and timed-out waits included)
  --max-seconds S      with --min-ops: stop here even if N was not reached
                       (default 10 times --seconds)
  --mode MODE          try | blocking | timed | mixed (default blocking)
  --seed X             seed for the random choices (default 1)
  --pop-delay-us D     each consumer sleeps D microseconds after each pop (slow
                       consumers keep the ring full)
  --spin-ns N          fev::set_spin_limit(N ns) before the run (0: park at once,
                       no spinning or yielding; default: the library's)
  --close-early        close the ring at a random moment while producers push
  --chaos              random yields and short sleeps between the ring's atomic steps
  --stall-seconds T    watchdog: fail when nothing moves for T seconds (default 5)
  --thread-stall-seconds U
                       watchdog: fail when one thread stays asleep in one blocking
                       push (pop), or in one ring call of a try or timed retry
                       loop, for U seconds while the ring has free slots (items) at
                       every sample, taken every 5 ms (default: the --stall-seconds
                       value); a thread waiting for a CPU, or a retry loop that
                       keeps losing the race, is not a stall
  --progress-seconds P print a progress line every P seconds (default 1)
  --max-items K        cap on items per producer in --seconds runs (default 16777216)
  --broken             use the deliberately broken ring (never wakes consumers);
                       with --selecting it needs futex_waitv (else exit status 77)
  --deaf-consumer      consumer 0 parks on a wait that ignores wakes until the run
                       ends, while the others carry the items (self-test)
  --expect-failure     exit 0 only if the run FAILS (self-test of the harness)
  --help               this text
Options take their value as the next argument or after '=' (--capacity=3).
Exit status: 0 pass, 1 fail, 2 bad arguments, 77 skipped.
)";

}  // namespace

void reject(const std::string& reason) { tool_args::reject("stress", reason); }

const char* mode_name(Mode mode) {
  switch (mode) {
    case Mode::try_ops: return "try";
    case Mode::blocking: return "blocking";
    case Mode::timed: return "timed";
    case Mode::mixed: return "mixed";
  }
  return "?";
}

Options parse(int argc, char** argv) {
  Options options;
  bool seconds_given = false;
  bool max_seconds_given = false;
  tool_args::Arguments args("stress", argc, argv);
  while (args.next()) {
    const std::string_view flag = args.flag();
    if (flag == "--help" || flag == "-h") {
      args.no_value();
      std::fputs(kUsage, stdout);
      std::exit(0);
    } else if (flag == "--producers") {
      options.producers = static_cast<int>(args.count(1, 256));
    } else if (flag == "--consumers") {
      options.consumers = static_cast<int>(args.count(1, 256));
    } else if (flag == "--capacity") {
      options.capacity = args.count(1, std::uint64_t{1} << 30);
    } else if (flag == "--rings") {
      options.rings = static_cast<int>(args.count(1, 4));
    } else if (flag == "--selecting") {
      options.selecting = static_cast<int>(args.count(0, 256));
    } else if (flag == "--items") {
      options.items = args.count(1, std::uint64_t{1} << 32);
    } else if (flag == "--seconds") {
      options.seconds = args.seconds();
      seconds_given = true;
    } else if (flag == "--min-ops") {
      options.min_ops = args.count(1, std::uint64_t{1} << 40);
    } else if (flag == "--max-seconds") {
      options.max_seconds = args.seconds();
      max_seconds_given = true;
    } else if (flag == "--mode") {
      const std::string_view mode = args.value();
      if (mode == "try") options.mode = Mode::try_ops;
      else if (mode == "blocking") options.mode = Mode::blocking;
      else if (mode == "timed") options.mode = Mode::timed;
      else if (mode == "mixed") options.mode = Mode::mixed;
      else args.reject("--mode must be try, blocking, timed or mixed, got '" + std::string(mode) + "'");
    } else if (flag == "--seed") {
      options.seed = args.count(0, ~std::uint64_t{0});
    } else if (flag == "--pop-delay-us") {
      options.pop_delay_us = args.count(0, 1000000);
    } else if (flag == "--spin-ns") {
      options.spin_ns = static_cast<std::int64_t>(args.count(0, 1000000000));
    } else if (flag == "--close-early") {
      args.no_value();
      options.close_early = true;
    } else if (flag == "--chaos") {
      args.no_value();
      options.chaos = true;
    } else if (flag == "--broken") {
      args.no_value();
      options.broken = true;
    } else if (flag == "--deaf-consumer") {
      args.no_value();
      options.deaf_consumer = true;
    } else if (flag == "--expect-failure") {
      args.no_value();
      options.expect_failure = true;
    } else if (flag == "--stall-seconds") {
      options.stall_seconds = args.seconds();
    } else if (flag == "--thread-stall-seconds") {
      options.thread_stall_seconds = args.seconds();
    } else if (flag == "--progress-seconds") {
      options.progress_seconds = args.seconds();
    } else if (flag == "--max-items") {
      options.max_items = args.count(1, std::uint64_t{1} << 32);
    } else {
      args.reject("unknown argument '" + std::string(flag) + "'");
    }
  }
  if (options.items != 0 && seconds_given) reject("give --items or --seconds, not both");
  if (options.items != 0 && (options.min_ops != 0 || max_seconds_given))
    reject("--min-ops and --max-seconds go with --seconds runs, not with --items");
  if (max_seconds_given && options.max_seconds < options.seconds)
    reject("--max-seconds must not be below --seconds");
  if (options.broken && options.deaf_consumer) reject("give --broken or --deaf-consumer, not both");
  if (options.selecting > options.consumers) reject("--selecting must not exceed --consumers");
  if (options.deaf_consumer && (options.selecting != 0 || options.rings != 1))
    reject("--deaf-consumer goes with one ring and no --selecting");
  if (options.items != 0) options.max_items = options.items;
  if (!max_seconds_given) options.max_seconds = 10 * options.seconds;
  if (options.thread_stall_seconds == 0) options.thread_stall_seconds = options.stall_seconds;
  return options;
}

}  // namespace stress
