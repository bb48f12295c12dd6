// SPDX-License-Identifier: MIT
// fev/task.hpp — fev::Task<T>, the lazily started coroutine that fev::Loop runs
// (fev/loop.hpp): it starts when awaited (co_await task, inside another task) or
// spawned on a loop, and co_await on it returns its result or rethrows its exception. A
// spawned task that throws is reported and terminates the program (see fev/loop.hpp).
#pragma once

#include "fev/cxx20.hpp"  // first: below C++20, one clear error instead of many

#include <coroutine>
#include <exception>
#include <optional>
#include <type_traits>
#include <utility>

#include "fev/detail_loop_ops.hpp"

namespace fev {

template <class T = void>
class Task;

namespace detail {

class TaskPromiseBase {
 public:
  std::suspend_always initial_suspend() const noexcept { return {}; }

  struct FinalAwaiter {
    bool await_ready() const noexcept { return false; }
    template <class Promise>
    std::coroutine_handle<> await_suspend(std::coroutine_handle<Promise> self) noexcept {
      TaskPromiseBase& promise = self.promise();
      if (promise.spawned_on_ != nullptr) {
        // A spawned task has nobody to rethrow to: report it, then std::terminate().
        if (promise.exception_) spawned_task_threw(promise.exception_);
        Loop& loop = *promise.spawned_on_;
        LoopAccess::task_finished(loop, self.address());
        self.destroy();  // allowed here: the coroutine is suspended at its final point
        return std::noop_coroutine();
      }
      // Symmetric transfer: the awaiting task resumes without growing the stack.
      return promise.continuation_ ? promise.continuation_ : std::noop_coroutine();
    }
    void await_resume() const noexcept {}
  };
  FinalAwaiter final_suspend() const noexcept { return {}; }
  void unhandled_exception() noexcept { exception_ = std::current_exception(); }

  std::coroutine_handle<> continuation_;
  Loop* spawned_on_ = nullptr;
  std::exception_ptr exception_;
};

template <class T>
class TaskPromise : public TaskPromiseBase {
 public:
  Task<T> get_return_object() noexcept;
  template <class U>
  void return_value(U&& value) noexcept(std::is_nothrow_constructible_v<T, U>) {
    value_.emplace(std::forward<U>(value));
  }
  T take() {
    if (exception_) std::rethrow_exception(exception_);
    return std::move(*value_);
  }

 private:
  std::optional<T> value_;
};

template <>
class TaskPromise<void> : public TaskPromiseBase {
 public:
  Task<void> get_return_object() noexcept;
  void return_void() const noexcept {}
  void take() {
    if (exception_) std::rethrow_exception(exception_);
  }
};

}  // namespace detail

/// A lazily started coroutine: it runs when awaited (co_await task, inside another
/// task) or spawned on a loop (loop.spawn(std::move(task))). Move-only; destroying a
/// Task that was neither destroys its frame. `T`: what co_await on it returns.
template <class T>
class Task {
 public:
  /// The coroutine's promise, as the language requires; internal.
  using promise_type = detail::TaskPromise<T>;

  /// Takes over `other`'s coroutine; `other` then holds none.
  Task(Task&& other) noexcept : frame_(std::exchange(other.frame_, {})) {}
  /// Destroys this Task's coroutine, if any, then takes over `other`'s.
  Task& operator=(Task&& other) noexcept {
    if (this != &other) {
      if (frame_) frame_.destroy();
      frame_ = std::exchange(other.frame_, {});
    }
    return *this;
  }
  ~Task() {
    if (frame_) frame_.destroy();
  }

  /// co_await task: always suspends the awaiting coroutine and starts this one.
  bool await_ready() const noexcept { return false; }
  /// co_await task: runs this task in place of the awaiting one, which resumes when it
  /// finishes.
  std::coroutine_handle<> await_suspend(std::coroutine_handle<> caller) noexcept {
    frame_.promise().continuation_ = caller;
    return frame_;  // symmetric transfer: start the task on this stack frame's place
  }
  /// co_await task: the task's result, or the exception it threw, rethrown.
  T await_resume() { return frame_.promise().take(); }

 private:
  friend promise_type;
  friend class Loop;
  explicit Task(std::coroutine_handle<promise_type> frame) noexcept : frame_(frame) {}
  std::coroutine_handle<promise_type> frame_;
};

namespace detail {
template <class T>
Task<T> TaskPromise<T>::get_return_object() noexcept {
  return Task<T>(std::coroutine_handle<TaskPromise<T>>::from_promise(*this));
}
inline Task<void> TaskPromise<void>::get_return_object() noexcept {
  return Task<void>(std::coroutine_handle<TaskPromise<void>>::from_promise(*this));
}
}  // namespace detail

}  // namespace fev
