// SPDX-License-Identifier: MIT
#include "resume_probe.hpp"

namespace async_stress {
namespace {

struct ForwardResume {
  ResumeProbe& probe;
  bool await_ready() const noexcept { return false; }
  std::coroutine_handle<> await_suspend(std::coroutine_handle<>) const noexcept { return probe.on_resume(); }
  void await_resume() const noexcept {}
};

// Each resume of this coroutine lands in ForwardResume::await_suspend, with this frame
// suspended, and continues as the probe says.
Trampoline forward_resumes(ResumeProbe& probe) {
  for (;;) co_await ForwardResume{probe};
}

}  // namespace

ResumeProbe::ResumeProbe(World& world, const Home& home, const Worker& owner)
    : world_(world), home_(home), owner_(owner), trampoline_(forward_resumes(*this)) {}

bool ResumeProbe::after_suspend(bool suspended) noexcept {
  // relaxed: only this thread's on_resume() (an inline resume) reads it meaningfully.
  in_suspend_.store(false, std::memory_order_relaxed);
  if (!suspended) {
    // Decided without waiting: nobody will resume the trampoline for this await.
    armed_.store(false, std::memory_order_relaxed);            // relaxed: this thread re-arms it next
    resumed_inline_.store(false, std::memory_order_relaxed);  // relaxed: as above (already reported)
    return false;
  }
  world_.suspensions.fetch_add(1, std::memory_order_relaxed);  // relaxed: a tally
  suspensions_.fetch_add(1, std::memory_order_relaxed);         // relaxed: a count for the coroutine itself
  // An inline resume was reported and not passed on: go on here instead of hanging.
  // relaxed: set by this thread (inline), if at all.
  return !resumed_inline_.exchange(false, std::memory_order_relaxed);
}

void ResumeProbe::abandon() noexcept {
  // acq_rel: as on_resume(); a resume after this finds it disarmed and is reported.
  if (armed_.exchange(false, std::memory_order_acq_rel)) world_.abandoned.fetch_add(1, std::memory_order_relaxed);
}

std::coroutine_handle<> ResumeProbe::on_resume() noexcept {
  if (!home_.here()) world_.checks.report(Violation::wrong_thread, owner_.name + " resumed on another thread");
  // acquire: pairs with arm()'s release (for a resume on the suspending thread itself).
  if (in_suspend_.load(std::memory_order_acquire) && suspender_ == std::this_thread::get_id()) {
    world_.checks.report(Violation::resumed_inline, owner_.name + " resumed inside await_suspend");
    resumed_inline_.store(true, std::memory_order_relaxed);  // relaxed: read by this thread
    armed_.store(false, std::memory_order_relaxed);          // relaxed: as above
    return std::noop_coroutine();
  }
  // acq_rel: one resume per arm(); acquire pairs with arm()'s release.
  if (!armed_.exchange(false, std::memory_order_acq_rel)) {
    world_.checks.report(Violation::resumed_twice, owner_.name + " resumed with no co_await pending");
    return std::noop_coroutine();
  }
  world_.resumes.fetch_add(1, std::memory_order_relaxed);  // relaxed: a tally
  return real_;
}

}  // namespace async_stress
