// SPDX-License-Identifier: MIT
#include "ledger.hpp"

#include <sstream>

namespace stress {

Ledger::Ledger(int producers, std::uint64_t max_items_per_producer)
    : producers_(producers), capacity_bits_(max_items_per_producer) {
  const std::uint64_t words = (max_items_per_producer + 63) / 64;
  for (int p = 0; p < producers; ++p) {
    popped_.emplace_back(new std::atomic<std::uint64_t>[words]);
    for (std::uint64_t w = 0; w < words; ++w) popped_.back()[w].store(0, std::memory_order_relaxed);
  }
}

void Ledger::record_pop(std::uint64_t item) {
  const std::uint64_t producer = item >> kSequenceBits;
  const std::uint64_t sequence = item & ((std::uint64_t{1} << kSequenceBits) - 1);
  if (producer >= static_cast<std::uint64_t>(producers_) || sequence >= capacity_bits_) {
    invented_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  const std::uint64_t bit = std::uint64_t{1} << (sequence % 64);
  // relaxed: the bits are read only after every thread has been joined.
  if (popped_[producer][sequence / 64].fetch_or(bit, std::memory_order_relaxed) & bit) {
    duplicates_.fetch_add(1, std::memory_order_relaxed);
  }
}

std::string Ledger::verify(const std::vector<std::uint64_t>& pushed) const {
  std::ostringstream problems;
  std::uint64_t lost = 0, phantom = 0;
  const std::uint64_t words = (capacity_bits_ + 63) / 64;
  for (int p = 0; p < producers_; ++p) {
    const std::uint64_t pushed_here = pushed[static_cast<std::size_t>(p)];
    for (std::uint64_t w = 0; w < words; ++w) {
      const std::uint64_t popped = popped_[p][w].load(std::memory_order_relaxed);
      // Bits of the sequences in this word that producer p pushed.
      const std::uint64_t first = w * 64;
      const std::uint64_t expected = pushed_here >= first + 64 ? ~std::uint64_t{0}
                                     : pushed_here <= first   ? 0
                                                              : (std::uint64_t{1} << (pushed_here - first)) - 1;
      if (popped == expected) continue;
      for (std::uint64_t bit = 0; bit < 64; ++bit) {
        const bool was_popped = (popped >> bit) & 1u;
        const bool was_pushed = (expected >> bit) & 1u;
        if (was_pushed && !was_popped) {
          if (lost++ < 3) problems << "lost item: producer " << p << " sequence " << first + bit << "; ";
        } else if (!was_pushed && was_popped) {
          if (phantom++ < 3) problems << "popped but never pushed: producer " << p << " sequence " << first + bit << "; ";
        }
      }
    }
  }
  if (lost) problems << lost << " lost in all; ";
  if (phantom) problems << phantom << " phantom in all; ";
  if (duplicates()) problems << duplicates() << " popped more than once; ";
  if (invented()) problems << invented() << " invented (out of range); ";
  return problems.str();
}

bool OrderCheck::accept(std::uint64_t item, int ring) {
  const std::uint64_t producer = item >> kSequenceBits;
  if (producer >= last_.size() / rings_) return true;  // the ledger reports it as invented
  const auto sequence = static_cast<std::int64_t>(item & ((std::uint64_t{1} << kSequenceBits) - 1));
  std::int64_t& last = last_[producer * rings_ + static_cast<std::size_t>(ring)];
  const bool in_order = sequence > last;
  if (!in_order) ++violations_;
  last = sequence;
  return in_order;
}

}  // namespace stress
