#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Uses fev the ways an outside project does, and checks that each way builds and runs:
#
#   tools/ci/consumers.sh          # from anywhere; works in a temporary directory
#
# It installs fev with meson into a temporary prefix (default libdir: on Debian
# lib/x86_64-linux-gnu, so fev.pc lands in lib/x86_64-linux-gnu/pkgconfig; libfev.a and
# libfev.so both), and with CMake into another, then builds and runs one small program (a
# producer and a consumer on an fev::Ring, an fev::Event for "done"):
#   install              meson setup (no option) + meson install: the library only, none
#                        of fev's tests, benchmarks or examples built
#   cmake-find-package   find_package(fev 0.2 CONFIG REQUIRED) against meson's prefix
#   pkg-config           g++ app.cpp $(pkg-config --cflags --libs fev), the multiarch path
#   pkg-config-static    the same with -static and --static; fev.pc names no Boost
#   readme-program       the README's first program (the ```cpp block after
#                        "<!-- first-program -->"), built with pkg-config, runs
#   below-cxx20          every installed header, included with -std=c++17 and -std=c++14
#                        by g++ and clang++, stops with exactly one "fev needs C++20" error
#   cmake-install        fev built and installed by CMake alone (no build type given: it
#                        must pick Release; the same headers as meson's install), then
#                        find_package against that prefix, and its fev.pc with pkg-config
#   version              pkg-config --modversion, fev/version.hpp, CMake's fev_VERSION and
#                        the VERSION file agree
#   shared-objects       two shared objects in one process, each with its own libfev.a
#                        (CMake's, position-independent): an Event set through one wakes
#                        a thread (default and portable backends) and a coroutine waiting
#                        through the other; with fev's symbols hidden in each
#                        (-Wl,--exclude-libs,ALL) the portable and coroutine cases must
#                        lose the wake (the must-fail twin); linked to libfev.so instead,
#                        symbols hidden or not, every case wakes
#   cmake-subdirectory   add_subdirectory() of this source tree, the parent setting no
#                        build type: fev's sources (only they) get -O2; a parent's Debug
#                        is kept as it is
#   cmake-fetchcontent   FetchContent pinned to this checkout's HEAD commit (file://, no
#                        network; uncommitted changes are not in it), the parent asking
#                        for shared libraries (BUILD_SHARED_LIBS=ON): app uses libfev.so
#   meson-subproject     fev as a meson subproject with the README's wrap file (its
#                        [provide]); none of fev's tests in `meson test`
# One line per check, `consumer-<name>: ok` or `consumer-<name>: FAILED` (followed by the
# end of its log). Exit status: 0 when every check passed, 1 otherwise.
set -u

root=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/fev-consumers.XXXXXX")
trap 'rm -rf "$work"' EXIT
prefix="$work/prefix"              # meson install
cmake_prefix="$work/cmake-prefix"  # cmake --install
libdir=lib                         # meson's, relative to $prefix (install_fev sets it)
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
  # No -Dtests/-Dbenchmarks/-Dexamples: a plain setup must build the library only.
  meson setup "$work/build" "$root" --prefix="$prefix" --buildtype=release -Ddefault_library=both || return 1
  local programs
  programs=$(ninja -C "$work/build" -t targets all | grep -E '^(tests|bench|examples|tools)/[^:]*:' | head -5)
  if [ -n "$programs" ]; then
    echo "a plain meson setup builds fev's own programs: $programs"
    return 1
  fi
  meson install -C "$work/build" || return 1
  libdir=$(meson introspect "$work/build" --buildoptions |
    python3 -c 'import json, sys; print([o["value"] for o in json.load(sys.stdin) if o["name"] == "libdir"][0])')
  echo "libdir: $libdir"
  ls "$prefix/$libdir/pkgconfig/fev.pc"
}

