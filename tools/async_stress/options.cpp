// SPDX-License-Identifier: MIT
#include "options.hpp"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

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
  --help                 this text
Options take their value as the next argument or after '=' (--seconds=2).
Exit status: 0 pass, 1 fail, 2 bad arguments, 77 io_uring unavailable here (skip).
)";

std::uint64_t parse_count(std::string_view flag, const char* text, std::uint64_t min, std::uint64_t max) {
  char* end = nullptr;
  errno = 0;
  const unsigned long long value = std::strtoull(text, &end, 10);
  if (errno != 0 || end == text || *end != '\0' || text[0] == '-' || value < min || value > max) {
    reject(std::string(flag) + " needs an integer in [" + std::to_string(min) + ", " + std::to_string(max) +
           "], got '" + text + "'");
  }
  return value;
}

double parse_seconds(std::string_view flag, const char* text) {
  char* end = nullptr;
  const double value = std::strtod(text, &end);
  if (end == text || *end != '\0' || !(value > 0) || value > 86400) {
    reject(std::string(flag) + " needs a number of seconds in (0, 86400], got '" + text + "'");
  }
  return value;
}

}  // namespace

void reject(const std::string& reason) {
  std::fprintf(stderr, "async_stress: %s\nrun 'async_stress --help' for the options\n", reason.c_str());
  std::exit(2);
}

Options parse(int argc, char** argv) {
  Options options;
  for (int i = 1; i < argc; ++i) {
    std::string_view flag = argv[i];
    // "--opt=value": the value is the text after the first '='.
    std::optional<std::string> attached;
    if (const auto equals = flag.find('='); flag.substr(0, 2) == "--" && equals != std::string_view::npos) {
      attached = std::string(flag.substr(equals + 1));
      flag = flag.substr(0, equals);
    }
    const auto value = [&]() -> const char* {
      if (attached) return attached->c_str();
      if (i + 1 >= argc) reject(std::string(flag) + " needs a value");
      return argv[++i];
    };
    // Options without a value refuse one given with '='.
    const auto no_value = [&] {
      if (attached) reject(std::string(flag) + " takes no value, got '" + *attached + "'");
    };
    if (flag == "--help" || flag == "-h") {
      no_value();
      std::fputs(kUsage, stdout);
      std::exit(0);
    } else if (flag == "--seconds") {
      options.seconds = parse_seconds(flag, value());
    } else if (flag == "--seed") {
      options.seed = parse_count(flag, value(), 0, ~std::uint64_t{0});
    } else if (flag == "--fallback") {
      no_value();
      options.fallback = true;
    } else if (flag == "--threads") {
      options.threads = static_cast<int>(parse_count(flag, value(), 1, 64));
    } else if (flag == "--coroutines") {
      options.coroutines = static_cast<int>(parse_count(flag, value(), 1, 256));
    } else if (flag == "--pool-threads") {
      options.pool_threads = static_cast<int>(parse_count(flag, value(), 1, 16));
    } else if (flag == "--pool-coroutines") {
      options.pool_coroutines = static_cast<int>(parse_count(flag, value(), 0, 256));
    } else if (flag == "--stall-seconds") {
      options.stall_seconds = parse_seconds(flag, value());
    } else if (flag == "--progress-seconds") {
      options.progress_seconds = parse_seconds(flag, value());
    } else if (flag == "--lose-one") {
      no_value();
      options.lose_one = true;
    } else if (flag == "--stuck-coroutine") {
      no_value();
      options.stuck_coroutine = true;
    } else if (flag == "--expect-failure") {
      no_value();
      options.expect_failure = true;
    } else {
      reject("unknown argument '" + std::string(flag) + "'");
    }
  }
  return options;
}

}  // namespace async_stress
