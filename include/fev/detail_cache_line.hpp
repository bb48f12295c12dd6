// SPDX-License-Identifier: MIT
// fev/detail_cache_line.hpp — how far apart data written by different threads is kept.
//
// A project constant, not std::hardware_destructive_interference_size: g++ 12 warns
// about that one in headers (-Winterference-size), and it differs between compiler
// versions and flags, which would change fev's layout (and SharedRing's) between builds.
#pragma once

#include "fev/cxx20.hpp"  // first: below C++20, one clear error instead of many

#include <cstddef>

namespace fev::detail {

// The coherence unit of the target, that is one slot, bucket or counter of its own.
// s390x: 256-byte lines. aarch64: 128, because one Linux arm64 binary runs on Apple
// silicon (128-byte lines) as well as on Neoverse servers (64), and the compiler cannot
// tell which: a slot too wide only costs memory, one too narrow costs false sharing.
// POWER: 128-byte lines. Everything else (x86-64 included): 64. The same choice as
// crossbeam's CachePadded.
#if defined(__s390x__)
inline constexpr std::size_t kCacheLine = 256;
#elif defined(__aarch64__) || defined(_M_ARM64) || defined(__powerpc64__) || defined(_ARCH_PPC64)
inline constexpr std::size_t kCacheLine = 128;
#else
inline constexpr std::size_t kCacheLine = 64;
#endif

// Two hot words written by different threads (a ring's head and tail) are kept at
// least this far apart: a whole line, and never under 128 bytes, because x86-64's
// adjacent-line prefetcher fetches 64-byte lines in aligned pairs, so two counters
// within the same 128 bytes still bounce between cores.
inline constexpr std::size_t kHotWordDistance = kCacheLine < 128 ? 128 : kCacheLine;

}  // namespace fev::detail
