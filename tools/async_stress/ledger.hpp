// SPDX-License-Identifier: MIT
// The ring values' bookkeeping of tools/async_stress: every push attempt gets a value of
// its own, (producer << 40) | sequence; its producer records whether the push reported
// success and into which ring; consumers record what they popped and from which ring.
// After the run (everything joined, the rings closed and drained) verify() checks that
// every value reported pushed was popped exactly once, from the ring it went into, and
// that nothing else was popped.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>
#include <vector>

namespace async_stress {

using Value = std::uint64_t;

inline constexpr int kSequenceBits = 40;
inline constexpr int kRingShift = 60;  // a popped record keeps the ring index up here
inline constexpr Value kValueMask = (Value{1} << kRingShift) - 1;

// One producer's attempts. Written by its owner only; read by verify() after the run.
class ProducerLog {
 public:
  explicit ProducerLog(int id) : id_(id) {}
  // The value of the next attempt.
  Value next() const noexcept { return (static_cast<Value>(id_) << kSequenceBits) | outcomes_.size(); }
  // The attempt of next() ended: pushed into `ring`, or not pushed (ring < 0).
  void record(int ring) { outcomes_.push_back(static_cast<std::uint8_t>(ring + 1)); }
  std::uint64_t pushed() const noexcept { return pushed_count_; }
  void count_pushed() noexcept { ++pushed_count_; }

 private:
  friend class Ledger;
  int id_;
  std::vector<std::uint8_t> outcomes_;  // per sequence: 0 not pushed, else ring + 1
  std::uint64_t pushed_count_ = 0;
};

// One consumer's pops. Written by its owner only; read by verify() after the run.
class ConsumerLog {
 public:
  void record(Value value, int ring) { popped_.push_back(value | static_cast<Value>(ring) << kRingShift); }
  std::size_t popped() const noexcept { return popped_.size(); }

 private:
  friend class Ledger;
  std::vector<Value> popped_;
};

class Ledger {
 public:
  // Before the run, one each per producer and consumer (the addresses stay put).
  ProducerLog& add_producer() { return producers_.emplace_back(static_cast<int>(producers_.size())); }
  ConsumerLog& add_consumer() { return consumers_.emplace_back(); }

  // After the run: empty when every pushed value was popped once, from its ring, and
  // nothing else was popped; otherwise what went wrong, with an example of each kind.
  std::string verify() const;

  std::uint64_t total_pushed() const;
  std::uint64_t total_popped() const;

 private:
  std::deque<ProducerLog> producers_;
  std::deque<ConsumerLog> consumers_;
};

}  // namespace async_stress
