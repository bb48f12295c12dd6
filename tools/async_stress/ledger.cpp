// SPDX-License-Identifier: MIT
#include "ledger.hpp"

#include <algorithm>
#include <cinttypes>
#include <cstdio>

namespace async_stress {
namespace {

std::string describe(Value value) {
  char text[64];
  std::snprintf(text, sizeof text, "producer %" PRIu64 " attempt %" PRIu64, value >> kSequenceBits,
                value & ((Value{1} << kSequenceBits) - 1));
  return text;
}

// Counts one kind of problem and keeps its first example.
struct Problem {
  explicit Problem(const char* kind) : what(kind) {}
  const char* what;
  std::uint64_t count = 0;
  std::string example;
  void add(const std::string& detail) {
    if (count++ == 0) example = detail;
  }
  void report(std::string& out) const {
    if (count == 0) return;
    out += std::to_string(count) + " " + what + " (first: " + example + "); ";
  }
};

}  // namespace

std::uint64_t Ledger::total_pushed() const {
  std::uint64_t total = 0;
  for (const auto& producer : producers_) total += producer.pushed_count_;
  return total;
}

std::uint64_t Ledger::total_popped() const {
  std::uint64_t total = 0;
  for (const auto& consumer : consumers_) total += consumer.popped_.size();
  return total;
}

std::string Ledger::verify() const {
  std::vector<Value> popped;
  popped.reserve(total_popped());
  for (const auto& consumer : consumers_) popped.insert(popped.end(), consumer.popped_.begin(), consumer.popped_.end());
  std::sort(popped.begin(), popped.end(), [](Value a, Value b) { return (a & kValueMask) < (b & kValueMask); });

  Problem invented{"values popped that no producer ever offered"};
  Problem failed_push{"values popped whose push reported failure (timeout, cancelled or closed)"};
  Problem wrong_ring{"values popped from another ring than the one they were pushed into"};
  Problem duplicate{"values popped more than once"};
  Problem lost{"values reported pushed but never popped"};
  std::uint64_t found = 0;  // distinct values popped whose push succeeded
  for (std::size_t i = 0; i < popped.size(); ++i) {
    const Value value = popped[i] & kValueMask;
    const int ring = static_cast<int>(popped[i] >> kRingShift);
    if (i > 0 && (popped[i - 1] & kValueMask) == value) {
      duplicate.add(describe(value));
      continue;
    }
    const std::uint64_t producer = value >> kSequenceBits;
    const std::uint64_t sequence = value & ((Value{1} << kSequenceBits) - 1);
    if (producer >= producers_.size() || sequence >= producers_[producer].outcomes_.size()) {
      invented.add(describe(value));
      continue;
    }
    const int pushed_into = producers_[producer].outcomes_[sequence] - 1;
    if (pushed_into < 0) {
      failed_push.add(describe(value) + ", popped from ring " + std::to_string(ring));
      continue;
    }
    if (pushed_into != ring) {
      wrong_ring.add(describe(value) + ": pushed into ring " + std::to_string(pushed_into) + ", popped from ring " +
                     std::to_string(ring));
    }
    ++found;
  }
  if (found != total_pushed()) {
    // Name the first value that went missing.
    std::vector<Value> distinct;
    distinct.reserve(popped.size());
    for (const Value record : popped) distinct.push_back(record & kValueMask);
    for (std::size_t p = 0; p < producers_.size(); ++p) {
      const auto& outcomes = producers_[p].outcomes_;
      for (std::size_t s = 0; s < outcomes.size(); ++s) {
        if (outcomes[s] == 0) continue;
        const Value value = (static_cast<Value>(p) << kSequenceBits) | s;
        if (!std::binary_search(distinct.begin(), distinct.end(), value)) lost.add(describe(value));
      }
    }
  }

  std::string problems;
  for (const Problem* problem : {&lost, &duplicate, &invented, &failed_push, &wrong_ring}) problem->report(problems);
  return problems;
}

}  // namespace async_stress
