// SPDX-License-Identifier: MIT
// Command-line reading shared by the tools: options with their value as the next
// argument or after '=', counts and seconds checked against their ranges, and the
// one-line rejection (exit status 2) that names the bad option.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace tool_args {

// Prints "<program>: <reason>" and "run '<program> --help' for the options" to stderr
// and exits 2.
[[noreturn]] void reject(std::string_view program, const std::string& reason);

// Walks argv one option at a time. "--opt=value" splits at the first '='.
class Arguments {
 public:
  Arguments(const char* program, int argc, char** argv) : program_(program), argc_(argc), argv_(argv) {}

  // Moves to the next option; false after the last one.
  bool next();
  std::string_view flag() const { return flag_; }

  // The option's value: the text after '=', else the next argument (rejected when missing).
  const char* value();
  // Rejects a value given with '=' to an option that takes none.
  void no_value() const;
  // value() as an integer in [min, max], rejected otherwise.
  std::uint64_t count(std::uint64_t min, std::uint64_t max);
  // value() as a number of seconds in (0, 86400], rejected otherwise.
  double seconds();

  [[noreturn]] void reject(const std::string& reason) const { tool_args::reject(program_, reason); }

 private:
  const char* program_;
  int argc_;
  char** argv_;
  int index_ = 0;
  std::string_view flag_;
  std::optional<std::string> attached_;
};

}  // namespace tool_args
