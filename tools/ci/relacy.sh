#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Builds and runs the Relacy programs (tests/relacy/*_relacy.cpp): fev's real headers
# under Relacy's model of the C++ memory model, random and context-bound schedules.
# Prints one line per scenario, "relacy-NAME: ok|FAILED (...)", and one
# "relacy-build-NAME: FAILED" for a program that does not compile, or
# "relacy-NAME: FAILED (exited N without a verdict)" for one that dies.
#
#   tools/ci/relacy.sh                      # build into build-ci-relacy, run everything
#   tools/ci/relacy.sh --include DIR        # use DIR instead of include/ (tools/ci/mutate-orders)
#   tools/ci/relacy.sh --src DIR            # and DIR instead of src/ (the out-of-line code compiled in)
#   tools/ci/relacy.sh --build DIR --scale N --only TEXT --programs "event ring"
#
# Relacy is not part of the repository: it is found at $FEV_RELACY_DIR, else at
# ../shared/vendor/relacy beside the repository. Where it is absent the script prints
# "relacy: skipped (...)" and exits 77 (tools/test-all counts that as one skip, in CI too).
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
relacy="${FEV_RELACY_DIR:-$root/../shared/vendor/relacy}"
include="$root/include"
src="$root/src"
build="$root/build-ci-relacy"
scale=1
only=""
selected=""
while [ $# -gt 0 ]; do
  case "$1" in
    --include) include="$2"; shift 2 ;;
    --src) src="$2"; shift 2 ;;
    --build) build="$2"; shift 2 ;;
    --scale) scale="$2"; shift 2 ;;
    --only) only="$2"; shift 2 ;;
    --programs) selected="$2"; shift 2 ;;
    *) echo "relacy.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
if [ ! -f "$relacy/relacy/relacy_std.hpp" ]; then
  echo "relacy: skipped (no Relacy at $relacy; set FEV_RELACY_DIR)"
  exit 77
fi
mkdir -p "$build"
cxx="${CXX:-g++}"
# -O1: the programs build in about half the time -O2 takes and run nearly as fast.
flags=(-std=c++20 -O1 -DFEV_RELACY -I"$relacy" -I"$relacy/relacy/fakestd" -I"$root/tests/relacy"
       -I"$root/tests/relacy/include" -I"$include" -I"$src")

programs=()
for source in "$root"/tests/relacy/*_relacy.cpp; do
  name=$(basename "$source" _relacy.cpp)
  if [ -z "$selected" ] || [[ " $selected " == *" $name "* ]]; then programs+=("$name"); fi
done

# Two compilers at a time at most (the programs take 10-40 s each to build).
build_one() {
  local name="$1"
  "$cxx" "${flags[@]}" "$root/tests/relacy/${name}_relacy.cpp" -o "$build/$name" >"$build/$name.build.log" 2>&1
}
pids=()
names=()
status_of=()
for name in "${programs[@]}"; do
  rm -f "$build/$name"
  build_one "$name" &
  pids+=("$!")
  names+=("$name")
  if [ "${#pids[@]}" -ge 2 ]; then
    wait "${pids[0]}"
    pids=("${pids[@]:1}")
  fi
done
for pid in "${pids[@]}"; do wait "$pid"; done

failed=0
for name in "${programs[@]}"; do
  if [ ! -x "$build/$name" ]; then
    grep -m 20 -E 'error' "$build/$name.build.log"
    echo "relacy-build-$name: FAILED"
    failed=1
    continue
  fi
  status=0
  "$build/$name" "$scale" "$only" >"$build/$name.log" 2>&1 || status=$?
  grep -E '^relacy-' "$build/$name.log"
  if [ "$status" -ne 0 ]; then
    failed=1
    # The history of a failing schedule: what the verdict lines point at.
    grep -vE '^relacy-' "$build/$name.log" | head -400
    grep -qE '^relacy-.*: FAILED' "$build/$name.log" || echo "relacy-$name: FAILED (exited $status without a verdict)"
  fi
done
exit "$failed"
