// SPDX-License-Identifier: MIT
// Proof that every co_await resumes its coroutine exactly once, and where it should.
//
// A worker coroutine does not hand its own handle to the library's awaiter: Checked
// hands over the handle of a trampoline, a tiny coroutine of the probe's, and keeps the
// real one in the probe. Whoever resumes the trampoline (the loop, an executor) goes
// through on_resume(), which checks that an await is armed (a second resume of the same
// await finds it disarmed and is not passed on), that it is not inside the awaiter's
// await_suspend on the suspending thread (an inline resume), and that it runs on the
// coroutine's home (its loop's thread, or its executor); then it passes the resume on
// to the real coroutine by symmetric transfer, the trampoline already suspended again.
// The probe lives outside the coroutine's frame, until after the run.
#pragma once

#include <atomic>
#include <coroutine>
#include <exception>
#include <string>
#include <thread>
#include <utility>

#include "world.hpp"

namespace async_stress {

class Trampoline {
 public:
  struct promise_type {
    Trampoline get_return_object() noexcept {
      return Trampoline(std::coroutine_handle<promise_type>::from_promise(*this));
    }
    std::suspend_always initial_suspend() const noexcept { return {}; }
    std::suspend_always final_suspend() const noexcept { return {}; }
    void return_void() const noexcept {}
    void unhandled_exception() const noexcept { std::terminate(); }
  };
  Trampoline(Trampoline&& other) noexcept : frame_(std::exchange(other.frame_, {})) {}
  Trampoline& operator=(Trampoline&&) = delete;
  ~Trampoline() {
    if (frame_) frame_.destroy();
  }
  std::coroutine_handle<> handle() const noexcept { return frame_; }

 private:
  explicit Trampoline(std::coroutine_handle<promise_type> frame) noexcept : frame_(frame) {}
  std::coroutine_handle<promise_type> frame_;
};

class ResumeProbe {
 public:
  ResumeProbe(World& world, const Home& home, const Worker& owner);

  // Checked's steps around the library awaiter's await_suspend.
  void arm(std::coroutine_handle<> real) noexcept {
    real_ = real;
    suspender_ = std::this_thread::get_id();
    // release (both): on_resume() on another thread reads real_ and suspender_ after
    // the library hands it the trampoline; that hand-off orders them too.
    in_suspend_.store(true, std::memory_order_release);
    armed_.store(true, std::memory_order_release);
  }
  std::coroutine_handle<> trampoline() const noexcept { return trampoline_.handle(); }
  // The awaiter's await_suspend returned `suspended`; the value for Checked's.
  bool after_suspend(bool suspended) noexcept;

  // The trampoline was resumed: what to resume now.
  std::coroutine_handle<> on_resume() noexcept;

  // co_awaits of this coroutine that suspended so far.
  std::uint64_t suspensions() const noexcept { return suspensions_.load(std::memory_order_relaxed); }  // relaxed: a count

  // The coroutine's frame was destroyed while suspended (its loop went away): the armed
  // await will never resume. Counted in world.abandoned.
  void abandon() noexcept;

  // After the run: no await left armed.
  bool idle() const noexcept { return !armed_.load(std::memory_order_acquire); }  // acquire: pairs with arm()

 private:
  World& world_;
  const Home& home_;
  const Worker& owner_;
  std::coroutine_handle<> real_;
  std::thread::id suspender_;
  std::atomic<bool> armed_{false};
  std::atomic<bool> in_suspend_{false};
  std::atomic<bool> resumed_inline_{false};
  std::atomic<std::uint64_t> suspensions_{0};
  Trampoline trampoline_;
};

// co_await checked(probe, [&] { return fev::async_wait(loop, event, token); }): the
// library's awaiter, built in place, with the probe's trampoline in its await_suspend.
template <class Inner>
class Checked {
 public:
  template <class Make>
  Checked(ResumeProbe& probe, Make&& make) : probe_(probe), inner_(std::forward<Make>(make)()) {}
  Checked(const Checked&) = delete;
  Checked& operator=(const Checked&) = delete;

  bool await_ready() noexcept { return inner_.await_ready(); }
  bool await_suspend(std::coroutine_handle<> real) noexcept {
    // Once the inner await_suspend has handed the trampoline over, the coroutine may run
    // on another thread (an executor): nothing of this frame is touched after it.
    ResumeProbe& probe = probe_;
    probe.arm(real);
    return probe.after_suspend(inner_.await_suspend(probe.trampoline()));
  }
  decltype(auto) await_resume() noexcept { return inner_.await_resume(); }

 private:
  ResumeProbe& probe_;
  Inner inner_;
};

template <class Make>
Checked<std::invoke_result_t<Make&>> checked(ResumeProbe& probe, Make&& make) {
  return Checked<std::invoke_result_t<Make&>>(probe, make);
}

}  // namespace async_stress
