// SPDX-License-Identifier: MIT
// A worker that serves two rings, commands before data, and shuts down on an Event.
//
// The worker looks at the control ring first on every turn, so a command overtakes any
// data already waiting. When there is no command it waits with fev::select on the control
// ring, the data ring and the stop event at once: one sleep that any of the three ends,
// and no polling. The main thread sends readings and, now and then, a command (change the
// scale applied to the readings, or print a report); then it sets the stop event. The
// worker serves what was queued before the stop (commands first), prints a summary and
// returns. Every reading and every command is served exactly once.
#include <fev/event.hpp>
#include <fev/ring.hpp>
#include <fev/select.hpp>

#include <cstdint>
#include <cstdio>
#include <thread>

namespace {

struct Command {
  enum class Kind { set_scale, report };
  Kind kind = Kind::report;
  std::uint64_t scale = 1;  // set_scale: the new scale
};

class Worker {
 public:
  Worker(fev::Ring<Command>& control, fev::Ring<std::uint64_t>& data, fev::Event& stop)
      : control_(control), data_(data), stop_(stop) {}

  void run() {
    Command command;
    std::uint64_t reading = 0;
    for (;;) {
      // Priority: a waiting command goes before any waiting reading.
      if (control_.try_pop(command)) {
        apply(command);
        continue;
      }
      // Nothing to command: sleep until a command, a reading or the stop, whichever comes
      // first (when several are there, select takes one and leaves the others queued).
      const fev::Selected fired =
          fev::select(fev::on_pop(control_, command), fev::on_pop(data_, reading), fev::on_set(stop_));
      if (fired.status != fev::Status::ok) break;  // a ring was closed: nothing more will come
      if (fired.index == 0) {
        apply(command);
      } else if (fired.index == 1) {
        handle(reading);
      } else {
        break;  // the stop event
      }
    }
    // Shutting down: serve what was sent before the stop, commands first.
    while (control_.try_pop(command)) apply(command);
    while (data_.try_pop(reading)) handle(reading);
  }

  std::uint64_t commands() const { return commands_; }
  std::uint64_t overtakes() const { return overtakes_; }
  std::uint64_t readings() const { return readings_; }
  std::uint64_t raw_sum() const { return raw_sum_; }
  std::uint64_t scaled_sum() const { return scaled_sum_; }

 private:
  void apply(const Command& command) {
    ++commands_;
    if (!data_.empty()) ++overtakes_;  // readings were waiting: this command went first
    if (command.kind == Command::Kind::set_scale) {
      scale_ = command.scale;
    } else {
      std::printf("report: %llu readings so far, scale %llu\n", static_cast<unsigned long long>(readings_),
                  static_cast<unsigned long long>(scale_));
    }
  }
  void handle(std::uint64_t reading) {
    ++readings_;
    raw_sum_ += reading;
    scaled_sum_ += reading * scale_;
  }

  fev::Ring<Command>& control_;
  fev::Ring<std::uint64_t>& data_;
  fev::Event& stop_;
  std::uint64_t scale_ = 1;
  std::uint64_t commands_ = 0;
  std::uint64_t overtakes_ = 0;
  std::uint64_t readings_ = 0;
  std::uint64_t raw_sum_ = 0;
  std::uint64_t scaled_sum_ = 0;
};

}  // namespace

int main() {
  constexpr std::uint64_t kReadings = 20000;
  fev::Ring<Command> control(8);
  fev::Ring<std::uint64_t> data(256);  // a full ring holds the sender back (backpressure)
  fev::Event stop;
  Worker worker(control, data, stop);
  std::thread thread([&worker] { worker.run(); });

  std::uint64_t commands_sent = 0;
  for (std::uint64_t n = 1; n <= kReadings; ++n) {
    (void)data.push(n);  // false only once the ring is closed, which it never is here
    if (n % 2000 == 0) {
      (void)control.push(Command{Command::Kind::set_scale, n / 2000 + 1});
      ++commands_sent;
    }
    if (n % 5000 == 0) {
      (void)control.push(Command{Command::Kind::report});
      ++commands_sent;
    }
  }
  stop.set();  // everything sent before this is served; then the worker returns
  thread.join();

  const std::uint64_t expected_sum = kReadings * (kReadings + 1) / 2;
  std::printf("served %llu of %llu readings (sum %llu, expected %llu; scaled sum %llu) and %llu of %llu commands, "
              "%llu of them ahead of waiting readings\n",
              static_cast<unsigned long long>(worker.readings()), static_cast<unsigned long long>(kReadings),
              static_cast<unsigned long long>(worker.raw_sum()), static_cast<unsigned long long>(expected_sum),
              static_cast<unsigned long long>(worker.scaled_sum()), static_cast<unsigned long long>(worker.commands()),
              static_cast<unsigned long long>(commands_sent), static_cast<unsigned long long>(worker.overtakes()));
  const bool all_served =
      worker.readings() == kReadings && worker.raw_sum() == expected_sum && worker.commands() == commands_sent;
  if (!all_served) std::fprintf(stderr, "select_worker: a reading or a command was lost or served twice\n");
  return all_served ? 0 : 1;
}
