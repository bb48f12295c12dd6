// SPDX-License-Identifier: MIT
#include "options.hpp"

#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "../common/arguments.hpp"

namespace async_stress {
namespace {

constexpr const char* kUsage = R"(usage: async_stress [options]
Plain threads, coroutines on two fev::Loop instances (each on its own thread) and, where
the library has one, coroutines on a thread-pool executor share fev::Events,
fev::AutoResetEvents and fev::Rings (capacities 1, 2, 7, 64), with random timeouts and
random cancellations through std::stop_source from other threads. Checks: nothing hangs
(watchdog), every co_await resumes its coroutine exactly once and on that coroutine's
own thread (loop) or executor, every value a push reported pushed is popped exactly once
(none invented, none lost: a cancelled or timed-out push pushed nothing, a cancelled or
timed-out pop took nothing), an Event wait returns true only if a set() came after the
event was last clear, an AutoResetEvent hands out no more signals than set() calls, a
timeout returns no earlier than its deadline, and a cancellation only when asked for.

  --seconds S            run time (default 3)
  --seed X               seed for the random choices (default 1)
  --fallback             the loops take the polling path (no io_uring futex waits)
  --threads N            plain worker threads (1..64, default 4)
  --coroutines N         coroutines on each of the two loops (1..256, default 6)
  --pool-threads N       executor threads (1..16, default 2; used where the library
                         offers waits for coroutines on any executor)
  --pool-coroutines N    coroutines on that executor (0..256, default 4)
  --stall-seconds T      watchdog: fail when one operation lasts T seconds, or when no
                         operation completes for T seconds (default 10)
  --progress-seconds P   print a progress line every P seconds (default 1)
  --lose-one             drop one popped value on purpose (the run must then fail)
  --stuck-coroutine      coroutine 0 on loop 0 first waits, untimed and with no stop
                         token, on an event nobody sets (the watchdog must fail the run)
  --expect-failure       exit 0 only if the run FAILS (self-test of the checks)
  --churn-ms M           every 1..2M ms, stop each loop and destroy it with its coroutines
                         suspended mid-operation, stop requests and posts in flight, then
                         build a new loop for them (1..10000; default: loops live all run)
  --help                 this text
Options take their value as the next argument or after '=' (--seconds=2).
Exit status: 0 pass, 1 fail, 2 bad arguments, 77 io_uring unavailable here (skip).
)";

}  // namespace

void reject(const std::string& reason) { tool_args::reject("async_stress", reason); }

Options parse(int argc, char** argv) {
  Options options;
  tool_args::Arguments args("async_stress", argc, argv);
  while (args.next()) {
    const std::string_view flag = args.flag();
    if (flag == "--help" || flag == "-h") {
      args.no_value();
      std::fputs(kUsage, stdout);
      std::exit(0);
    } else if (flag == "--seconds") {
      options.seconds = args.seconds();
    } else if (flag == "--seed") {
      options.seed = args.count(0, ~std::uint64_t{0});
    } else if (flag == "--fallback") {
      args.no_value();
      options.fallback = true;
    } else if (flag == "--threads") {
      options.threads = static_cast<int>(args.count(1, 64));
    } else if (flag == "--coroutines") {
      options.coroutines = static_cast<int>(args.count(1, 256));
    } else if (flag == "--pool-threads") {
      options.pool_threads = static_cast<int>(args.count(1, 16));
    } else if (flag == "--pool-coroutines") {
      options.pool_coroutines = static_cast<int>(args.count(0, 256));
    } else if (flag == "--stall-seconds") {
      options.stall_seconds = args.seconds();
    } else if (flag == "--progress-seconds") {
      options.progress_seconds = args.seconds();
    } else if (flag == "--lose-one") {
      args.no_value();
      options.lose_one = true;
    } else if (flag == "--stuck-coroutine") {
      args.no_value();
      options.stuck_coroutine = true;
    } else if (flag == "--churn-ms") {
      options.churn_ms = static_cast<int>(args.count(1, 10000));
    } else if (flag == "--expect-failure") {
      args.no_value();
      options.expect_failure = true;
    } else {
      args.reject("unknown argument '" + std::string(flag) + "'");
    }
  }
  return options;
}

}  // namespace async_stress
