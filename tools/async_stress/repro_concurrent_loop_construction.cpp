// SPDX-License-Identifier: MIT
// Reproducer, not built by meson: two fev::Loops constructed at the same time on two
// threads make ThreadSanitizer report a data race in fev::detail::prep_futex_wait
// (memset of an SQE), called from the io_uring futex probe (uring_futex_mode ->
// probe -> woken_by_set) of both constructors. Each probe maps a scratch ring and
// unmaps it; liburing maps with raw system calls that TSan does not intercept, so when
// the second scratch ring lands on the address of the first, TSan takes the two
// threads' writes to one SQE slot for a race. A false positive in itself, but every
// program that starts two loops at once on two threads under TSan gets it (the probe's
// result is cached, so only the first constructions race). tools/async_stress
// constructs its loops one after the other to avoid it.
//
// From the repository root, with a TSan build in build-tsan (CXX=clang++ meson setup
// build-tsan -Db_sanitize=thread -Db_lundef=false; ninja -C build-tsan libfev.a):
//   clang++ -std=c++20 -fsanitize=thread -g -O1 -Iinclude -Ibuild-tsan/include -Itests/config \
//     tools/async_stress/repro_concurrent_loop_construction.cpp build-tsan/libfev.a -luring -lboost_atomic \
//     -o /tmp/repro
//   for i in $(seq 20); do TSAN_OPTIONS=halt_on_error=1 /tmp/repro || break; done
// (about one run in two reports it, on Linux 6.18 with liburing 2.3).
//
// Exits 0 where TSan stays quiet; a report exits 66.
#include <cstdio>
#include <thread>

#include "fev/loop.hpp"

int main() {
  if (!fev::Loop::supported()) return 77;
  auto construct = [] { fev::Loop loop; };
  std::thread a(construct), b(construct);
  a.join();
  b.join();
  std::puts("two loops constructed at once: no report");
  return 0;
}
