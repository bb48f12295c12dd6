// SPDX-License-Identifier: MIT
// bench/bench_main.hpp — a main() for the Google Benchmark suites that adds two flags:
//
//   --csv=FILE     also write one plain CSV row per result (benchmark name, ns per
//                  iteration real and CPU, iterations, items/s) for tools/bench-plot;
//                  Google Benchmark's own CSV format is deprecated, and its JSON
//                  (--benchmark_out=FILE --benchmark_out_format=json) stays available.
//   --fev-spin-ns=N  fev::set_spin_limit(N ns) before running (spin tuning experiments).
//   --FLAG=VALUE   suite flags registered by the suite (ring_bench: --items=N).
//
// The suite calls fev_bench::run_main(argc, argv, flags, register_all) from main().
#pragma once

#include <benchmark/benchmark.h>
#include <unistd.h>

#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <iostream>
#include <string>
#include <string_view>
#include <vector>

#include "fev/wait.hpp"

namespace fev_bench {

// Writes every non-error run to a CSV file, and shows the console table as usual.
class CsvTeeReporter : public benchmark::ConsoleReporter {
 public:
  explicit CsvTeeReporter(const std::string& path)
      : benchmark::ConsoleReporter(::isatty(STDOUT_FILENO) ? OO_Color : OO_None), out_(path) {
    out_ << "benchmark,real_ns,cpu_ns,iterations,items_per_second\n";
  }
  bool ok() const { return static_cast<bool>(out_); }

  void ReportRuns(const std::vector<Run>& runs) override {
    benchmark::ConsoleReporter::ReportRuns(runs);
    for (const Run& run : runs) {
      if (run.error_occurred) continue;
      const double to_ns = 1e9 / benchmark::GetTimeUnitMultiplier(run.time_unit);
      const auto items = run.counters.find("items_per_second");
      out_ << run.benchmark_name() << ',' << run.GetAdjustedRealTime() * to_ns << ','
           << run.GetAdjustedCPUTime() * to_ns << ',' << run.iterations << ','
           << (items == run.counters.end() ? 0.0 : static_cast<double>(items->second)) << '\n';
    }
    out_.flush();
  }

 private:
  std::ofstream out_;
};

// A suite flag: "--name=value" handed to `apply`, which returns false if it is invalid.
struct Flag {
  std::string_view name;
  std::string_view help;
  std::function<bool(std::string_view)> apply;
};

inline int run_main(int argc, char** argv, const std::vector<Flag>& flags, const std::function<void()>& register_all) {
  std::string csv_path;
  std::vector<char*> rest{argv[0]};
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    bool taken = false;
    if (arg.rfind("--csv=", 0) == 0) {
      csv_path = std::string(arg.substr(6));
      taken = true;
    }
    if (arg.rfind("--fev-spin-ns=", 0) == 0) {
      long long ns = -1;
      const std::string_view text = arg.substr(14);
      const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), ns);
      if (error != std::errc() || end != text.data() + text.size() || ns < 0) {
        std::cerr << argv[0] << ": bad value in " << arg << " (nanoseconds >= 0)\n";
        return 2;
      }
      fev::set_spin_limit(std::chrono::nanoseconds(ns));
      taken = true;
    }
    for (const Flag& flag : flags) {
      const std::string prefix = "--" + std::string(flag.name) + "=";
      if (arg.rfind(prefix, 0) != 0) continue;
      if (!flag.apply(arg.substr(prefix.size()))) {
        std::cerr << argv[0] << ": bad value in " << arg << " (" << flag.help << ")\n";
        return 2;
      }
      taken = true;
    }
    if (arg == "--help") {
      std::cout << "suite flags:\n  --csv=FILE  also write results as plain CSV\n"
                   "  --fev-spin-ns=N  fev::set_spin_limit(N ns) before running\n";
      for (const Flag& flag : flags) std::cout << "  --" << flag.name << "=...  " << flag.help << '\n';
    }
    if (!taken) rest.push_back(argv[i]);
  }
  register_all();
  int rest_argc = static_cast<int>(rest.size());
  rest.push_back(nullptr);
  benchmark::Initialize(&rest_argc, rest.data());
  if (benchmark::ReportUnrecognizedArguments(rest_argc, rest.data())) return 1;
  if (csv_path.empty()) {
    benchmark::RunSpecifiedBenchmarks();
  } else {
    CsvTeeReporter reporter(csv_path);
    if (!reporter.ok()) {
      std::cerr << argv[0] << ": cannot write " << csv_path << '\n';
      return 1;
    }
    benchmark::RunSpecifiedBenchmarks(&reporter);
  }
  benchmark::Shutdown();
  return 0;
}

}  // namespace fev_bench
