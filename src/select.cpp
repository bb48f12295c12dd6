// SPDX-License-Identifier: MIT
// fev::select's one sleep (see fev/select.hpp): futex_waitv(2) on every case's word and
// the select's own stop word, where the process has it.
#include <atomic>
#include <cstddef>
#include <cstdint>

#include "backend/futex_waitv.hpp"
#include "fev/select.hpp"

namespace fev::detail {

bool select_sleep(std::atomic<std::uint32_t>* const* words, const std::uint32_t* expected, std::size_t count,
                  ManyKind kind, Deadline deadline) noexcept {
  if (kind == ManyKind::other || !futex_waitv_live()) return false;
  return waitv_sleep(words, expected, count, kind == ManyKind::futex_shared, deadline) != WaitvResult::unsupported;
}

}  // namespace fev::detail
