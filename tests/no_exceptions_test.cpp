// SPDX-License-Identifier: MIT
// Built with -fno-exceptions: every public header compiles, an Event and a Ring work,
// and a bad capacity ends the program with a one-line message and SIGABRT instead of
// a throw. A plain program (exit 0: pass, 1: fail, 77: skipped).
#include "fev/deadline.hpp"
#include "fev/event.hpp"
#include "fev/ring.hpp"
#include "fev/select.hpp"
#include "fev/spin.hpp"
#include "fev/wait.hpp"
#include "fev/wait_many.hpp"
#if defined(FEV_TEST_HAVE_SHARED_MEMORY)
#include "fev/shared.hpp"
#endif
#if defined(FEV_TEST_HAVE_URING)
#include "fev/loop_select.hpp"
#include "fev/uring.hpp"
#endif

#include <chrono>
#include <cstdio>
#include <cstring>
#include <thread>

#if defined(__unix__)
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
#endif

#if defined(__cpp_exceptions) || defined(__EXCEPTIONS)
#error "this test must be built with -fno-exceptions"
#endif

namespace {

int failures = 0;

void check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "FAILED: %s\n", what);
    ++failures;
  }
}

void event_and_ring_work() {
  using namespace std::chrono_literals;
  fev::Event ready;
  fev::Ring<int> ring(4);
  std::thread producer([&] {
    for (int i = 1; i <= 100; ++i) (void)ring.push(i);
    ready.set();
  });
  long sum = 0;
  for (int i = 1; i <= 100; ++i) {
    int value = 0;
    check(ring.pop(value), "pop a value");
    sum += value;
  }
  check(ready.wait_for(10s), "event set by the producer");
  producer.join();
  check(sum == 5050, "every value popped once");
  check(fev::wait_any(ready) == 0, "wait_any on a set event");
  int value = 0;
  check(ring.pop_for(value, 1ms) == fev::Status::timeout, "timed pop on an empty ring");
  check(ring.try_push(7), "push for select");
  const fev::Selected selected = fev::select(fev::on_set(ready), fev::on_pop(ring, value));
  check(selected.status == fev::Status::ok && (selected.index == 0 || value == 7), "select over an event and a ring");
}

#if defined(__unix__)
// A capacity of zero in a child: it must die of SIGABRT, saying why on stderr.
void bad_capacity_aborts_with_a_message() {
  int pipe_ends[2];
  check(pipe(pipe_ends) == 0, "pipe");
  const pid_t child = fork();
  if (child == 0) {
    dup2(pipe_ends[1], 2);
    close(pipe_ends[0]);
    fev::Ring<int> ring(0);
    _exit(ring.capacity() == 0 ? 3 : 4);  // not reached when the capacity is refused
  }
  close(pipe_ends[1]);
  char message[256] = {};
  std::size_t length = 0;
  for (ssize_t got; length + 1 < sizeof message && (got = read(pipe_ends[0], message + length,
                                                                 sizeof message - 1 - length)) > 0;)
    length += static_cast<std::size_t>(got);
  close(pipe_ends[0]);
  int status = 0;
  check(waitpid(child, &status, 0) == child, "waitpid");
  check(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT, "a bad capacity calls abort()");
#if defined(FEV_TEST_UNDER_EMULATOR)
  // qemu-user reports the child's abort on the same stderr, after fev's line: drop it.
  if (char* emulator_line = std::strstr(message, "qemu: uncaught target signal")) *emulator_line = '\0';
#endif
  check(std::strcmp(message, "fev::Ring: capacity must be at least 1\n") == 0, "one line saying why");
}
#endif

}  // namespace

int main() {
  event_and_ring_work();
#if defined(__unix__)
  bad_capacity_aborts_with_a_message();
#endif
  if (failures != 0) return 1;
  std::printf("ok: the public headers build and work without exceptions\n");
  return 0;
}
