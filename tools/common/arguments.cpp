// SPDX-License-Identifier: MIT
#include "arguments.hpp"

#include <cerrno>
#include <cstdio>
#include <cstdlib>

namespace tool_args {

void reject(std::string_view program, const std::string& reason) {
  const std::string name(program);
  std::fprintf(stderr, "%s: %s\nrun '%s --help' for the options\n", name.c_str(), reason.c_str(), name.c_str());
  std::exit(2);
}

bool Arguments::next() {
  if (++index_ >= argc_) return false;
  flag_ = argv_[index_];
  attached_.reset();
  if (const auto equals = flag_.find('='); flag_.substr(0, 2) == "--" && equals != std::string_view::npos) {
    attached_ = std::string(flag_.substr(equals + 1));
    flag_ = flag_.substr(0, equals);
  }
  return true;
}

const char* Arguments::value() {
  if (attached_) return attached_->c_str();
  if (index_ + 1 >= argc_) reject(std::string(flag_) + " needs a value");
  return argv_[++index_];
}

void Arguments::no_value() const {
  if (attached_) reject(std::string(flag_) + " takes no value, got '" + *attached_ + "'");
}

std::uint64_t Arguments::count(std::uint64_t min, std::uint64_t max) {
  const char* text = value();
  char* end = nullptr;
  errno = 0;
  const unsigned long long parsed = std::strtoull(text, &end, 10);
  if (errno != 0 || end == text || *end != '\0' || text[0] == '-' || parsed < min || parsed > max) {
    reject(std::string(flag_) + " needs an integer in [" + std::to_string(min) + ", " + std::to_string(max) +
           "], got '" + text + "'");
  }
  return parsed;
}

double Arguments::seconds() {
  const char* text = value();
  char* end = nullptr;
  const double parsed = std::strtod(text, &end);
  if (end == text || *end != '\0' || !(parsed > 0) || parsed > 86400) {
    reject(std::string(flag_) + " needs a number of seconds in (0, 86400], got '" + text + "'");
  }
  return parsed;
}

}  // namespace tool_args