# CMake's own build and install, top-level, no build type given.
cmake_install() {
  local dir="$work/cmake-install" consumer="$work/cmake-install-consumer"
  cmake -S "$root" -B "$dir" -G Ninja || return 1
  grep -qx 'CMAKE_BUILD_TYPE:STRING=Release' "$dir/CMakeCache.txt" || {
    echo "top-level CMake build without a build type is not Release:"
    grep CMAKE_BUILD_TYPE "$dir/CMakeCache.txt"
    return 1
  }
  cmake --build "$dir" -j "$jobs" && cmake --install "$dir" --prefix "$cmake_prefix" || return 1
  # CMakeLists.txt lists the public headers again: it must install what meson installs.
  if ! diff <(ls "$prefix/include/fev") <(ls "$cmake_prefix/include/fev"); then
    echo "meson (<) and CMake (>) install different headers"
    return 1
  fi
  mkdir -p "$consumer"
  cat >"$consumer/CMakeLists.txt" <<EOF
cmake_minimum_required(VERSION 3.16)
project(consumer CXX)
find_package(fev 0.2 CONFIG REQUIRED)
add_executable(app "$work/app.cpp")
target_link_libraries(app PRIVATE fev::fev)
file(WRITE "\${CMAKE_BINARY_DIR}/fev-version.txt" "\${fev_VERSION}")
EOF
  cmake -S "$consumer" -B "$consumer/build" -DCMAKE_PREFIX_PATH="$cmake_prefix" &&
    cmake --build "$consumer/build" -j "$jobs" && "$consumer/build/app" || return 1
  local flags
  flags=$(PKG_CONFIG_PATH="$cmake_prefix/lib/pkgconfig" pkg-config --cflags --libs fev) || return 1
  echo "CMake's fev.pc: $flags"
  # shellcheck disable=SC2086  # $flags is a list of words
  g++ -std=c++20 "$work/app.cpp" $flags -o "$consumer/app-pkg-config" && "$consumer/app-pkg-config"
}

cmake_find_package() {
  local dir="$work/cmake-find-package"
  mkdir -p "$dir"
  cat >"$dir/CMakeLists.txt" <<EOF
cmake_minimum_required(VERSION 3.16)
project(consumer CXX)
find_package(fev 0.2 CONFIG REQUIRED)
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
  # The parent gives no build type: fev's own sources get -O2, the parent's app does not.
  cmake -S "$dir" -B "$dir/build" -G Ninja || return 1
  if ! grep -A4 'build fev/CMakeFiles/fev.dir/src/spin.cpp.o' "$dir/build/build.ninja" | grep -q -- '-O2'; then
    echo "fev's sources are not optimised when the parent sets no build type"
    return 1
  fi
  if grep -A4 'build CMakeFiles/app.dir/' "$dir/build/build.ninja" | grep -q -- '-O2'; then
    echo "fev changed the parent's own flags"
    return 1
  fi
  cmake --build "$dir/build" -j "$jobs" && "$dir/build/app" || return 1
  # A parent's Debug stays Debug, fev included (configure only).
  cmake -S "$dir" -B "$dir/debug" -G Ninja -DCMAKE_BUILD_TYPE=Debug >/dev/null || return 1
  if grep -A4 'build fev/CMakeFiles/fev.dir/src/spin.cpp.o' "$dir/debug/build.ninja" | grep -q -- '-O2'; then
    echo "fev overrides the parent's Debug build type"
    return 1
  fi
}

cmake_fetchcontent() {
  local dir="$work/cmake-fetchcontent" commit
  commit=$(git -C "$root" rev-parse HEAD) || return 1
  git -C "$root" diff --quiet HEAD || echo "note: uncommitted changes are not in $commit"
  mkdir -p "$dir"
  cat >"$dir/CMakeLists.txt" <<EOF
cmake_minimum_required(VERSION 3.16)
project(consumer CXX)
include(FetchContent)
FetchContent_Declare(fev GIT_REPOSITORY "file://$root" GIT_TAG $commit)
FetchContent_MakeAvailable(fev)
add_executable(app "$work/app.cpp")
target_link_libraries(app PRIVATE fev::fev)
EOF
  # BUILD_SHARED_LIBS=ON: the parent's choice, which fev follows (libfev.so).
  cmake -S "$dir" -B "$dir/build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=ON &&
    cmake --build "$dir/build" -j "$jobs" || return 1
  ldd "$dir/build/app" | grep 'libfev\.so' || { echo "app does not use libfev.so"; return 1; }
  "$dir/build/app"
}

pkg_config_shared() {
  local flags
  flags=$(PKG_CONFIG_PATH="$prefix/$libdir/pkgconfig" pkg-config --cflags --libs fev) || return 1
  echo "flags: $flags"
  # The prefix holds libfev.so too, which -lfev prefers: the program runs against it.
  # shellcheck disable=SC2086  # $flags is a list of words
  g++ -std=c++20 "$work/app.cpp" $flags -o "$work/app-pkg-config" &&
    LD_LIBRARY_PATH="$prefix/$libdir" "$work/app-pkg-config"
}

