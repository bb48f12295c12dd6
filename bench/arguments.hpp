// SPDX-License-Identifier: MIT
// Command-line reading of the plain benchmark programs: options with their value as
// the next argument or after '=', integers parsed whole, comma-separated lists.
#pragma once

#include <charconv>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace fev_bench {

// True when all of `text` is an integer that fits `value`.
template <class Int>
bool parse_int(std::string_view text, Int& value) {
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  return error == std::errc() && end == text.data() + text.size();
}

inline std::vector<std::string> split(std::string_view text) {
  std::vector<std::string> parts;
  while (!text.empty()) {
    const auto comma = text.find(',');
    parts.emplace_back(text.substr(0, comma));
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  return parts;
}

// Walks argv one option at a time; "--opt=value" splits at the first '='.
class Arguments {
 public:
  Arguments(int argc, char** argv) : argc_(argc), argv_(argv) {}

  // Moves to the next option; false after the last one.
  bool next() {
    if (++index_ >= argc_) return false;
    whole_ = argv_[index_];
    name_ = whole_;
    value_ = {};
    const auto equals = name_.find('=');
    has_value_ = equals != std::string_view::npos;
    if (has_value_) {
      value_ = name_.substr(equals + 1);
      name_ = name_.substr(0, equals);
    }
    return true;
  }
  // The option's name, without "=value".
  std::string_view name() const { return name_; }
  // The argument as given.
  std::string_view whole() const { return whole_; }
  // Sets `value` to the text after '=', else to the next argument; false when there is none.
  bool value(std::string_view& value) {
    if (!has_value_) {
      if (index_ + 1 >= argc_) return false;
      value_ = argv_[++index_];
      has_value_ = true;
    }
    value = value_;
    return true;
  }

 private:
  int argc_;
  char** argv_;
  int index_ = 0;
  std::string_view whole_;
  std::string_view name_;
  std::string_view value_;
  bool has_value_ = false;
};

}  // namespace fev_bench
