// SPDX-License-Identifier: MIT
// fev/detail_error.hpp — how fev's headers refuse a bad argument.
//
// With exceptions (the default) a bad argument throws std::invalid_argument. Built
// with -fno-exceptions, the same call writes the reason as one line to stderr and
// calls std::abort(): a bad capacity or a misaligned buffer is a programming error
// that a caller without exceptions could not handle anyway.
#pragma once

#include "fev/cxx20.hpp"  // first: below C++20, one clear error instead of many

#include <cstdio>
#include <cstdlib>
#include <stdexcept>

namespace fev::detail {

[[noreturn]] inline void fail_invalid_argument(const char* reason) {
#if defined(__cpp_exceptions) || defined(__EXCEPTIONS) || defined(_CPPUNWIND)
  throw std::invalid_argument(reason);
#else
  std::fprintf(stderr, "%s\n", reason);
  std::abort();
#endif
}

// A broken invariant that no caller can handle (an Event destroyed while coroutines
// wait on it): one line to stderr, then std::abort(), with or without exceptions.
[[noreturn]] inline void fatal_error(const char* reason) noexcept {
  std::fprintf(stderr, "%s\n", reason);
  std::abort();
}

}  // namespace fev::detail
