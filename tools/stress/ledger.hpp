// SPDX-License-Identifier: MIT
// The harness's bookkeeping: which items were pushed, which were popped how often, and
// whether each consumer saw each producer's items in order.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace stress {

// An item is (producer << 40) | sequence; sequences count a producer's successful pushes.
inline constexpr int kSequenceBits = 40;
inline std::uint64_t make_item(int producer, std::uint64_t sequence) {
  return (static_cast<std::uint64_t>(producer) << kSequenceBits) | sequence;
}

class Ledger {
 public:
  Ledger(int producers, std::uint64_t max_items_per_producer);

  // A consumer popped `item`. Thread-safe. Records duplicates and invented items.
  void record_pop(std::uint64_t item);

  // After all threads joined: `pushed[p]` successful pushes by producer p.
  // Returns an empty string when every pushed item was popped exactly once and nothing
  // else was popped; otherwise a description of the first problems found.
  std::string verify(const std::vector<std::uint64_t>& pushed) const;

  std::uint64_t duplicates() const { return duplicates_.load(); }
  std::uint64_t invented() const { return invented_.load(); }

 private:
  int producers_;
  std::uint64_t capacity_bits_;
  // One bit per (producer, sequence): set when popped.
  std::vector<std::unique_ptr<std::atomic<std::uint64_t>[]>> popped_;
  std::atomic<std::uint64_t> duplicates_{0};
  std::atomic<std::uint64_t> invented_{0};
};

// Per consumer: the last sequence seen from each producer in each ring (FIFO check: a
// ring keeps each producer's order, rings need not keep it among themselves).
class OrderCheck {
 public:
  explicit OrderCheck(int producers, int rings = 1)
      : rings_(static_cast<std::size_t>(rings)), last_(static_cast<std::size_t>(producers) * rings_, -1) {}
  // False when `item`, popped from `ring`, does not come after the previous item of its
  // producer popped from that ring.
  bool accept(std::uint64_t item, int ring = 0);
  std::uint64_t violations() const { return violations_; }

 private:
  std::size_t rings_;
  std::vector<std::int64_t> last_;  // [producer * rings + ring]
  std::uint64_t violations_ = 0;
};

}  // namespace stress
