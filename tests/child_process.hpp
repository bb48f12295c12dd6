// SPDX-License-Identifier: MIT
// Test helper: reaping forked children without ever hanging the test.
#pragma once

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <thread>

namespace fev::testing {

// Reaps `pid` within `limit`, killing it first if it is still running then. Returns the
// wait status (-1 if `pid` is not our child).
inline int reap(pid_t pid, std::chrono::milliseconds limit = std::chrono::seconds(120)) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  int status = 0;
  for (;;) {
    const pid_t done = waitpid(pid, &status, WNOHANG);
    if (done == pid) return status;
    if (done < 0) return -1;
    if (std::chrono::steady_clock::now() > deadline) {
      kill(pid, SIGKILL);
      (void)waitpid(pid, &status, 0);
      ADD_FAILURE() << "child " << pid << " did not finish within the limit; killed";
      return status;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

inline bool exited_ok(int status) { return WIFEXITED(status) && WEXITSTATUS(status) == 0; }

}  // namespace fev::testing
