// SPDX-License-Identifier: MIT
// futex_waitv stand-in for platforms without it (meson found no struct futex_waitv):
// wait_any/wait_all take their slow path there.
#include "futex_waitv.hpp"

namespace fev::detail {

WaitvResult waitv_sleep(std::atomic<std::uint32_t>* const*, const std::uint32_t*, std::size_t, bool,
                        Deadline) noexcept {
  return WaitvResult::unsupported;
}

bool futex_waitv_probe() noexcept { return false; }

}  // namespace fev::detail
