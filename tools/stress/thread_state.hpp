// SPDX-License-Identifier: MIT
// Whether a thread of this process is asleep in the kernel, for the stress harness's
// per-thread watchdog: a thread parked beside work it could take has missed a wake,
// while one that is runnable but gets no CPU (a loaded machine) is only slow.
#pragma once

namespace stress {

// The calling thread's id as the kernel names it (Linux: gettid()); 0 where unknown.
long current_os_thread_id() noexcept;

// Whether the thread `os_id` of this process is asleep in the kernel now (Linux: state
// S or D in /proc/self/task/<id>/stat: parked on a futex, or on several in one
// futex_waitv as fev::select parks, sleeping, blocked), as opposed to running or
// waiting for a CPU. True where that cannot be told (an unknown id, no /proc): the
// watchdog then judges by time alone.
bool os_thread_sleeping(long os_id) noexcept;

}  // namespace stress
