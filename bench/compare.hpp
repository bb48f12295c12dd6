// SPDX-License-Identifier: MIT
// The plain benchmark programs' table columns and their last line: fev against the
// best peer, as "level" (within 10%), "2.10x better" or "1.40x worse".
#pragma once

#include <cstdio>
#include <optional>
#include <string>

namespace fev_bench {

enum class Better { lower, higher };

template <class Row>
struct Column {
  const char* title;
  std::optional<double> Row::*field;
  int precision;
  Better better;
  double scale = 1;  // shown value = stored value * scale (ns -> us: 1e-3)
};

// Whether `value` beats `other` in a column where `better` wins.
inline bool beats(Better better, double value, double other) {
  return better == Better::lower ? value < other : value > other;
}

// "level", "Nx better" or "Nx worse" for fev's `mine` against the peer's `best`.
inline std::string against_best_peer_text(Better better, double mine, double best) {
  const double factor = better == Better::lower ? best / mine : mine / best;  // > 1: fev better
  const double worse = 1 / factor;
  char text[32];
  if (factor >= 1.1) std::snprintf(text, sizeof text, "%.*fx better", factor >= 100 ? 0 : 2, factor);
  else if (worse >= 1.1) std::snprintf(text, sizeof text, "%.*fx worse", worse >= 100 ? 0 : 2, worse);
  else std::snprintf(text, sizeof text, "level");
  return text;
}

// A value at `precision` digits, or "-" when there is none.
inline std::string value_text(std::optional<double> value, int precision) {
  if (!value) return "-";
  char text[32];
  std::snprintf(text, sizeof text, "%.*f", precision, *value);
  return text;
}

}  // namespace fev_bench
