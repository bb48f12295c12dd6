#!/bin/sh
# SPDX-License-Identifier: MIT
# Cross-builds fev for 64-bit Windows with mingw-w64 and runs its tests under wine.
#
#   tools/ci/win32.sh [MESON TEST ARGS...]     # from anywhere; builds <repo>/build-win32
#
# For example `tools/ci/win32.sh --suite unit` runs only the unit tests. Results are in
# build-win32/meson-logs/testlog.json, which is deleted before anything else is done, so
# a log found there after a run is that run's. Exit status: meson test's (0 when no test
# failed), a configure or compile failure's, or 77 when the mingw-w64 cross compiler
# or wine is not installed here (the check is then skipped, and says so; tools/test-all
# counts that as a failure in CI).
set -eu

root=$(cd "$(dirname "$0")/../.." && pwd)
build="$root/build-win32"
cd "$root"

# A log left by an earlier run must not be mistaken for this run's results.
rm -f "$build/meson-logs/testlog.json" "$build/meson-logs/testlog.txt"

missing=''
command -v x86_64-w64-mingw32-g++-posix >/dev/null 2>&1 || missing="$missing g++-mingw-w64-x86-64"
wine=''
for candidate in wine64 /usr/lib/wine/wine64 wine; do
  if command -v "$candidate" >/dev/null 2>&1; then
    wine=$(command -v "$candidate")
    break
  fi
done
[ -n "$wine" ] || missing="$missing wine64"
if [ -n "$missing" ]; then
  echo "win32.sh: SKIP: not installed:$missing" >&2
  exit 77
fi

# The prefix and quiet debug channels that `meson test` also uses (see meson.build).
# Exported here too, so that meson's compiler sanity check, which runs a program through
# the exe_wrapper, uses this prefix and not ~/.wine.
export WINEPREFIX="$build/wine-prefix"
export WINEDEBUG=-all

options='-Ddev=true -Dwerror=true -Dbenchmarks=disabled -Dexamples=disabled'
if [ -f "$build/meson-private/coredata.dat" ]; then
  # shellcheck disable=SC2086  # $options is a list of words
  meson configure "$build" $options
else
  # shellcheck disable=SC2086
  meson setup "$build" --cross-file cross/mingw-w64.txt $options
fi
ninja -C "$build" -j2

# Create the prefix once, before any test's clock starts (about 7 s the first time; a
# no-op afterwards). Mono and Gecko are left out: no test needs them.
WINEDLLOVERRIDES='mscoree,mshtml=' "$wine" wineboot --init </dev/null >/dev/null 2>&1

status=0
meson test -C "$build" --print-errorlogs "$@" || status=$?
# Wine's server lingers a few seconds after its last program; wait for it, so that
# nothing started here outlives this script.
wineserver=$(dirname "$wine")/wineserver
[ -x "$wineserver" ] || wineserver=wineserver
"$wineserver" -w 2>/dev/null || true
exit "$status"