pkg_config_static() {
  local flags
  flags=$(PKG_CONFIG_PATH="$prefix/$libdir/pkgconfig" pkg-config --static --cflags --libs fev) || return 1
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
  # The README's wrap file; its directory is already there, so nothing is downloaded.
  cat >"$dir/subprojects/fev.wrap" <<EOF
[wrap-git]
url = file://$root
revision = HEAD
depth = 1

[provide]
dependency_names = fev
EOF
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

version() {
  local from_pc from_header from_cmake from_file
  from_pc=$(PKG_CONFIG_PATH="$prefix/$libdir/pkgconfig" pkg-config --modversion fev) || return 1
  from_header=$(printf '#include <fev/version.hpp>\nFEV_VERSION_STRING\n' |
    g++ -std=c++20 -E -P -I"$prefix/include" -x c++ - | tail -n 1 | tr -d '"') || return 1
  from_cmake=$(cat "$work/cmake-install-consumer/build/fev-version.txt") || return 1
  from_file=$(cat "$root/VERSION")
  echo "fev.pc $from_pc, fev/version.hpp $from_header, CMake fev_VERSION $from_cmake, VERSION $from_file"
  [ "$from_pc" = "$from_header" ] && [ "$from_header" = "$from_cmake" ] && [ "$from_cmake" = "$from_file" ]
}

readme_program() {
  local flags
  awk '/<!-- first-program -->/ { found = 1; next }
       found && /^```cpp/ { inside = 1; next }
       inside && /^```/ { exit }
       inside { print }' "$root/README.md" >"$work/readme_program.cpp"
  [ -s "$work/readme_program.cpp" ] || { echo "README.md has no first program block"; return 1; }
  flags=$(PKG_CONFIG_PATH="$prefix/$libdir/pkgconfig" pkg-config --static --cflags --libs fev) || return 1
  # shellcheck disable=SC2086  # $flags is a list of words
  g++ -std=c++20 -Wall -Wextra -Wpedantic -Wconversion -Wshadow -Werror "$work/readme_program.cpp" \
    -static $flags -o "$work/readme_program" && "$work/readme_program"
}

# side_objects DIR LINK...: libside_a.so and libside_b.so (tests/consumers/shared_objects)
# in DIR, each linked with LINK..., and the main program that loads both.
side_objects() {
  local dir=$1 side
  shift
  mkdir -p "$dir"
  for side in a b; do
    g++ -shared -o "$dir/libside_$side.so" "$work/side_$side.o" "$@" || return 1
  done
  g++ -std=c++20 "$root/tests/consumers/shared_objects/main.cpp" -L"$dir" -lside_a -lside_b \
    -Wl,-rpath,"$dir" -pthread -o "$dir/main"
}

shared_objects() {
  local side
  for side in a b; do
    g++ -std=c++20 -O2 -fPIC -I"$cmake_prefix/include" "-DSIDE(name)=side_${side}_##name" \
      -c "$root/tests/consumers/shared_objects/side.cpp" -o "$work/side_$side.o" || return 1
  done
  local static_fev=("$cmake_prefix/lib/libfev.a" -luring -pthread)
  local shared_fev=(-L"$prefix/$libdir" -lfev -Wl,-rpath,"$prefix/$libdir" -pthread)
  echo "== each with libfev.a (CMake's) inside, symbols exported as a plain link does"
  side_objects "$work/so-static" "${static_fev[@]}" && timeout 300 "$work/so-static/main" || return 1
  echo "== each with libfev.a inside, fev's symbols hidden: the wakes that cross must be lost"
  side_objects "$work/so-hidden" -Wl,--exclude-libs,ALL "${static_fev[@]}" &&
    timeout 300 "$work/so-hidden/main" --lost thread-portable-backend coroutine || return 1
  echo "== both linked to libfev.so, symbols of static libraries hidden: one fev"
  side_objects "$work/so-shared" -Wl,--exclude-libs,ALL "${shared_fev[@]}" &&
    ldd "$work/so-shared/libside_a.so" | grep libfev && timeout 300 "$work/so-shared/main"
}

if check install install_fev; then
  check cmake-find-package cmake_find_package
  check pkg-config pkg_config_shared
  check pkg-config-static pkg_config_static
  check readme-program readme_program
  check below-cxx20 below_cxx20
  if check cmake-install cmake_install; then
    check version version
    check shared-objects shared_objects
  fi
fi
check cmake-subdirectory cmake_subdirectory
check cmake-fetchcontent cmake_fetchcontent
check meson-subproject meson_subproject
exit "$failed"
