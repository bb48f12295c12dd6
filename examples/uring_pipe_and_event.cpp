// SPDX-License-Identifier: MIT
// One io_uring event loop that waits for data on a pipe and for an fev::Event at once.
//
// A worker thread writes a few lines into a pipe and then sets `done`. The loop has two
// requests in flight: a read on the pipe, and the event (UringEventWaiter::arm, an
// IORING_OP_FUTEX_WAIT on the event's word, Linux 6.7+). Whichever completes first is
// handled first; no thread sits in Event::wait.
//
// Where the kernel's io_uring cannot wait on a futex, arm() says `unsupported` and the
// program falls back to the classic bridge: a helper thread waits on the event and
// writes a byte into a second pipe, which the same loop reads.
//
// Exit status: 0 on success, 77 (skipped) where io_uring itself is unavailable (old
// kernel, sysctl kernel.io_uring_disabled, a seccomp filter), 1 on failure.
#include <liburing.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>
#include <thread>

#include "fev/event.hpp"
#include "fev/uring.hpp"

namespace {

constexpr std::uint64_t kPipeRead = 1;
constexpr std::uint64_t kDone = 2;
constexpr std::string_view kLines[] = {"first line\n", "second line\n", "third line\n"};

int fail(const char* what, int error) {
  std::fprintf(stderr, "uring_pipe_and_event: %s: %s\n", what, std::strerror(error));
  return 1;
}

}  // namespace

int main() {
  io_uring ring{};
  if (const int error = io_uring_queue_init(8, &ring, 0); error < 0) {
    std::printf("io_uring unavailable here (%s): skipped\n", std::strerror(-error));
    return 77;
  }
  int data[2];
  if (pipe(data) != 0) return fail("pipe", errno);

  fev::Event done;
  std::size_t expected_bytes = 0;
  for (const auto line : kLines) expected_bytes += line.size();
  std::thread worker([&] {
    for (const auto line : kLines) {
      if (write(data[1], line.data(), line.size()) != static_cast<ssize_t>(line.size())) std::perror("write");
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    done.set();  // everything it wrote happens-before a loop that sees `done` fired
  });

  // The event as one more completion in the ring, or the helper-thread fallback.
  fev::UringEventWaiter waiter(ring);
  int bridge[2] = {-1, -1};
  char bridge_byte = 0;
  std::thread helper;
  const bool native = waiter.arm(done, kDone) == fev::UringArm::armed;
  if (!native) {
    if (pipe(bridge) != 0) return fail("pipe", errno);
    helper = std::thread([&] {
      done.wait();
      if (write(bridge[1], "x", 1) != 1) std::perror("write");
    });
    io_uring_sqe* sqe = io_uring_get_sqe(&ring);
    io_uring_prep_read(sqe, bridge[0], &bridge_byte, 1, 0);
    io_uring_sqe_set_data64(sqe, kDone);
  }
  std::printf("waiting on the event with %s\n", native ? "IORING_OP_FUTEX_WAIT (no helper thread)"
                                                       : "a helper thread (futex op unsupported here)");

  char buffer[64];
  const auto queue_read = [&] {
    io_uring_sqe* sqe = io_uring_get_sqe(&ring);
    io_uring_prep_read(sqe, data[0], buffer, sizeof buffer, 0);
    io_uring_sqe_set_data64(sqe, kPipeRead);
  };
  queue_read();
  io_uring_submit(&ring);

  std::string received;
  bool finished = false;
  int status = 0;
  while (!(finished && received.size() == expected_bytes)) {
    __kernel_timespec timeout{10, 0};  // a watchdog: never hang, even on a broken kernel
    io_uring_cqe* cqe = nullptr;
    const int error = io_uring_wait_cqe_timeout(&ring, &cqe, &timeout);
    if (error == -EINTR) continue;
    if (error != 0) {
      status = fail("waiting for a completion", -error);
      break;
    }
    const std::uint64_t tag = cqe->user_data;
    const int res = cqe->res;
    io_uring_cqe_seen(&ring, cqe);
    if (tag == kPipeRead) {
      if (res <= 0) {
        status = fail("pipe read", res < 0 ? -res : EPIPE);
        break;
      }
      received.append(buffer, static_cast<std::size_t>(res));
      std::printf("read %d bytes from the pipe\n", res);
      if (received.size() < expected_bytes) {
        queue_read();
        io_uring_submit(&ring);
      }
    } else if (tag == kDone) {
      if (native) {
        // Every CQE of the waiter's request goes through complete(): it tells a set()
        // from a late wake of an earlier one (which it re-arms by itself).
        const fev::UringWake wake = waiter.complete(res);
        if (wake == fev::UringWake::rearmed) continue;  // no set() yet: still waiting
        if (wake == fev::UringWake::ended) {
          (void)waiter.arm(done, kDone);  // an error: wait again
          continue;
        }
      }
      std::printf("the event fired (is_set: %s)\n", done.is_set() ? "yes" : "no");
      finished = true;
    }
  }

  worker.join();
  if (helper.joinable()) helper.join();
  io_uring_queue_exit(&ring);
  for (const int fd : {data[0], data[1], bridge[0], bridge[1]})
    if (fd >= 0) close(fd);
  if (status == 0 && received != std::string(kLines[0]) + std::string(kLines[1]) + std::string(kLines[2]))
    status = fail("unexpected pipe contents", EINVAL);
  if (status == 0) std::printf("ok: %zu bytes and the event, one ring\n", received.size());
  return status;
}
