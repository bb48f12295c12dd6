// SPDX-License-Identifier: MIT
// Two shared objects in one process, each with its own copy of libfev.a (libside_a.so and
// libside_b.so, from side.cpp): an event set through one wakes a waiter that waits through
// the other, for a thread on fev::Event, a thread on the portable backend, and a
// coroutine (fev::async_wait). Run by tools/ci/consumers.sh (consumer-shared-objects).
//
//   main            each case must wake its waiter (within 60 s; a lost wake is a hang)
//   main --lost     the must-fail twin, for objects built with fev's symbols hidden in
//                   each (-Wl,--exclude-libs,ALL): the cases named after it must NOT
//                   wake their waiter within 1 s (each copy then parks and wakes in its
//                   own tables); prints what each case did
// One line per case, "CASE: woken" or "CASE: not woken"; exit 0 when every case did what
// was asked, 1 otherwise.
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <set>
#include <string>
#include <thread>

// Nothing of fev here: this program only calls into the two shared objects.
extern "C" void* side_a_new_event(int kind);
extern "C" void side_a_set(int kind, void* event);
extern "C" bool side_b_parked(int kind, void* event);
extern "C" void side_b_wait(int kind, void* event);
extern "C" void side_b_start_async_wait(void* event, std::atomic<int>* done);

namespace {

using namespace std::chrono_literals;

// The thread's scheduler state, from /proc: 'S' while it sleeps in the kernel.
char thread_state(pid_t tid) {
  std::ifstream stat("/proc/self/task/" + std::to_string(tid) + "/stat");
  std::string line;
  std::getline(stat, line);
  const auto paren = line.rfind(')');
  return paren == std::string::npos || paren + 2 >= line.size() ? '?' : line[paren + 2];
}

// Waits (up to `limit`) until `woken` is true.
bool woken_within(const std::atomic<int>& woken, std::chrono::steady_clock::duration limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  // acquire: pairs with the waiter's release store after its wait returned.
  while (woken.load(std::memory_order_acquire) == 0) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

// A thread waits on `event` through libside_b.so; once it is asleep in the kernel with
// the event's parked bit set, main sets the event through libside_a.so.
bool thread_case(int kind, std::chrono::steady_clock::duration limit) {
  void* const event = side_a_new_event(kind);
  std::atomic<pid_t> tid{0};
  std::atomic<int> woken{0};
  std::thread waiter([&] {
    tid.store(static_cast<pid_t>(syscall(SYS_gettid)), std::memory_order_relaxed);
    side_b_wait(kind, event);
    woken.store(1, std::memory_order_release);  // pairs with woken_within's acquire load
  });
  // relaxed: only the value is needed; the parked bit and /proc tell when it sleeps.
  while (tid.load(std::memory_order_relaxed) == 0) std::this_thread::sleep_for(1ms);
  while (!side_b_parked(kind, event) ||
         thread_state(tid.load(std::memory_order_relaxed)) != 'S') {
    std::this_thread::sleep_for(1ms);
  }
  side_a_set(kind, event);
  const bool woke = woken_within(woken, limit);
  if (woke) {
    waiter.join();
  } else {
    waiter.detach();  // asleep for good; the process ends with _Exit
  }
  return woke;
}

// A coroutine waits through libside_b.so's side table; main sets through libside_a.so.
bool coroutine_case(std::chrono::steady_clock::duration limit) {
  void* const event = side_a_new_event(0);
  static std::atomic<int> done{0};  // outlives a coroutine that is never resumed
  side_b_start_async_wait(event, &done);
  side_a_set(0, event);
  return woken_within(done, limit);
}

}  // namespace

int main(int argc, char** argv) {
  // --lost CASE...: the cases that must not wake; the others must.
  std::set<std::string> lost;
  const bool twin = argc > 1 && std::strcmp(argv[1], "--lost") == 0;
  for (int i = 2; i < argc; ++i) lost.insert(argv[i]);
  auto limit = [&](const std::string& name) { return lost.count(name) ? std::chrono::steady_clock::duration(1s) : 60s; };

  bool ok = true;
  auto report = [&](const std::string& name, bool woke) {
    std::printf("%s: %s\n", name.c_str(), woke ? "woken" : "not woken");
    std::fflush(stdout);
    if (woke == (lost.count(name) != 0)) ok = false;
  };

  report("thread-default-backend", thread_case(0, limit("thread-default-backend")));
  report("thread-portable-backend", thread_case(1, limit("thread-portable-backend")));
  report("coroutine", coroutine_case(limit("coroutine")));
  if (twin) std::printf("(twin: the cases after --lost must not wake)\n");
  std::fflush(stdout);
  std::_Exit(ok ? 0 : 1);
}
