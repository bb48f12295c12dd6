#!/bin/sh
# SPDX-License-Identifier: MIT
# Cross-builds fev for aarch64 Linux and runs its unit tests and a short stress smoke
# under qemu-user (cross/aarch64.txt: every program linked -static).
#
#   tools/ci/aarch64.sh                      # from anywhere; builds <repo>/build-arm64
#   tools/ci/aarch64.sh [MESON TEST ARGS...] # instead of the default selection
#
# Builds the library, the unit tests, tools/stress and the examples with -Dwerror=true
# (benchmarks are not built). By default runs the unit suite (which includes the
# examples) and the stress runs in $smoke below: a few of the matrix's shapes, a chaos
# run and the must-fail twin that proves the harness still catches a lost wake here.
# Results are in build-arm64/meson-logs/testlog.json, deleted before anything else is
# done, so a log found there after a run is this run's. Exit status: meson test's (0
# when no test failed), a configure or compile failure's, or 77 when the cross compiler
# or qemu-aarch64 is not installed here (tools/test-all counts that as a failure in CI).
#
# Under qemu-user, io_uring and futex_waitv are not emulated (those tests skip, saying
# so), and the few tests that need a death test's re-exec or a seccomp filter skip,
# saying why (tests/emulator.hpp).
set -eu

root=$(cd "$(dirname "$0")/../.." && pwd)
build="$root/build-arm64"
cd "$root"

# A log left by an earlier run must not be mistaken for this run's results.
rm -f "$build/meson-logs/testlog.json" "$build/meson-logs/testlog.txt"

missing=''
command -v aarch64-linux-gnu-g++ >/dev/null 2>&1 || missing="$missing crossbuild-essential-arm64"
command -v qemu-aarch64 >/dev/null 2>&1 || missing="$missing qemu-user"
[ -f /usr/lib/aarch64-linux-gnu/pkgconfig/gtest_main.pc ] || missing="$missing libgtest-dev:arm64"
[ -f /usr/lib/aarch64-linux-gnu/pkgconfig/liburing.pc ] || missing="$missing liburing-dev:arm64"
if [ -n "$missing" ]; then
  echo "aarch64.sh: SKIP: not installed:$missing" >&2
  exit 77
fi

options='-Dwerror=true -Dbenchmarks=disabled -Dexamples=enabled -Dtests=enabled -During=enabled'
if [ -f "$build/meson-private/coredata.dat" ]; then
  # shellcheck disable=SC2086  # $options is a list of words
  meson configure "$build" $options
else
  # shellcheck disable=SC2086
  meson setup "$build" --cross-file cross/aarch64.txt $options
fi
ninja -C "$build" -j2

# Stress runs for the smoke: one ring call a few microseconds under qemu, so each stays
# within its time cap (1.25 s, chaos 1 s) or stops at its watchdog (the twin).
smoke='stress-1p1c-cap1-blocking stress-4p4c-cap2-mixed stress-1p4c-cap3-timed stress-4p1c-cap1024-try
stress-2p3c-chaos-close-early stress-selftest-catches-broken-ring'
if [ $# -eq 0 ]; then
  unit=$(meson test -C "$build" --no-rebuild --list --suite unit 2>/dev/null | sed -n 's/^.* \/ //p')
  if [ -z "$unit" ]; then
    echo "aarch64.sh: no unit test found in $build" >&2
    exit 1
  fi
  # shellcheck disable=SC2086  # lists of test names
  set -- $unit $smoke
fi
meson test -C "$build" --no-rebuild --print-errorlogs "$@"
