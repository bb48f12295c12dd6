// SPDX-License-Identifier: MIT
// Command-line options of tools/stress.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace stress {

enum class Mode { try_ops, blocking, timed, mixed };

struct Options {
  int producers = 2;
  int consumers = 2;
  std::size_t capacity = 16;  // of each ring
  int rings = 1;              // producers spread their items over this many rings
  int selecting = 0;          // consumers that fev::select over every ring (the others pop one ring each)
  std::uint64_t items = 0;   // per producer; 0 means "run for `seconds`"
  double seconds = 2.0;
  std::uint64_t min_ops = 0;  // --seconds runs go on until this many ring calls were made...
  double max_seconds = 0;     // ...but stop here regardless (0: ten times `seconds`)
  Mode mode = Mode::blocking;
  std::uint64_t seed = 1;
  std::uint64_t pop_delay_us = 0;  // consumers sleep this long after each pop
  std::int64_t spin_ns = -1;       // fev::set_spin_limit before the run (-1: leave the default)
  bool close_early = false;  // a closer thread closes the ring while producers push
  bool chaos = false;        // random yields and sleeps between the ring's atomic steps
  bool broken = false;       // the deliberately broken ring (no consumer wake)
  bool deaf_consumer = false;  // consumer 0's parking wait ignores wakes until the run ends
  bool expect_failure = false;
  double stall_seconds = 5.0;     // watchdog: no progress for this long fails the run
  double thread_stall_seconds = 0;  // one thread blocked this long with work for it (0: stall_seconds)
  double progress_seconds = 1.0;  // how often the progress line is printed
  std::uint64_t max_items = std::uint64_t{1} << 24;  // per producer, bounds the ledger
};

// Parses argv; a value follows its option as the next argument or after '='. On --help
// prints usage and exits 0; on a bad argument prints the reason and a hint to stderr and
// exits 2.
Options parse(int argc, char** argv);

// Prints "stress: <reason>" and a one-line hint to stderr and exits 2.
[[noreturn]] void reject(const std::string& reason);

const char* mode_name(Mode mode);

}  // namespace stress
