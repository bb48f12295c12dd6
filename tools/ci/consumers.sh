#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Uses fev the ways an outside project does, and checks that each way builds and runs:
#
#   tools/ci/consumers.sh          # from anywhere; works in a temporary directory
#
# It installs fev with meson into a temporary prefix, then builds and runs one small
# program (a producer and a consumer on an fev::Ring, an fev::Event for "done"):
#   cmake-find-package   find_package(fev CONFIG REQUIRED) against the installed prefix
#   cmake-subdirectory   add_subdirectory() of this source tree (CMakeLists.txt)
#   pkg-config           g++ app.cpp $(pkg-config --cflags --libs fev)
#   pkg-config-static    the same with -static and --static; fev.pc names no Boost
#   meson-subproject     fev as a meson subproject; none of fev's tests in `meson test`
#   below-cxx20          every installed header, included with -std=c++17 and -std=c++14
#                        by g++ and clang++, stops with exactly one "fev needs C++20" error
# One line per check, `consumer-<name>: ok` or `consumer-<name>: FAILED` (followed by the
# end of its log). Exit status: 0 when every check passed, 1 otherwise.
set -u

root=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/fev-consumers.XXXXXX")
trap 'rm -rf "$work"' EXIT
prefix="$work/prefix"
jobs=2
failed=0

# check NAME COMMAND...: runs COMMAND with its output in NAME.log, prints the verdict.
check() {
  local name=$1
  shift
  if "$@" >"$work/$name.log" 2>&1; then
    echo "consumer-$name: ok"
  else
    echo "consumer-$name: FAILED"
    tail -n 25 "$work/$name.log" | sed 's/^/    /'
    failed=1
    return 1
  fi
}

cat >"$work/app.cpp" <<'EOF'
#include <fev/event.hpp>
#include <fev/ring.hpp>

#include <cstdio>
#include <thread>

int main() {
  fev::Ring<int> ring(4);
  fev::Event drained;
  long sum = 0;
  std::thread consumer([&] {
    int value = 0;
    while (ring.pop(value)) sum += value;
    drained.set();
  });
  for (int i = 1; i <= 1000; ++i) ring.push(i);
  ring.close();
  const bool in_time = drained.wait_for(std::chrono::seconds(60));
  consumer.join();
  std::printf("sum of 1..1000 through the ring: %ld\n", sum);
  return in_time && sum == 500500 ? 0 : 1;
}
EOF

install_fev() {
  meson setup "$work/build" "$root" --prefix="$prefix" --libdir=lib --buildtype=release \
    -Dtests=disabled -Dbenchmarks=disabled -Dexamples=disabled &&
    ninja -C "$work/build" -j"$jobs" &&
    meson install -C "$work/build" --no-rebuild
}

cmake_find_package() {
  local dir="$work/cmake-find-package"
  mkdir -p "$dir"
  cat >"$dir/CMakeLists.txt" <<EOF
cmake_minimum_required(VERSION 3.16)
project(consumer CXX)
find_package(fev 0.1 CONFIG REQUIRED)
add_executable(app "$work/app.cpp")
target_link_libraries(app PRIVATE fev::fev)
EOF
  cmake -S "$dir" -B "$dir/build" -DCMAKE_PREFIX_PATH="$prefix" &&
    cmake --build "$dir/build" -j "$jobs" &&
    "$dir/build/app"
}

cmake_subdirectory() {
  local dir="$work/cmake-subdirectory"
  mkdir -p "$dir"
  cat >"$dir/CMakeLists.txt" <<EOF
cmake_minimum_required(VERSION 3.16)
project(consumer CXX)
add_subdirectory("$root" fev)
add_executable(app "$work/app.cpp")
target_link_libraries(app PRIVATE fev::fev)
EOF
  cmake -S "$dir" -B "$dir/build" -DCMAKE_BUILD_TYPE=Release &&
    cmake --build "$dir/build" -j "$jobs" &&
    "$dir/build/app"
}

pkg_config_shared() {
  local flags
  flags=$(PKG_CONFIG_PATH="$prefix/lib/pkgconfig" pkg-config --cflags --libs fev) || return 1
  echo "flags: $flags"
  # shellcheck disable=SC2086  # $flags is a list of words
  g++ -std=c++20 "$work/app.cpp" $flags -o "$work/app-pkg-config" && "$work/app-pkg-config"
}

pkg_config_static() {
  local flags
  flags=$(PKG_CONFIG_PATH="$prefix/lib/pkgconfig" pkg-config --static --cflags --libs fev) || return 1
  echo "flags: $flags"
  if grep -qi boost <<<"$flags"; then
    echo "fev.pc names Boost, but the Boost backend is not compiled in"
    return 1
  fi
  # shellcheck disable=SC2086
  g++ -std=c++20 -static "$work/app.cpp" $flags -o "$work/app-static" && "$work/app-static"
}

meson_subproject() {
  local dir="$work/meson-subproject"
  mkdir -p "$dir/subprojects"
  ln -s "$root" "$dir/subprojects/fev"
  cp "$work/app.cpp" "$dir/app.cpp"
  cat >"$dir/meson.build" <<'EOF'
project('consumer', 'cpp', default_options: ['cpp_std=c++20'])
app = executable('app', 'app.cpp', dependencies: dependency('fev'))
test('app', app)
EOF
  (cd "$dir" && meson setup build --force-fallback-for=fev) || return 1
  local tests
  tests=$(meson test -C "$dir/build" --list 2>/dev/null) || return 1
  echo "meson test --list: $tests"
  if grep -q '^fev:' <<<"$tests"; then
    echo "fev's own tests are in the parent project's meson test"
    return 1
  fi
  ninja -C "$dir/build" -j"$jobs" && meson test -C "$dir/build" --print-errorlogs app
}

below_cxx20() {
  local status=0 header compiler std out messages others
  local compilers=(g++)
  command -v clang++ >/dev/null 2>&1 && compilers+=(clang++)
  for header in "$prefix"/include/fev/*.hpp; do
    for compiler in "${compilers[@]}"; do
      for std in c++17 c++14; do
        out=$("$compiler" -std="$std" -Wall -Wextra -Wpedantic -fsyntax-only -I"$prefix/include" \
          -x c++ - <<<"#include <fev/${header##*/}>" 2>&1) && {
          echo "fev/${header##*/} ($compiler -std=$std): compiled"
          status=1
          continue
        }
        messages=$(grep -c 'error: .*fev needs C++20 (-std=c++20)' <<<"$out")
        # Besides the one error: only the fatal #include that ends the compilation.
        others=$(grep 'error:' <<<"$out" | grep -v 'fev needs C++20 (-std=c++20)' | grep -vc 'needs-cxx20')
        if [ "$messages" -ne 1 ] || [ "$others" -ne 0 ]; then
          echo "fev/${header##*/} ($compiler -std=$std): $messages \"fev needs C++20\" errors, $others others:"
          echo "$out"
          status=1
        fi
      done
    done
  done
  return "$status"
}

if check install install_fev; then
  check cmake-find-package cmake_find_package
  check cmake-subdirectory cmake_subdirectory
  check pkg-config pkg_config_shared
  check pkg-config-static pkg_config_static
  check below-cxx20 below_cxx20
fi
check meson-subproject meson_subproject
exit "$failed"
